import BundleFormat
import BundleVerify
import Changes
import Support
import SystemIO

public struct ApplyReport {
    public var manifest: Manifest
    public var manifestDigest: SHA256Digest
    public var signer: String
    public var version: String
    public var changes: ChangeSummary
    public var linkedFiles: Int
    public var writtenBytes: Int64
    public var seconds: Double
    public var dryRun: Bool
    public var pruned: [String]
    /// A new trust policy the bundle brought (adopted unless this was a dry run).
    public var trustUpdate: TrustPolicy?
    /// The policy the bundle carries, when it is the one in force already: nothing adopted.
    public var trustAlreadyInForce: TrustPolicy?
    /// Problems after the new version went live (it is current; recording it is left to the next run).
    public var warnings: [String]
    /// The keys whose signatures counted, and what the mirror held before (ApplyReportContext.swift).
    public var signers: [String] = []
    public var before = Before()
    /// What the version changes, record by record (the version's CHANGES.json; VersionChanges.swift).
    public var changeReport = ChangeReport()
}

/// An apply, as a sequence of named steps over the current version loaded once under the lock:
/// recover, open (signatures), admit, then either check into a sink that keeps nothing (a dry
/// run) or stage, commit and record.
extension OfflineMirror {
    public func apply(bundle: String, dryRun: Bool, allowExpired: Bool = false, limits: ApplyLimits = .defaults,
                      now: Int64 = Timestamp.now()) throws -> ApplyReport {
        try apply(bundle: bundle, dryRun: dryRun, allowExpired: allowExpired, limits: limits, now: now, held: nil)
    }

    /// - Parameter held: the mirror's lock, when the caller already holds it (an apply from
    ///   volumes reassembles the bundle under the lock and keeps it until the swap).
    func apply(bundle: String, dryRun: Bool, allowExpired: Bool, limits: ApplyLimits, now: Int64, held: MirrorLock?) throws -> ApplyReport {
        let started = Clock.now()
        let lock: MirrorLock? = dryRun ? nil : try held ?? MirrorLock(paths)
        defer { _ = lock }
        let (state, currentID) = dryRun ? try replayGuard.current(write: false) : try recovery.run()
        let config = try pinned()

        let current = try currentID.map { try CurrentVersion.load($0, paths: paths) }
        let admission = Admission(state: state, current: current.map { .init(sequence: $0.sequence, tree: $0.tree) },
                                  mirrorID: config.id, allowExpired: allowExpired, now: now, limits: limits)
        let reader = try journalingRefusal(of: bundle, dryRun: dryRun, nil) { try open(bundle, policy: config.policy, admission) }
        try journalingRefusal(of: bundle, dryRun: dryRun, reader) { try admission.check(reader.manifest) }

        let id = VersionID.make(sequence: reader.manifest.sequence, manifest: reader.manifestDigest)
        let progress = Progress(dryRun ? "verifying" : "applying", total: reader.manifest.packs.reduce(0) { $0 + $1.size })
        var report = ApplyReport(manifest: reader.manifest, manifestDigest: reader.manifestDigest, signer: reader.signerText, version: id,
                                 changes: ChangeSummary(), linkedFiles: 0, writtenBytes: 0, seconds: 0, dryRun: dryRun, pruned: [],
                                 trustUpdate: reader.trustUpdate?.policy, trustAlreadyInForce: reader.carriesPinnedPolicy ? reader.policy : nil,
                                 warnings: [])
        report.note(reader, current: current?.id, policy: config.policy, paths: paths)
        if dryRun {
            let index = try reader.readIndex()
            // The same check as staging, into a sink that keeps only the records it reads.
            let (listing, changeReport) = try dryRunReport(reader, index, current: current, previousImages: report.before.images, id: id,
                                                           progress: progress)
            progress.finish()
            report.changes = ChangeSummary.between(current?.listing, listing)
            report.changeReport = changeReport
        } else {
            try stageCommitRecord(reader, bundle: bundle, id: id, state: state, current: current, config: config, now: now, progress: progress,
                                  into: &report)
        }
        report.seconds = Clock.now() - started
        return report
    }

    /// Staging, commit and record; a failure before the swap gives the staging space back and
    /// is journaled, and `current` was never touched.
    private func stageCommitRecord(_ reader: BundleReader, bundle: String, id: String, state: MirrorState, current: CurrentVersion?,
                                   config: MirrorConfig, now: Int64, progress: Progress, into report: inout ApplyReport) throws {
        let staging = Staging(paths: paths)
        do {
            let staged = try staging.stage(reader, id: id, current: current, previousImages: report.before.images, now: now, progress: progress)
            report.changes = ChangeSummary.between(current?.listing, staged.listing)
            report.changeReport = staged.report
            let adopting = try Commit(paths: paths, config: config).commit(staged.folder, id: id, trust: reader.trustUpdate, bundle: bundle,
                                                                           manifest: reader.manifestDigest)
            (report.pruned, report.warnings) = try record.applied(reader, bundle: bundle, id: id, state: state, previous: current?.id, now: now)
            // After pruning, the last step that changes the files' change times: the next apply
            // trusts what still shows these stamps without reading it. A cache: failing to write
            // it only makes the next apply hash everything, as before.
            try? FileStamps.record(id, paths: paths, listing: staged.listing, listingDigest: reader.manifest.tree)
            report.warnings = adopting + report.warnings
            (report.linkedFiles, report.writtenBytes) = (staged.linkedFiles, staged.writtenBytes)
        } catch {
            progress.finish()
            try? FS.removeTree(staging.folder(id))
            if let e = error as? ToolError { try? record.refusal(bundle, e, reader) }
            throw error
        }
    }

    /// Opens `bundle` against the policy in force. When its signatures do not count, the refusal
    /// also names what its MANIFEST says that this mirror refuses anyway (channel, sequence,
    /// expiry): an old bundle is told it is old, not only that it lacks a signature.
    private func open(_ bundle: String, policy: TrustPolicy, _ admission: Admission) throws -> BundleReader {
        do {
            return try BundleReader(path: bundle, policy: policy)
        } catch let e as ToolError where e.status == .refused {
            guard let unverified = OfflineMirror.unverifiedManifest(bundle, keys: policy.keys) else { throw e }
            throw admission.refusal(unverified: unverified, signatures: e)
        }
    }

    /// The MANIFEST of a bundle whose signatures did not count, for the refusal to report (see
    /// `Admission.refusal(unverified:signatures:)`); nil when the bundle cannot be read that far,
    /// or when a signature by a key it names does not verify: its bytes were then altered, and
    /// nothing they say is worth repeating.
    private static func unverifiedManifest(_ bundle: String, keys: [PublicKey]) -> Manifest? {
        guard let r = try? BundleReader(path: bundle, policy: nil) else { return nil }
        let named = keys + (r.trustUpdate?.policy.keys ?? [])
        guard Trust.count(r.manifestBytes, r.signatures, keys: named).broken == nil else { return nil }
        return r.manifest
    }

    /// Runs `step`; a refusal it throws is journaled (not for a dry run) before it is rethrown.
    private func journalingRefusal<T>(of bundle: String, dryRun: Bool, _ reader: BundleReader?, _ step: () throws -> T) throws -> T {
        do {
            return try step()
        } catch let e as ToolError {
            if !dryRun { try? record.refusal(bundle, e, reader) }
            throw e
        }
    }
}
