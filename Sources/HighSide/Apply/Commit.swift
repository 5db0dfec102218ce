import BundleFormat
import BundleVerify
import Support
import SystemIO

/// Commit: a staged version made durable, moved into `versions/`, and `current` swapped to it
/// with one rename, adopting the trust policy it carries in the same step. The swap is the
/// commit point: before it the mirror serves the old tree under the old policy, after it the new
/// tree under the new policy (`Adoption`), and a crash or failure in between changes neither.
struct Commit {
    let paths: MirrorPaths
    /// The configuration in force, whose policy approved the bundle.
    let config: MirrorConfig

    /// Publishes `stage` as version `id` and makes it current. Returns warnings: problems after
    /// the swap, which leave the version current and its policy in force (the next run records them).
    func commit(_ stage: String, id: String, trust update: TrustUpdate?, bundle: String, manifest: SHA256Digest) throws -> [String] {
        // One flush of the whole file system instead of an fsync per file.
        try FS.syncFileSystem(containing: stage)
        try FS.rename(stage, paths.version(id))
        do {
            try FS.syncDirectory(paths.versions)
            if let update { try Adoption.prepare(update, for: id, config: config, bundle: bundle, manifest: manifest, paths: paths) }
            try swapCurrent(to: id)
        } catch {
            undo(id)
            throw error
        }
        guard let update else { return [] }
        do {
            try Adoption.settle(paths, current: id)
        } catch let e as ToolError {
            return ["version \(id) is current under trust policy version \(update.policy.version), but recording the adoption failed (\(e.message)); the next apply or rollback records it"]
        }
        return []
    }

    /// After a failure up to the swap, `current` says whether the swap happened. If it did not,
    /// the new version, its pending adoption and the unrenamed link go (what a failure here leaves
    /// is for `Recovery`); if it did (only its flush failed), the adoption stays pending, in
    /// force, and the next run settles it.
    private func undo(_ id: String) {
        let current = (try? paths.currentID()) ?? nil
        guard current != id else { return }
        try? FS.remove(paths.root + "/.current.new")
        try? FS.removeTree(paths.version(id))
        _ = try? Adoption.settle(paths, current: current)
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
