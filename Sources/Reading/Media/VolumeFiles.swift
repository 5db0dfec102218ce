import BundleFormat
import Support
import SystemIO

/// What one volume file turned out to be when checked alone.
public struct VolumeCheck: Sendable {
    /// Where it was read: a path, or "image.iso:name.vol" for a volume inside an ISO image.
    public var source: String
    /// The whole file's size, label included.
    public var size: Int64
    /// The label as read; nil when the file has none (truncated, overwritten, or not a volume).
    public var signed: SignedLabel?
    /// The trusted key whose signature held.
    public var signer: PublicKey?
    /// The key id of a well-formed label's signature by a key that is not trusted: nothing is
    /// known about the volume beyond that (not damaged, not checked).
    public var untrustedBy: String?
    /// The payload's digest as read (see `VolumeLabel.payloadDigest`); set once it was read.
    public var payloadDigest: SHA256Digest?
    /// What failed, naming the check; nil when everything checked so far holds.
    public var problem: String?
    /// The exit status the problem calls for: a damaged volume is a refusal, an unreadable one
    /// may be the environment (permissions).
    public var problemStatus: ExitStatus = .refused

    public var label: VolumeLabel? { signed?.label }

    public init(source: String, size: Int64) {
        self.source = source
        self.size = size
    }

    /// "volume 2 of 3" when the label could be read, for messages.
    public var position: String { label.map { $0.position } ?? "no readable label" }
}

/// Finding volume files among the paths given on a command line.
public enum VolumeFiles {
    /// The paths given, sorted out. Folders are read one level deep: a mounted disc or stick
    /// holds its volumes at the top.
    public struct Found {
        /// Files that end with a volume label.
        public var volumes: [String] = []
        /// Files named like volumes ("NAME-SEQ.NNofNN.vol") but without a label at their end:
        /// damaged volumes, reported as such rather than skipped.
        public var unlabelled: [String] = []
        /// Files named on the command line that are not volumes.
        public var otherFiles: [String] = []
        /// ISO 9660 images found in folders (the low side can look inside them).
        public var images: [String] = []
        /// What a folder holds besides volumes and images, with the reason it is not read: the
        /// report lists them, so a set is never "all intact" with a file silently left out.
        public var ignored: [Ignored] = []
    }

    /// A folder entry that is not read, and why.
    public struct Ignored: Equatable, Sendable {
        public var path: String
        public var reason: String

        public init(path: String, reason: String) {
            self.path = path
            self.reason = reason
        }
    }

    public static func find(_ inputs: [String]) throws -> Found {
        var found = Found()
        var seen = Set<String>()
        func add(_ path: String, explicit: Bool) throws {
            // The same file reached twice (a folder and a file in it) is one file, not a duplicate.
            guard let real = try? FS.resolve(path), seen.insert(real).inserted else { return }
            if try hasLabel(path) {
                found.volumes.append(path)
            } else if VolumeLabel.looksLikeVolumeName(FS.baseName(path)) {
                found.unlabelled.append(path)
            } else if try isISOImage(path) {
                found.images.append(path)
            } else if explicit {
                found.otherFiles.append(path)
            } else {
                found.ignored.append(Ignored(path: path, reason: "not a volume (no volume label at its end)"))
            }
        }
        for input in inputs {
            guard let info = try statFollowing(input) else { throw ToolError.usage("'\(input)' does not exist") }
            switch info.kind {
            case .directory:
                for name in try FS.list(input) {
                    let p = input.hasSuffix("/") ? input + name : input + "/" + name
                    guard let i = try FS.info(p) else { continue }
                    if i.kind == .regular {
                        try add(p, explicit: false)
                    } else if let reason = ignoredReason(i.kind), seen.insert(p).inserted {
                        found.ignored.append(Ignored(path: p, reason: reason))
                    }
                }
            case .regular:
                try add(input, explicit: true)
            default:
                throw ToolError.usage("'\(input)' is neither a file nor a folder")
            }
        }
        return found
    }

    /// Why a folder entry that is not a plain file is not read.
    private static func ignoredReason(_ kind: FileKind) -> String? {
        switch kind {
        // Links in a folder are not followed: a volume is a plain file on its medium.
        case .symlink: return "a symbolic link (not followed)"
        case .directory: return "a folder (folders are read one level deep: give it on the command line to read it)"
        default: return "not a plain file"
        }
    }

    private static func statFollowing(_ path: String) throws -> FileInfo? {
        guard let info = try FS.info(path) else { return nil }
        guard info.kind == .symlink else { return info }
        return try FS.info(try FS.resolve(path))
    }

    /// True when the file's last 4096 bytes start with the label's magic line.
    public static func hasLabel(_ path: String) throws -> Bool {
        let fd = try FileDescriptor.open(path)
        let size = try fd.size()
        guard size >= Int64(VolumeLabel.size) else { return false }
        var head = [UInt8](repeating: 0, count: VolumeLabel.magic.utf8.count + 1)
        let n = try head.withUnsafeMutableBytes { try fd.read(into: $0, fromOffset: size - Int64(VolumeLabel.size)) }
        return n == head.count && head == Array((VolumeLabel.magic + "\n").utf8)
    }

    /// ISO 9660 images carry "CD001" at byte 32769 (the primary volume descriptor).
    static func isISOImage(_ path: String) throws -> Bool {
        let fd = try FileDescriptor.open(path)
        guard try fd.size() >= 34816 else { return false }
        var id = [UInt8](repeating: 0, count: 5)
        let n = try id.withUnsafeMutableBytes { try fd.read(into: $0, fromOffset: 32769) }
        return n == 5 && id == Array("CD001".utf8)
    }

    /// Reads and checks a volume's label: its form, its signature against `trust`, and that the
    /// file is exactly as long as the label says. The payload is not read (see `hashPayload`).
    public static func checkLabel(_ path: String, trust: [PublicKey]) -> VolumeCheck {
        var check = VolumeCheck(source: path, size: 0)
        do {
            let fd = try FileDescriptor.open(path)
            check.size = try fd.size()
            guard check.size >= Int64(VolumeLabel.size) else {
                check.problem = "is \(check.size) bytes, too short to hold a volume label: truncated"
                return check
            }
            var bytes = [UInt8](repeating: 0, count: VolumeLabel.size)
            let n = try bytes.withUnsafeMutableBytes { try fd.readFully(into: $0, fromOffset: check.size - Int64(VolumeLabel.size)) }
            guard n == VolumeLabel.size else { throw ToolError.refused("'\(path)' changed size while being read") }
            check.signed = try VolumeLabel.decode(bytes, what: "'\(path)'")
            try checkSigned(&check, trust: trust)
        } catch let e as ToolError {
            check.problem = strip(e.message, path)
            check.problemStatus = e.status
        } catch {
            check.problem = "\(error)"
        }
        return check
    }

    /// Signature and length, once the label is decoded. A label by a key not in `trust` is
    /// marked `untrustedBy`: the command names that key and the keys given, once for the set.
    public static func checkSigned(_ check: inout VolumeCheck, trust: [PublicKey]) throws {
        guard let signed = check.signed else { return }
        switch signed.signature(trust: trust) {
        case .trusted(let key): check.signer = key
        case .broken: throw ToolError.refused("the label's signature does not verify (label altered or damaged)")
        case .untrusted(let id):
            check.untrustedBy = id
            throw ToolError.refused("the label is signed by key \(id), which is not trusted")
        }
        let expected = signed.label.length + Int64(VolumeLabel.size)
        guard check.size == expected else {
            throw ToolError.refused("is \(Format.grouped(check.size)) bytes but its label says \(Format.grouped(expected)): \(check.size < expected ? "truncated" : "has extra bytes")")
        }
    }

    /// Messages about a file are shown after its name; drop the name from inner messages.
    static func strip(_ message: String, _ path: String) -> String {
        let prefix = "'\(path)': "
        if message.hasPrefix(prefix) { return String(message.dropFirst(prefix.count)) }
        if message.hasPrefix("'\(path)' ") { return String(message.dropFirst(path.count + 3)) }
        return message
    }

    /// Streams a volume's payload through its digest (on two other threads) and, if given, hands
    /// each chunk with its offset in the payload to `sink` (to copy it) and to `extra` consumers
    /// (a whole-bundle hash). Sets `check.payloadDigest`, and a problem naming the failed check.
    /// Returns true when the payload matches its signed label.
    /// With `file`, the payload is read from there at `offset` instead (a copy of it kept in
    /// a reassembled bundle).
    @discardableResult
    public static func hashPayload(_ check: inout VolumeCheck, in file: String? = nil, at offset: Int64 = 0, progress: Progress? = nil,
                                   extra: [ChunkConsumer] = [], sink: (UnsafeRawBufferPointer, Int64) throws -> Void = { _, _ in }) -> Bool {
        guard let signed = check.signed, check.problem == nil else { return false }
        let label = signed.label
        do {
            let fd = try FileDescriptor.open(file ?? check.source)
            let pieces = PieceDigests()
            try stream(fd, from: offset, length: label.length, through: pieces.lanes + extra, progress: progress, sink: sink)
            check.payloadDigest = pieces.payloadDigest(tag: 0)
            guard check.payloadDigest == label.payload else {
                check.problem = "payload digest differs from its signed label: the data is damaged"
                return false
            }
            return true
        } catch let e as ToolError {
            check.problem = strip(e.message, check.source)
            check.problemStatus = e.status
            return false
        } catch {
            check.problem = "\(error)"
            return false
        }
    }

    /// Reads `length` bytes of `fd` from `offset` in 1 MiB chunks (whole payload pieces) while
    /// `consumers` see them on their own threads; `sink` gets each chunk and its offset in the run.
    public static func stream(_ fd: FileDescriptor, from offset: Int64, length: Int64, through consumers: [ChunkConsumer],
                              progress: Progress? = nil, sink: (UnsafeRawBufferPointer, Int64) throws -> Void = { _, _ in }) throws {
        let pipe = try ChunkPipeline(consumers: consumers, chunkSize: VolumeLabel.pieceSize)
        defer { pipe.stop() }
        var done: Int64 = 0
        while done < length {
            let buffer = pipe.acquire()
            let want = Int(min(Int64(buffer.count), length - done))
            let n = try fd.readFully(into: UnsafeMutableRawBufferPointer(rebasing: buffer[..<want]), fromOffset: offset + done)
            guard n == want else { throw ToolError.refused("'\(fd.path)' ended early while being read: truncated") }
            pipe.publish(n, tag: 0)
            try sink(UnsafeRawBufferPointer(rebasing: buffer[..<n]), done)
            done += Int64(n)
            progress?.advance(Int64(n))
        }
        pipe.finish()
    }
}
