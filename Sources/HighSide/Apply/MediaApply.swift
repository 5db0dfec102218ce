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
    /// Volumes checked and copied by an earlier run (refused or interrupted), checked again
    /// where they were kept and not read from the media.
    public var resumed: [Int]
    /// Keys that signed the labels, with "(media key)" after a key that is only a media key.
    public var signers: [String]
    public var bytesRead: Int64
    /// SHA-256 of the reassembled bundle file: the figure `bundlectl build` printed for it.
    public var sha256: SHA256Digest?
    /// What the folders held besides volumes, not read.
    public var ignored: [VolumeFiles.Ignored] = []
    /// Identical second copies of volumes and copies used in place of damaged ones: not
    /// problems, but the transfer log says so.
    public var notes: [String] = []

    /// `kept`: the sources of the checks that stand for copies an earlier run kept.
    init(_ volumeSet: VolumeSet, kept: Set<String>, config: MirrorConfig) {
        let key = volumeSet.key!
        bundle = key.bundle
        set = key.set
        count = key.count
        let volumes = (1...key.count).flatMap { volumeSet.candidates($0) }
        folders = []
        for v in volumes where !kept.contains(v.source) && !folders.contains(FS.parent(of: v.source)) { folders.append(FS.parent(of: v.source)) }
        copied = []
        resumed = []
        signers = Set(volumes.compactMap { v in
            v.signer.map { config.keys.contains($0) ? $0.idText : $0.idText + " (media key)" }
        }).sorted()
        bytesRead = 0
        notes = volumeSet.copies.filter { !kept.contains($0.of.source) }.map {
            "volume \($0.of.label!.number): '\($0.copy.source)' is an identical copy of '\($0.of.source)' (same label); one is used"
        }
    }
}

/// An apply from volumes: check every label first, copy each payload into the mirror's own
/// space while checking its digest (`Reassembly`), then apply the bundle with the same steps as
/// a bundle file, under the same lock.
extension OfflineMirror {
    var incoming: String { paths.root + "/incoming" }

    public func apply(volumes inputs: [String], dryRun: Bool, allowExpired: Bool = false, limits: ApplyLimits = .defaults,
                      now: Int64 = Timestamp.now()) throws -> (ApplyReport, VolumeIntake) {
        try fromVolumes(inputs, dryRun: dryRun) { bundle, lock in
            try apply(bundle: bundle, dryRun: dryRun, allowExpired: allowExpired, limits: limits, now: now, held: lock)
        }
    }

    /// A repair (`Repair`) from the volumes of the bundle the version was applied from.
    public func repair(volumes inputs: [String], now: Int64 = Timestamp.now()) throws -> (RepairReport, VolumeIntake) {
        try fromVolumes(inputs, dryRun: false) { bundle, lock in try repair(bundle: bundle, now: now, held: lock) }
    }

    /// Reassembles the bundle of `inputs` into incoming/ and hands it to `use` under the lock
    /// held from the first label to the end; the copy is removed afterwards unless `dryRun`
    /// (a dry run keeps it for the real apply).
    private func fromVolumes<R>(_ inputs: [String], dryRun: Bool, _ use: (String, MirrorLock) throws -> R) throws -> (R, VolumeIntake) {
        // Held across reading and applying: incoming/ is this run's alone, and the bundle it
        // reassembles is applied under the same lock (never another run's half-copied file).
        let lock = try MirrorLock(paths)
        defer { _ = lock }

        let found = try VolumeFiles.find(inputs)
        try ApplyInput.checkVolumes(found, inputs: inputs)
        // 1. Every label, before anything is copied: a missing or bad volume is named now.
        // The keys in force now, under the lock: not those read when the mirror was opened.
        let config = try pinned()
        let kept = Reassembly.Kept.load(incoming: incoming, trust: config.labelKeys)
        let set = try completeSet(found, kept: kept, config: config, dryRun: dryRun)
        let key = set.key!
        var intake = VolumeIntake(set, kept: Set(kept?.checks.map(\.source) ?? []), config: config)
        intake.ignored = found.ignored
        // 2. Copy, hashing each payload on the way; kept copies of an earlier run are checked
        // again and used. A label signed by a media key or a bundle signer gets this far: the
        // bundle must fit the disk, and its own signatures decide below.
        try checkRoom(for: key, dryRun: dryRun)
        let reassembly = try Reassembly(incoming: incoming, key: key, kept: kept)
        do {
            try reassembly.copy(set, into: &intake)
        } catch let e as Reassembly.Damaged {
            throw refuseVolumes(e.error, bundle: key.bundle.file, dryRun: dryRun)
        }
        // 3. The usual steps: signature, policy, every byte, stage, swap.
        let result: R
        do {
            result = try use(reassembly.staged, lock)
        } catch let e as ToolError where e.status == .refused {
            // A refused bundle keeps no space: it is read from its volumes again if it is retried.
            try? reassembly.remove()
            throw OfflineMirror.mediaKeyHint(e, config: config)
        }
        if !dryRun { try reassembly.remove() }
        return (result, intake)
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

    /// The volumes given, with the copies an earlier run kept when they are of the same set, as
    /// one complete, intact set; otherwise the refusal naming what is wrong.
    private func completeSet(_ found: VolumeFiles.Found, kept: Reassembly.Kept?, config: MirrorConfig, dryRun: Bool) throws -> VolumeSet {
        var checks = found.volumes.map { VolumeFiles.checkLabel($0, trust: config.labelKeys) }
        for path in found.unlabelled {
            var c = VolumeCheck(source: path, size: (try? FS.info(path)?.size ?? 0) ?? 0)
            c.problem = "no volume label at its end (truncated or overwritten)"
            checks.append(c)
        }
        // The set is the one the volumes given make; kept copies of that set fill in (kept
        // first, so a volume already copied is not read again), never those of another.
        var set = VolumeSet(checks)
        let combined = kept != nil && set.key == kept!.key
        if combined { set = VolumeSet(kept!.checks + checks) }
        guard set.isComplete, set.key != nil else {
            let hint = combined || kept?.checks.isEmpty != false ? "" : "; the mirror keeps checked copies of \(kept!.description) from an earlier run, which these volumes are not of"
            throw refuseVolumes(ToolError(set.status, OfflineMirror.setProblem(set, config: config, root: paths.root) + hint), bundle: set.key?.bundle.file, dryRun: dryRun)
        }
        return set
    }

    /// Why a set cannot be applied, one line. Labels signed by keys the mirror does not trust
    /// are said to be untrusted, with the keys it trusts and how to add the media officer's.
    static func setProblem(_ set: VolumeSet, config: MirrorConfig, root: String) -> String {
        let what = set.key.map { "the volumes of \($0.bundle.description)" } ?? "these volumes"
        let trusted = "this mirror trusts labels by its bundle signers (\(MediaKeys.list(config.keys))) and media keys (\(MediaKeys.list(config.mediaKeys)))"
        let add = "if that is the media officer's key, add it: mirrorctl media-key add KEY.pub --mirror \(root)"
        let signers = set.untrustedSigners.joined(separator: ", ")
        if set.onlyUntrusted {
            return "\(what) are UNTRUSTED, not damaged: their labels are signed by key \(signers), but \(trusted); nothing was changed; \(add)"
        }
        let untrusted = signers.isEmpty ? "" : " (UNTRUSTED labels: \(trusted); \(add))"
        return "\(what) are not a complete, intact set, nothing was changed: \(set.problemSummary())\(untrusted)"
    }

    /// A bundle refused for its signatures that names a media key among its signers: say what
    /// a media key is for (volume labels; it never counts toward a bundle's threshold).
    static func mediaKeyHint(_ e: ToolError, config: MirrorConfig) -> ToolError {
        let named = config.mediaKeys.filter { !config.keys.contains($0) && e.message.contains($0.idText) }
        guard !named.isEmpty else { return e }
        return ToolError(e.status, e.message + " (\(MediaKeys.list(named)) is a media key of this mirror: it lets volumes be copied in, but never counts for a bundle)")
    }

    /// Journals a refusal (unless dry) and returns the error to throw.
    private func refuseVolumes(_ e: ToolError, bundle: String?, dryRun: Bool) -> ToolError {
        if !dryRun && e.status == .refused { try? record.refusal(bundle ?? "volumes", e) }
        return e
    }
}
