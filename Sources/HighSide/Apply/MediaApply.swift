import BundleFormat
import Media
import Support
import SystemIO
#if canImport(Glibc)
import Glibc
#endif

/// How the volumes of a bundle were read, for the transfer log.
public struct VolumeIntake {
    public var bundle: VolumeLabel.Bundle
    public var set: SHA256Digest
    public var count: Int
    /// The folders the volumes came from, in the order first seen.
    public var folders: [String]
    /// Volumes read, checked and copied in this run.
    public var copied: [Int]
    /// Volumes checked and copied by an earlier, interrupted run: not read again.
    public var resumed: [Int]
    /// Keys that signed the labels.
    public var signers: [String]
    public var bytesRead: Int64
    /// SHA-256 of the reassembled bundle file: the figure `bundlectl build` printed for it.
    public var sha256: SHA256Digest?
}

/// An apply from volumes: check every label first, copy each payload into the mirror's own
/// space while checking its digest, then apply the bundle as usual.
///
/// The bundle is reassembled in `DIR/incoming/<set digest>/bundle/`, beside `staging/` rather than in
/// it because every apply clears `staging/` on start, and this copy must outlive an interrupted
/// run: `volumes.json` there records the volumes already checked and copied (each flushed before
/// it is recorded), and a run with the same volumes goes on from there. The folder is removed
/// after a successful apply, and when volumes of another bundle arrive. It is kept after a refusal
/// of the bundle itself (expired, or a delta whose base is missing, can become applicable).
extension Mirror {
    var incoming: String { paths.root + "/incoming" }

    public func apply(volumes inputs: [String], dryRun: Bool, allowExpired: Bool = false,
                      now: Int64 = Timestamp.now()) throws -> (ApplyReport, VolumeIntake) {
        // Held across reading and applying: incoming/ is this run's alone, and the bundle it
        // reassembles is applied under the same lock (never another run's half-copied file).
        let lock = try MirrorLock(paths)
        defer { _ = lock }

        let found = try VolumeFiles.find(inputs)
        if let image = found.images.first {
            throw ToolError.usage("'\(image)' is an ISO image: mount it (or extract its .vol file with bsdtar) and give the folder")
        }
        if let other = found.otherFiles.first {
            throw ToolError.usage("'\(other)' is not a volume (no volume label at its end); give one bundle file, or volumes and folders of volumes")
        }
        guard !found.volumes.isEmpty || !found.unlabelled.isEmpty else {
            throw ToolError.usage("no volume files in \(inputs.map { "'\($0)'" }.joined(separator: ", "))")
        }

        // 1. Every label, before anything is copied: a missing or bad volume is named now.
        var checks = found.volumes.map { VolumeFiles.checkLabel($0, trust: config.keys) }
        for path in found.unlabelled {
            var c = VolumeCheck(source: path, size: (try? FS.info(path)?.size ?? 0) ?? 0)
            c.problem = "no volume label at its end (truncated or overwritten)"
            checks.append(c)
        }
        let set = VolumeSet(checks)
        guard set.isComplete, let key = set.key else {
            let what = set.key.map { "the volumes of \($0.bundle.description)" } ?? "these volumes"
            throw refuseVolumes(ToolError(set.status, "\(what) are not a complete, intact set, nothing was changed: \(set.problemSummary())"),
                                bundle: set.key?.bundle.file, dryRun: dryRun)
        }
        let volumes = (1...key.count).map { set.volumes[$0]! }
        var intake = VolumeIntake(bundle: key.bundle, set: key.set, count: key.count, folders: [], copied: [], resumed: [],
                                  signers: Set(volumes.compactMap { $0.signer?.idText }).sorted(), bytesRead: 0)
        for v in volumes where !intake.folders.contains(FS.parent(of: v.source)) { intake.folders.append(FS.parent(of: v.source)) }

        // 2. Copy, hashing each payload on the way; resume after what an earlier run recorded.
        let dir = incoming + "/" + key.set.hex
        // In a folder of its own: the file name comes from the label and may be any plain name.
        let staged = dir + "/bundle/" + key.bundle.file
        var record = try openIncoming(dir, key: key)
        let file = try FileDescriptor.open(staged, flags: O_RDWR | O_CREAT, mode: 0o600)
        if record.copied.isEmpty { try reserve(file, size: key.bundle.size) }
        guard try file.size() == key.bundle.size else {
            throw ToolError.environment("'\(staged)' is not \(key.bundle.size) bytes; remove '\(dir)' and run again")
        }
        let pending = volumes.filter { !record.copied.contains($0.label!.number) }
        let progress = Progress("reading volumes", total: pending.reduce(0) { $0 + $1.label!.length })
        // The whole file's SHA-256 as it comes together, in order (for the transfer log: it is
        // the figure `bundlectl build` printed). Volumes copied by an earlier run are read back
        // from the copy, not from the medium.
        let bundleHash = DigestConsumer()
        for var v in volumes {
            let label = v.label!
            if record.copied.contains(label.number) {
                intake.resumed.append(label.number)
                try VolumeFiles.stream(file, from: label.offset, length: label.length, through: [bundleHash])
                continue
            }
            let ok = VolumeFiles.hashPayload(&v, progress: progress, extra: [bundleHash]) { chunk, at in
                try file.write(chunk, toOffset: label.offset + at)
            }
            guard ok else {
                progress.finish()
                let kept = record.copied.isEmpty ? "" : "; volume(s) \(record.copied.sorted().map(String.init).joined(separator: ", ")) are already checked and copied, and are not read again when you run this again"
                throw refuseVolumes(ToolError(v.problemStatus, "\(label.position) of \(key.bundle.description), '\(v.source)', is damaged: \(v.problem ?? "unreadable"); nothing was changed\(kept)"),
                                    bundle: key.bundle.file, dryRun: dryRun)
            }
            // On disk before it is recorded: a crash after this never loses a recorded volume.
            if fdatasync(file.raw) != 0 { throw systemError("sync", staged) }
            record.copied.insert(label.number)
            try FS.writeAtomically(dir + "/volumes.json", record.json.canonicalBytes)
            intake.copied.append(label.number)
            intake.bytesRead += label.length
        }
        progress.finish()
        try file.close()
        guard bundleHash.stream.count == key.bundle.size else {
            throw ToolError.environment("read \(bundleHash.stream.count) bytes of '\(staged)', expected \(key.bundle.size)")
        }
        intake.sha256 = bundleHash.stream.finalize()

        // 4. The usual apply: signature, policy, every byte, stage, swap.
        let report = try apply(bundle: staged, dryRun: dryRun, allowExpired: allowExpired, now: now, held: lock)
        if !dryRun {
            try FS.removeTree(dir)
            _ = rmdir(incoming)
        }
        return (report, intake)
    }

    /// Journals a refusal (unless dry) and returns the error to throw.
    private func refuseVolumes(_ e: ToolError, bundle: String?, dryRun: Bool) -> ToolError {
        if !dryRun && e.status == .refused { try? refusal(bundle ?? "volumes", e) }
        return e
    }

    /// The record of an interrupted run for this set, or a fresh folder. Folders of other
    /// bundles are removed: one bundle is reassembled at a time.
    private func openIncoming(_ dir: String, key: VolumeSet.Key) throws -> IncomingRecord {
        try FS.makeDirectory(incoming, mode: 0o700)
        for name in try FS.list(incoming) where incoming + "/" + name != dir {
            try FS.removeTree(incoming + "/" + name)
        }
        let path = dir + "/volumes.json"
        if try FS.info(path) != nil,
           let record = try? IncomingRecord(bytes: FS.readFile(path, limit: 1 << 20), path: path),
           record.bundle == key.bundle, record.set == key.set, record.count == key.count,
           try FS.info(dir + "/bundle/" + key.bundle.file)?.size == key.bundle.size {
            return record
        }
        try FS.removeTree(dir)
        try FS.makeDirectory(dir, mode: 0o700)
        try FS.makeDirectory(dir + "/bundle", mode: 0o700)
        return IncomingRecord(bundle: key.bundle, set: key.set, count: key.count, copied: [])
    }

    /// Sets the file's size and reserves its blocks, so a full disk shows now, not halfway.
    private func reserve(_ file: FileDescriptor, size: Int64) throws {
        if ftruncate(file.raw, off_t(size)) != 0 { throw systemError("set the size of", file.path) }
        let r = posix_fallocate(file.raw, 0, off_t(size))
        if r != 0 && r != EOPNOTSUPP && r != EINVAL { throw systemError("reserve \(Format.grouped(size)) bytes for", file.path, errno: r) }
    }
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
