import BundleFormat
import BundleVerify
import Support
import SystemIO

/// A repair done: the version rebuilt, whether it is current, and what staging wrote and linked.
public struct RepairReport {
    public var version: VersionInfo
    public var linkedFiles: Int
    public var writtenBytes: Int64
    /// What `mirrorctl verify` found wrong with the version before (empty: it was intact).
    public var problemsBefore: [String]
}

/// Repair: rebuilds a retained version from the very bundle that made it, after its tree was
/// damaged (a file edited or removed in place). The bundle is re-verified as on apply, against
/// the policy in force at its sequence, and must be one the hash-chained journal records as
/// applied here; the rebuilt tree replaces the damaged one in one exchange, so `current` never
/// names a half-made tree. Nothing is admitted that was not admitted before, and the replay
/// guard is not touched: a repair cannot bring in a new version or an old one that was pruned.
struct Repair {
    let paths: MirrorPaths
    let audit: Audit
    var journal: Journal { Journal(path: paths.journal) }

    /// Call with the lock held, after `Recovery`. A refusal is journaled.
    func run(bundle: String, state: MirrorState, current: String?, now: Int64) throws -> RepairReport {
        do {
            return try rebuild(bundle, state: state, current: current, now: now)
        } catch let e as ToolError {
            try? journal.append(e.status == .environment ? "fail" : "refuse",
                                ["command": .string("repair"), "bundle": .string(FS.baseName(bundle)), "reason": .string(e.message)])
            throw e
        }
    }

    private func rebuild(_ bundle: String, state: MirrorState, current: String?, now: Int64) throws -> RepairReport {
        let reader = try open(bundle, state: state)
        let id = VersionID.make(sequence: reader.manifest.sequence, manifest: reader.manifestDigest)
        let before = (try? audit.checkVersion(id)) ?? ["its records cannot be read"]
        let staged = try stage(reader, id: id, base: base(of: reader.manifest, state: state, target: id), now: now)
        try replace(id, with: staged.folder)
        let after = try audit.checkVersion(id)
        guard after.isEmpty else {
            throw ToolError.environment("version \(id) was rebuilt but does not verify (\(after[0])); the disk may be failing")
        }
        if let (listing, digest) = try? paths.storedListing(id) { try? FileStamps.record(id, paths: paths, listing: listing, listingDigest: digest) }
        let info = try audit.info(id, current: id == current)
        try? journal.append("repair", ["versionId": .string(id), "sequence": .int(info.sequence), "manifest": .string(info.manifestDigest),
                                       "bundle": .string(FS.baseName(bundle)), "current": .bool(id == current),
                                       "problems": .array(before.prefix(20).map { .string($0) }),
                                       "linked": .int(Int64(staged.linkedFiles)), "written": .int(staged.writtenBytes)])
        return RepairReport(version: info, linkedFiles: staged.linkedFiles, writtenBytes: staged.writtenBytes, problemsBefore: before)
    }

    /// The bundle, verified against the policy in force at its sequence, once the journal shows
    /// that this mirror applied exactly its MANIFEST and still retains that version.
    private func open(_ bundle: String, state: MirrorState) throws -> BundleReader {
        // Unverified, only to learn which version it claims to be; nothing it says is used until
        // its signatures are counted below.
        let claimed = try BundleReader(path: bundle, policy: nil)
        let (sequence, digest) = (claimed.manifest.sequence, claimed.manifestDigest)
        let id = VersionID.make(sequence: sequence, manifest: digest)
        guard try journaledApply(id, digest) else {
            throw ToolError.refused("this mirror never applied this bundle (sequence \(sequence), manifest sha256:\(digest.hex)); repair rebuilds only a version it applied (use `mirrorctl apply` for a new one)")
        }
        guard state.versions.contains(id) else {
            throw ToolError.refused("version \(id) was applied here but is no longer retained (pruned); repair rebuilds a retained version only")
        }
        let policy = try audit.config.history.policy(atSequence: sequence, pinned: audit.config.policy, paths: paths)
        let reader = try BundleReader(path: bundle, policy: policy)
        guard reader.manifestDigest == digest else { throw ToolError.refused("'\(bundle)' changed while it was being read") }
        return reader
    }

    /// Whether the hash-chained journal records version `id` of exactly this MANIFEST as applied.
    private func journaledApply(_ id: String, _ digest: SHA256Digest) throws -> Bool {
        var found = false
        let manifest = JSON.string("sha256:" + digest.hex)
        let broken = try journal.check { e in
            if e["event"] == .string("apply") || e["event"] == .string("recover"), e["versionId"] == .string(id), e["manifest"] == manifest {
                found = true
            }
        }
        if let broken { throw ToolError.refused("the journal's hash chain is broken (\(broken)); it cannot vouch for this bundle") }
        return found
    }

    /// What the rebuilt tree may share and patch from: for a delta, its base version (which must
    /// be retained and match the base tree it names); for a full bundle, the damaged version
    /// itself, whose files are linked only where they still hash to their signed bytes.
    private func base(of manifest: Manifest, state: MirrorState, target: String) throws -> CurrentVersion? {
        guard let ref = manifest.base else { return try? CurrentVersion.load(target, paths: paths) }
        let id = VersionID.make(sequence: ref.sequence, manifest: ref.manifest)
        guard state.versions.contains(id), let base = try? CurrentVersion.load(id, paths: paths), base.tree == ref.tree else {
            throw ToolError.refused("this bundle is a delta against version \(id), which is not retained intact here; repair that version first, or rebuild from a full bundle")
        }
        return base
    }

    private func stage(_ reader: BundleReader, id: String, base: CurrentVersion?, now: Int64) throws -> Staging.Staged {
        let staging = Staging(paths: paths)
        let progress = Progress("repairing", total: reader.manifest.packs.reduce(0) { $0 + $1.size })
        do {
            let staged = try staging.stage(reader, id: id, current: base, previousImages: [], now: now, progress: progress,
                                           record: ["repairedAt": .string(Timestamp.format(now))].merging(appliedAt(id)) { $1 })
            try FS.syncFileSystem(containing: staged.folder)
            return staged
        } catch {
            progress.finish()
            try? FS.removeTree(staging.folder(id))
            if let e = error as? ToolError, e.message.hasPrefix("the current version is damaged") {
                throw ToolError.refused("the base of this delta is damaged too (\(e.message)); repair its base version first, or rebuild from a full bundle")
            }
            throw error
        }
    }

    /// When the version was first applied, kept in its rebuilt BUNDLE.json.
    private func appliedAt(_ id: String) -> [String: JSON] {
        guard let bytes = try? FS.readFile(paths.tree(id) + "/BUNDLE.json", limit: 1 << 20, followingLinks: false),
              let o = try? JSONObject(JSON.parse(bytes, what: "BUNDLE.json"), what: "BUNDLE.json"),
              let at = try? o.string("appliedAt"), Timestamp.parse(at) != nil else { return [:] }
        return ["appliedAt": .string(at)]
    }

    /// Puts the staged version in place of version `id`: its records first (same bytes, rewritten
    /// in case they were damaged), then the tree in one exchange. The damaged tree ends up in
    /// staging, which this removes (or the next run's `Recovery`, after a crash).
    private func replace(_ id: String, with stage: String) throws {
        let version = paths.version(id)
        guard try FS.info(version) != nil else {
            try FS.rename(stage, version)
            return try FS.syncDirectory(paths.versions)
        }
        // The version's own change report stays: the staged one compares it with its base (or
        // with itself, for a full bundle), not with the version that was current when it came.
        let keep: Set<String> = (try FS.info(version + "/CHANGES.json")) != nil ? ["tree", "CHANGES.json"] : ["tree"]
        for name in try FS.list(stage) where !keep.contains(name) { try FS.rename(stage + "/" + name, version + "/" + name) }
        if try !FS.exchange(stage + "/tree", version + "/tree") {
            // A file system without RENAME_EXCHANGE: two renames, with the tree gone in between.
            try FS.rename(version + "/tree", stage + "/damaged")
            try FS.rename(stage + "/tree", version + "/tree")
        }
        try FS.syncDirectory(version)
        try? FS.removeTree(stage)
    }
}
