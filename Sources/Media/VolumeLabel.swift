import BundleFormat
import BundleVerify
import Support

/// The signed label every volume file ends with: which bundle, which byte range, the SHA-256 of
/// those bytes, and how many volumes there are in all, so a volume can be checked alone.
///
/// A volume file is `payload || label`: the payload is bytes `offset ..< offset + length` of the
/// bundle file, the label is exactly `VolumeLabel.size` bytes:
///
///     airgap-volume/1\n
///     <canonical JSON of the label>\n                  <- the signed message (with its \n)
///     untrusted comment: ...\n                         \
///     <base64: "ED", key id, Ed25519 signature>\n       | a minisign signature file of the
///     trusted comment: ...\n                            | JSON line: stock `minisign -V` checks it
///     <base64: global signature>\n                     /
///     NUL bytes up to 4096
///
/// The label sits at the end, not the front, so the writer learns the whole bundle's SHA-256 in
/// the same single pass that writes the payloads and still hashes each file as a whole (the file
/// digest is the payload's hash state continued over the label). Payloads start at offset 0 and
/// full ones are multiples of 4 KiB, so they can be written with O_DIRECT.
public struct VolumeLabel: Equatable, Sendable {
    public static let size = 4096
    public static let magic = "airgap-volume/1"
    public static let maxCount = 9999
    public static let maxBundleSize: Int64 = 1 << 50

    /// The bundle a volume belongs to, as the writer saw it.
    public struct Bundle: Hashable, Sendable {
        /// The bundle's file name when it was split; reassembly restores it.
        public var file: String
        /// MANIFEST name and sequence (the channel and its position).
        public var name: String
        public var sequence: Int64
        public var size: Int64
        /// SHA-256 of the whole bundle file: the same figure `bundlectl build` prints.
        public var sha256: SHA256Digest
        /// SHA-256 of the bundle's MANIFEST.
        public var manifest: SHA256Digest

        public init(file: String, name: String, sequence: Int64, size: Int64, sha256: SHA256Digest, manifest: SHA256Digest) {
            self.file = file
            self.name = name
            self.sequence = sequence
            self.size = size
            self.sha256 = sha256
            self.manifest = manifest
        }

        public var json: JSON {
            .object(["file": .string(file), "name": .string(name), "sequence": .int(sequence), "size": .int(size),
                     "sha256": .string(sha256.hex), "manifest": .string(manifest.hex)])
        }

        public init(_ o: JSONObject) throws {
            try o.allowOnly(["file", "name", "sequence", "size", "sha256", "manifest"])
            file = try o.string("file")
            guard VolumeLabel.isPlainFileName(file) else { throw ToolError.refused("\(o.what): \"file\" is not a plain file name") }
            name = try o.string("name")
            guard LogicalPath.isPlainName(name) else { throw ToolError.refused("\(o.what): \"name\" is not a plain bundle name") }
            sequence = try o.int("sequence")
            size = try o.int("size", min: 1, max: VolumeLabel.maxBundleSize)
            sha256 = try o.digest("sha256")
            manifest = try o.digest("manifest")
        }

        /// "feeds sequence 7 (feeds-7.bundle)" for messages.
        public var description: String { "\(name) sequence \(sequence) (\(file))" }
    }

    public var bundle: Bundle
    /// Which split of the bundle this volume belongs to: 32 hex digits, the same for every
    /// volume written in one run (see `setID`). Volumes of different splits never mix.
    public var set: String
    public var number: Int
    public var count: Int
    public var offset: Int64
    public var length: Int64
    /// SHA-256 of the payload (this volume's byte range of the bundle).
    public var payload: SHA256Digest

    public init(bundle: Bundle, set: String, number: Int, count: Int, offset: Int64, length: Int64, payload: SHA256Digest) {
        self.bundle = bundle
        self.set = set
        self.number = number
        self.count = count
        self.offset = offset
        self.length = length
        self.payload = payload
    }

    /// A set's id is derived from what makes a split, so writing the same bundle again with the
    /// same volume size gives the same, interchangeable volumes: the bundle digest, the count and
    /// the payload length of a full volume.
    public static func setID(bundle: SHA256Digest, count: Int, stride: Int64) -> String {
        String(SHA256Digest.of(Array("airgap-volume-set/1 \(bundle.hex) \(count) \(stride)".utf8)).hex.prefix(32))
    }

    public var json: JSON {
        .object(["format": .string(VolumeLabel.magic), "bundle": bundle.json, "set": .string(set), "number": .int(Int64(number)),
                 "count": .int(Int64(count)), "offset": .int(offset), "length": .int(length), "payload": .string(payload.hex)])
    }

    /// The bytes the signature covers: the JSON line with its newline, as `sed -n 2p` prints it.
    public var message: [UInt8] { json.canonicalBytes + [10] }

    /// Signed with the label; `minisign -V` shows it. Fixed by the label's content.
    public var trustedComment: String {
        "airgap volume \(number) of \(count) of \(bundle.file): \(bundle.name) sequence \(bundle.sequence), bundle sha256:\(bundle.sha256.hex)"
    }

    public static let untrustedComment = "signature of an airgap volume label"

    /// "volume 2 of 3" for messages.
    public var position: String { "volume \(number) of \(count)" }

    /// The file name the writer gives this volume: "feeds-7.02of03.vol".
    public var fileName: String { VolumeLabel.fileName(bundle: bundle.name, sequence: bundle.sequence, number: number, count: count) }

    public static func fileName(bundle name: String, sequence: Int64, number: Int, count: Int, ext: String = "vol") -> String {
        let width = max(2, String(count).count)
        func pad(_ v: Int) -> String { String(repeating: "0", count: max(0, width - String(v).count)) + String(v) }
        return "\(name)-\(sequence).\(pad(number))of\(pad(count)).\(ext)"
    }

    /// True for names the writer makes ("NAME-SEQ.NNofNN.vol"): such a file without a label is
    /// reported as a damaged volume, not silently skipped.
    public static func looksLikeVolumeName(_ name: String) -> Bool {
        guard name.hasSuffix(".vol"), let dot = name.dropLast(4).lastIndex(of: ".") else { return false }
        let part = name[name.index(after: dot)..<name.index(name.endIndex, offsetBy: -4)]
        let halves = part.split(separator: "o", maxSplits: 1)
        return halves.count == 2 && halves[1].hasPrefix("f") && Int(halves[0]) != nil && Int(halves[1].dropFirst()) != nil
    }

    static func isPlainFileName(_ s: String) -> Bool {
        !s.isEmpty && s.utf8.count <= 255 && s != "." && s != ".." && !s.contains("/")
            && !s.utf8.contains(where: { $0 < 0x20 || $0 == 0x7F })
    }

    /// Checks what a label says about itself; the set check compares labels with each other.
    func validate(what: String) throws {
        guard count >= 1 && count <= VolumeLabel.maxCount else { throw ToolError.refused("\(what): volume count \(count) is out of range") }
        guard number >= 1 && number <= count else { throw ToolError.refused("\(what): volume number \(number) is not between 1 and \(count)") }
        guard length >= 1, offset >= 0, offset <= bundle.size - length else {
            throw ToolError.refused("\(what): byte range \(offset)+\(length) lies outside the \(bundle.size)-byte bundle")
        }
        guard set.utf8.count == 32, set == set.lowercased(), Hex.decode(set) != nil else {
            throw ToolError.refused("\(what): \"set\" is not 32 lower-case hex digits")
        }
    }

    // MARK: Encoding

    /// The label's 4096 bytes, given its minisign signature (made by MinisignCrypto.sign over `message`).
    public func encode(signature: SignatureFile) throws -> [UInt8] {
        var out = Array((VolumeLabel.magic + "\n").utf8) + message + Array(signature.fileText.utf8)
        guard out.count <= VolumeLabel.size else {
            throw ToolError.usage("the volume label for \(bundle.file) would take \(out.count) bytes; at most \(VolumeLabel.size) fit (shorten the bundle's file name)")
        }
        out += [UInt8](repeating: 0, count: VolumeLabel.size - out.count)
        return out
    }

    /// Parses a label strictly: the magic line, canonical JSON, a minisign signature block, and
    /// nothing but NUL bytes after it. Does not check the signature: see `SignedLabel.verify`.
    public static func decode(_ bytes: [UInt8], what: String) throws -> SignedLabel {
        guard bytes.count == size else { throw ToolError.refused("\(what): a volume label is \(size) bytes, not \(bytes.count)") }
        guard bytes.starts(with: Array((magic + "\n").utf8)) else { throw ToolError.refused("\(what) does not end with a volume label") }
        let textEnd = bytes.firstIndex(of: 0) ?? bytes.count
        guard bytes[textEnd...].allSatisfy({ $0 == 0 }) else { throw ToolError.refused("\(what): the volume label has data after its padding") }
        guard let text = String(validating: bytes[..<textEnd], as: UTF8.self) else { throw ToolError.refused("\(what): the volume label is not UTF-8 text") }
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
        // magic, JSON, four signature lines, and the empty string after the last newline.
        guard lines.count == 7, lines[6].isEmpty else { throw ToolError.refused("\(what): the volume label does not have its seven lines") }
        let jsonBytes = Array(lines[1].utf8)
        let o = try JSONObject(JSON.parseCanonical(jsonBytes, what: "\(what) label"), what: "\(what) label")
        try o.allowOnly(["format", "bundle", "set", "number", "count", "offset", "length", "payload"])
        guard try o.string("format") == magic else { throw ToolError.refused("\(what): unknown volume label format") }
        let label = VolumeLabel(
            bundle: try Bundle(o.object("bundle")), set: try o.string("set"),
            number: Int(try o.int("number", min: 1, max: Int64(maxCount))), count: Int(try o.int("count", min: 1, max: Int64(maxCount))),
            offset: try o.int("offset", max: maxBundleSize), length: try o.int("length", min: 1, max: maxBundleSize),
            payload: try o.digest("payload"))
        try label.validate(what: what)
        let sig = try SignatureFile(text: lines[2...5].joined(separator: "\n") + "\n", what: "\(what) label signature")
        guard sig.trustedComment == label.trustedComment else {
            throw ToolError.refused("\(what): the label's trusted comment does not match the label")
        }
        return SignedLabel(label: label, signature: sig)
    }
}

/// A label as read, with its signature not yet checked.
public struct SignedLabel: Equatable, Sendable {
    public var label: VolumeLabel
    public var signature: SignatureFile

    /// The trusted key that signed this label; throws naming the reason otherwise.
    public func verify(trust: [PublicKey], what: String) throws -> PublicKey {
        guard let key = trust.first(where: { $0.keyId == signature.keyId }) else {
            throw ToolError.refused("\(what): the label is signed by key \(signature.keyIdText), which is not trusted (trusted: \(trust.map(\.idText).joined(separator: ", ")))")
        }
        guard MinisignCrypto.verify(label.message, signature: signature, key: key) else {
            throw ToolError.refused("\(what): the label's signature does not verify (label altered or damaged)")
        }
        return key
    }
}
