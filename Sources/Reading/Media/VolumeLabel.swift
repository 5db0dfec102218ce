import BundleFormat
import BundleVerify
import Support

/// The signed label every volume file ends with: which bundle, which byte range, the digest of
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
/// The label sits at the end, not the front: it names the set digest, which depends on every
/// volume, so the writer adds it after one pass over the bundle instead of reading it twice.
/// Payloads start at offset 0 and full ones are multiples of 4 KiB (O_DIRECT writes).
///
/// Digests: a payload's digest is the SHA-256 of the hex SHA-256s of its 1 MiB pieces, one per
/// line (what `split -b 1M --filter=sha256sum | cut -c1-64` prints). Plain SHA-256 is one
/// sequential stream, about 2 GB/s on one core here, no faster than the disk it writes to; the
/// pieces are hashed on two cores at once, so writing keeps up with the destination.
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
        /// SHA-256 of the bundle's MANIFEST: the signed statement of everything the bundle
        /// carries, and the figure `bundlectl build` and `mirrorctl apply` print.
        public var manifest: SHA256Digest

        public init(file: String, name: String, sequence: Int64, size: Int64, manifest: SHA256Digest) {
            self.file = file
            self.name = name
            self.sequence = sequence
            self.size = size
            self.manifest = manifest
        }

        public var json: JSON {
            .object(["file": .string(file), "name": .string(name), "sequence": .int(sequence), "size": .int(size),
                     "manifest": .string(manifest.hex)])
        }

        /// As the tools' `--json` reports name a bundle: the label's fields, `manifest` as "sha256:<hex>".
        public var reportJSON: JSON {
            .object(["file": .string(file), "name": .string(name), "sequence": .int(sequence), "size": .int(size),
                     "manifest": .string("sha256:" + manifest.hex)])
        }

        public init(_ o: JSONObject) throws {
            try o.allowOnly(["file", "name", "sequence", "size", "manifest"])
            file = try o.string("file")
            guard VolumeLabel.isPlainFileName(file) else { throw ToolError.refused("\(o.what): \"file\" is not a plain file name") }
            name = try o.string("name")
            guard LogicalPath.isPlainName(name) else { throw ToolError.refused("\(o.what): \"name\" is not a plain bundle name") }
            sequence = try o.int("sequence", max: Manifest.maxSequence)
            size = try o.int("size", min: 1, max: VolumeLabel.maxBundleSize)
            manifest = try o.digest("manifest")
        }

        /// "feeds sequence 7 (feeds-7.bundle)" for messages.
        public var description: String { "\(name) sequence \(sequence) (\(file))" }
    }

    public var bundle: Bundle
    /// The set digest (see `setDigest`): it commits to the bundle and every volume's payload
    /// digest, so volumes of another bundle or another split never mix with these.
    public var set: SHA256Digest
    public var number: Int
    public var count: Int
    public var offset: Int64
    public var length: Int64
    /// SHA-256 of the payload (this volume's byte range of the bundle).
    public var payload: SHA256Digest

    public init(bundle: Bundle, set: SHA256Digest, number: Int, count: Int, offset: Int64, length: Int64, payload: SHA256Digest) {
        self.bundle = bundle
        self.set = set
        self.number = number
        self.count = count
        self.offset = offset
        self.length = length
        self.payload = payload
    }

    /// The set digest: SHA-256 of the bundle's identity, the split (count, and `stride`, the first
    /// volume's length) and every payload digest in order, as lines of text. Writing the same bundle with
    /// the same volume size gives the same set, so its volumes are interchangeable.
    public static func setDigest(bundle: Bundle, count: Int, stride: Int64, payloads: [SHA256Digest]) -> SHA256Digest {
        var text = "airgap-volume-set/1\n\(bundle.file)\n\(bundle.name)\n\(bundle.sequence)\n\(bundle.size)\n\(bundle.manifest.hex)\n\(count)\n\(stride)\n"
        for p in payloads { text += p.hex + "\n" }
        return SHA256Digest.of(Array(text.utf8))
    }

    /// The size of the pieces a payload digest is made of.
    public static let pieceSize = 1 << 20

    /// A payload digest from its pieces' digests, in order.
    public static func payloadDigest(pieces: [SHA256Digest]) -> SHA256Digest {
        var lines: [UInt8] = []
        lines.reserveCapacity(pieces.count * 65)
        for p in pieces { lines += Array(p.hex.utf8) + [10] }
        return SHA256Digest.of(lines)
    }

    public var json: JSON {
        .object(["format": .string(VolumeLabel.magic), "bundle": bundle.json, "set": .string(set.hex), "number": .int(Int64(number)),
                 "count": .int(Int64(count)), "offset": .int(offset), "length": .int(length), "payload": .string(payload.hex)])
    }

    /// The bytes the signature covers: the JSON line with its newline, as `sed -n 2p` prints it.
    public var message: [UInt8] { json.canonicalBytes + [10] }

    /// Signed with the label; `minisign -V` shows it. Fixed by the label's content.
    public var trustedComment: String {
        "airgap volume \(number) of \(count) of \(bundle.file): \(bundle.name) sequence \(bundle.sequence), manifest sha256:\(bundle.manifest.hex)"
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
            bundle: try Bundle(o.object("bundle")), set: try o.digest("set"),
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

    /// What the label's signature says against `trust`.
    public enum Signature: Equatable, Sendable {
        /// Made by this trusted key, and it holds.
        case trusted(PublicKey)
        /// Made by a key that is not among `trust` (its key id, as shown to people).
        case untrusted(String)
        /// Made by a trusted key, but it does not hold: the label was altered.
        case broken(PublicKey)
    }

    /// Checks the signature against `trust`, through the one rule that counts signatures.
    public func signature(trust: [PublicKey]) -> Signature {
        let c = Trust.count(label.message, [SignedEntry(entry: "label", text: "", file: signature)], keys: trust)
        if let broken = c.broken { return .broken(broken.key) }
        guard let key = c.counted.first else { return .untrusted(signature.keyIdText) }
        return .trusted(key)
    }

    /// The trusted key that signed this label; throws naming the reason otherwise.
    public func verify(trust: [PublicKey], what: String) throws -> PublicKey {
        switch signature(trust: trust) {
        case .trusted(let key): return key
        case .broken: throw ToolError.refused("\(what): the label's signature does not verify (label altered or damaged)")
        case .untrusted(let id):
            throw ToolError.refused("\(what): the label is signed by key \(id), which is not trusted (trusted: \(trust.map(\.idText).joined(separator: ", ")))")
        }
    }
}
