import BundleFormat
import Media
import Support
import SystemIO

/// A bundle reassembled from its volumes in `DIR/incoming/<set digest>/bundle/`.
///
/// The folder is beside `staging/` rather than in it because every apply clears `staging/` on
/// start, and this copy must outlive an interrupted run: `volumes.json` there records the
/// volumes already checked and copied (each flushed before it is recorded), and a run with the
/// same volumes goes on from there. The folder is removed after a successful apply, after a
/// refusal of the bundle (a bundle whose labels one key signed but whose MANIFEST does not meet
/// the threshold must not keep its space), and when volumes of another bundle arrive. Before
/// anything is copied, the bundle must fit the free space (`OfflineMirror.checkRoom`).
final class Reassembly {
    /// A volume whose payload does not match its label: the refusal to report.
    struct Damaged: Error { var error: ToolError }

    let incoming: String
    let dir: String
    /// In a folder of its own: the file name comes from the label and may be any plain name.
    let staged: String
    private let key: VolumeSet.Key
    private var record: IncomingRecord

    init(incoming: String, key: VolumeSet.Key) throws {
        self.incoming = incoming
        self.key = key
        dir = incoming + "/" + key.set.hex
        staged = Reassembly.stagedPath(incoming: incoming, key: key)
        record = IncomingRecord(bundle: key.bundle, set: key.set, count: key.count, copied: [])
        record = try open()
    }

    /// Where the bundle of `key` is reassembled.
    static func stagedPath(incoming: String, key: VolumeSet.Key) -> String {
        incoming + "/" + key.set.hex + "/bundle/" + key.bundle.file
    }

    /// Copies every volume not yet recorded, hashing the whole file as it comes together, in
    /// order (for the transfer log: it is the figure `bundlectl build` printed). Volumes copied
    /// by an earlier run are read back from the copy, not from the medium.
    func copy(_ volumes: [VolumeCheck], into intake: inout VolumeIntake) throws {
        let file = try VolumeFileIO.open(staged)
        if record.copied.isEmpty { try VolumeFileIO.reserve(file, size: key.bundle.size) }
        guard try file.size() == key.bundle.size else {
            throw ToolError.environment("'\(staged)' is not \(key.bundle.size) bytes; remove '\(dir)' and run again")
        }
        let pending = volumes.filter { !record.copied.contains($0.label!.number) }
        let progress = Progress("reading volumes", total: pending.reduce(0) { $0 + $1.label!.length })
        let bundleHash = DigestConsumer()
        for v in volumes {
            if record.copied.contains(v.label!.number) {
                intake.resumed.append(v.label!.number)
                try VolumeFiles.stream(file, from: v.label!.offset, length: v.label!.length, through: [bundleHash])
            } else {
                try copy(v, to: file, hash: bundleHash, progress: progress)
                intake.copied.append(v.label!.number)
                intake.bytesRead += v.label!.length
            }
        }
        progress.finish()
        try file.close()
        guard bundleHash.stream.count == key.bundle.size else {
            throw ToolError.environment("read \(bundleHash.stream.count) bytes of '\(staged)', expected \(key.bundle.size)")
        }
        intake.sha256 = bundleHash.stream.finalize()
    }

    /// One volume's payload, checked against its label while it is written into place, then
    /// flushed and recorded.
    private func copy(_ volume: VolumeCheck, to file: FileDescriptor, hash: DigestConsumer, progress: Progress) throws {
        var v = volume
        let label = v.label!
        let ok = VolumeFiles.hashPayload(&v, progress: progress, extra: [hash]) { chunk, at in
            try file.write(chunk, toOffset: label.offset + at)
        }
        guard ok else {
            progress.finish()
            let kept = record.copied.isEmpty ? "" : "; volume(s) \(record.copied.sorted().map(String.init).joined(separator: ", ")) are already checked and copied, and are not read again when you run this again"
            throw Damaged(error: ToolError(v.problemStatus, "\(label.position) of \(key.bundle.description), '\(v.source)', is damaged: \(v.problem ?? "unreadable"); nothing was changed\(kept)"))
        }
        // On disk before it is recorded: a crash after this never loses a recorded volume.
        try VolumeFileIO.flush(file, staged)
        record.copied.insert(label.number)
        try FS.writeAtomically(dir + "/volumes.json", record.json.canonicalBytes)
    }

    /// After a successful apply: the copy is no longer needed.
    func remove() throws {
        try incomingFolder().removeTree(key.set.hex)
        VolumeFileIO.removeIfEmpty(incoming)
    }

    /// `incoming/`, opened from the mirror root without following a link: what is removed in it
    /// is the mirror's own, never a folder a planted link points at.
    private func incomingFolder() throws -> Directory {
        try Directory(FS.parent(of: incoming)).directory(FS.baseName(incoming))
    }

    /// The record of an interrupted run for this set, or a fresh folder. Folders of other
    /// bundles are removed: one bundle is reassembled at a time.
    private func open() throws -> IncomingRecord {
        try Directory(FS.parent(of: incoming)).makeDirectory(FS.baseName(incoming), mode: 0o700)
        let folder = try incomingFolder()
        for name in try folder.list() where name != key.set.hex { try folder.removeTree(name) }
        let path = dir + "/volumes.json"
        if try FS.info(path) != nil,
           let record = try? IncomingRecord(bytes: FS.readFile(path, limit: 1 << 20, followingLinks: false), path: path),
           record.bundle == key.bundle, record.set == key.set, record.count == key.count,
           try FS.info(staged)?.size == key.bundle.size {
            return record
        }
        try folder.removeTree(key.set.hex)
        try folder.makeDirectory(key.set.hex, mode: 0o700)
        try folder.directory(key.set.hex).makeDirectory("bundle", mode: 0o700)
        return IncomingRecord(bundle: key.bundle, set: key.set, count: key.count, copied: [])
    }
}

/// The file calls reassembly needs beyond `FS`.
private enum VolumeFileIO {
    static func open(_ path: String) throws -> FileDescriptor {
        try FileDescriptor.open(path, .readWrite, options: [.create, .noFollow], mode: 0o600)
    }

    /// Sets the file's size and reserves its blocks, so a full disk shows now, not halfway.
    static func reserve(_ file: FileDescriptor, size: Int64) throws {
        try file.preallocate(size)
    }

    static func flush(_ file: FileDescriptor, _ path: String) throws {
        try file.syncData()
    }

    static func removeIfEmpty(_ dir: String) { try? FS.removeDirectory(dir) }
}

/// `incoming/<sha>/volumes.json`: which volumes of which set are already checked and copied.
struct IncomingRecord {
    var bundle: VolumeLabel.Bundle
    var set: SHA256Digest
    var count: Int
    var copied: Set<Int>

    var json: JSON {
        .object(["bundle": bundle.json, "set": .string(set.hex), "count": .int(Int64(count)),
                 "copied": .array(copied.sorted().map { .int(Int64($0)) })])
    }

    init(bundle: VolumeLabel.Bundle, set: SHA256Digest, count: Int, copied: Set<Int>) {
        self.bundle = bundle
        self.set = set
        self.count = count
        self.copied = copied
    }

    init(bytes: [UInt8], path: String) throws {
        let o = try JSONObject(JSON.parse(bytes, what: path), what: path)
        try o.allowOnly(["bundle", "set", "count", "copied"])
        bundle = try VolumeLabel.Bundle(o.object("bundle"))
        set = try o.digest("set")
        let count = Int(try o.int("count", min: 1, max: Int64(VolumeLabel.maxCount)))
        self.count = count
        copied = Set(try o.array("copied").map { v in
            guard case .int(let n) = v, n >= 1, n <= Int64(count) else { throw ToolError.environment("\(path): a volume number is out of range") }
            return Int(n)
        })
    }
}
