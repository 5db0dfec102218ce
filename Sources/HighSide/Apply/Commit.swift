import BundleFormat
import BundleVerify
import Support
import SystemIO

/// Commit: a staged version made durable, moved into `versions/`, its trust policy adopted,
/// and `current` swapped to it with one rename. The swap is the commit point: before it the
/// mirror serves the old tree, after it the new one, and a crash in between changes nothing.
struct Commit {
    let paths: MirrorPaths
    let config: MirrorConfig

    /// Publishes `stage` as version `id` and makes it current.
    func commit(_ stage: String, id: String, trust update: TrustUpdate?, bundle: String, manifest: SHA256Digest) throws {
        // One flush of the whole file system instead of an fsync per file.
        try FS.syncFileSystem(containing: stage)
        try FS.rename(stage, paths.version(id))
        try FS.syncDirectory(paths.versions)
        if let update { try adopt(update, from: bundle, manifest: manifest, sequence: VersionID.sequence(of: id) ?? 0) }
        try swapCurrent(to: id)
    }

    /// Pins a new trust policy, after everything in the bundle has been verified and staged and
    /// just before the swap. Kept with its signatures under policies/, pinned in mirror.json's
    /// history (with the sequence of the bundle that carried it) and journaled.
    func adopt(_ update: TrustUpdate, from bundle: String, manifest: SHA256Digest, sequence: Int64) throws {
        let dir = paths.policies + "/\(update.policy.version)"
        try FS.makeDirectories(dir)
        try FS.writeAtomically(dir + "/TRUST", update.bytes)
        for sig in update.signatures { try FS.writeAtomically(dir + "/" + sig.entry, Array(sig.text.utf8)) }
        let old = config.policy
        try FS.writeAtomically(paths.config, config.adopting(update, sequence: sequence).json.canonicalBytes)
        try Journal(path: paths.journal).append("trust", [
            "bundle": .string(FS.baseName(bundle)),
            "manifest": .string("sha256:" + manifest.hex),
            "from": Commit.summary(old),
            "to": Commit.summary(update.policy),
            "approvedBy": .array(update.approvedBy.map { .string($0.idText) }),
            "revoked": .array(old.keys.filter { !update.policy.keys.contains($0) }.map { .string($0.idText) }),
        ])
    }

    private static func summary(_ p: TrustPolicy) -> JSON {
        .object(["version": .int(p.version), "threshold": .int(Int64(p.threshold)), "keys": .array(p.keys.map { .string($0.idText) })])
    }

    /// Points `current` at a version with one rename: readers see the old tree or the new one.
    func swapCurrent(to id: String) throws {
        let tmp = paths.root + "/.current.new"
        try FS.remove(tmp)
        try FS.symlink(target: "versions/\(id)/tree", at: tmp)
        try FS.rename(tmp, paths.current)
        try FS.syncDirectory(paths.root)
    }
}
