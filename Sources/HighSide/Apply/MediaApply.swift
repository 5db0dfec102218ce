import BundleFormat
import Media
import Support
import SystemIO

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

    init(key: VolumeSet.Key, volumes: [VolumeCheck]) {
        bundle = key.bundle
        set = key.set
        count = key.count
        folders = []
        for v in volumes where !folders.contains(FS.parent(of: v.source)) { folders.append(FS.parent(of: v.source)) }
        copied = []
        resumed = []
        signers = Set(volumes.compactMap { $0.signer?.idText }).sorted()
        bytesRead = 0
    }
}

/// An apply from volumes: check every label first, copy each payload into the mirror's own
/// space while checking its digest (`Reassembly`), then apply the bundle with the same steps as
/// a bundle file, under the same lock.
extension OfflineMirror {
    var incoming: String { paths.root + "/incoming" }

    public func apply(volumes inputs: [String], dryRun: Bool, allowExpired: Bool = false, limits: ApplyLimits = .defaults,
                      now: Int64 = Timestamp.now()) throws -> (ApplyReport, VolumeIntake) {
        // Held across reading and applying: incoming/ is this run's alone, and the bundle it
        // reassembles is applied under the same lock (never another run's half-copied file).
        let lock = try MirrorLock(paths)
        defer { _ = lock }

        let found = try VolumeFiles.find(inputs)
        try ApplyInput.checkVolumes(found, inputs: inputs)
        // 1. Every label, before anything is copied: a missing or bad volume is named now.
        let (key, volumes) = try completeSet(found, dryRun: dryRun)
        var intake = VolumeIntake(key: key, volumes: volumes)
        // 2. Copy, hashing each payload on the way; resume after what an earlier run recorded.
        // A label signed by any one trusted key gets this far: the bundle must fit the disk.
        try checkRoom(for: key, dryRun: dryRun)
        let reassembly = try Reassembly(incoming: incoming, key: key)
        do {
            try reassembly.copy(volumes, into: &intake)
        } catch let e as Reassembly.Damaged {
            throw refuseVolumes(e.error, bundle: key.bundle.file, dryRun: dryRun)
        }
        // 3. The usual apply: signature, policy, every byte, stage, swap.
        let report: ApplyReport
        do {
            report = try apply(bundle: reassembly.staged, dryRun: dryRun, allowExpired: allowExpired, limits: limits, now: now, held: lock)
        } catch let e as ToolError where e.status == .refused {
            // A refused bundle keeps no space: it is read from its volumes again if it is retried.
            try? reassembly.remove()
            throw e
        }
        if !dryRun { try reassembly.remove() }
        return (report, intake)
    }

    /// Spare space left beyond the bundle: the journal, state and the start of staging need some.
    static let spareBytes: Int64 = 64 << 20

    /// Refuses, before anything is copied, a set whose bundle does not fit the free space of the
    /// mirror's file system (what an interrupted run already copied for it counts as room).
    private func checkRoom(for key: VolumeSet.Key, dryRun: Bool) throws {
        guard let free = FS.freeBytes(at: paths.root) else { return }
        let copied = (try? FS.info(Reassembly.stagedPath(incoming: incoming, key: key)))?.size ?? 0
        let (needed, overflow) = (key.bundle.size - copied).addingReportingOverflow(OfflineMirror.spareBytes)
        guard overflow || needed > free else { return }
        let e = ToolError.environment("the volumes of \(key.bundle.description) make a \(Format.grouped(key.bundle.size))-byte bundle, but the mirror's file system has \(Format.grouped(free)) bytes free (\(Format.grouped(OfflineMirror.spareBytes)) are kept spare); nothing was copied")
        if !dryRun { try? record.refusal(key.bundle.file, e) }
        throw e
    }

    /// The volumes of one complete, intact set, in order; otherwise the refusal naming what is wrong.
    private func completeSet(_ found: VolumeFiles.Found, dryRun: Bool) throws -> (VolumeSet.Key, [VolumeCheck]) {
        // The keys in force now, under the lock: not those read when the mirror was opened.
        let keys = try pinned().keys
        var checks = found.volumes.map { VolumeFiles.checkLabel($0, trust: keys) }
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
        return (key, (1...key.count).map { set.volumes[$0]! })
    }

    /// Journals a refusal (unless dry) and returns the error to throw.
    private func refuseVolumes(_ e: ToolError, bundle: String?, dryRun: Bool) -> ToolError {
        if !dryRun && e.status == .refused { try? record.refusal(bundle ?? "volumes", e) }
        return e
    }
}
