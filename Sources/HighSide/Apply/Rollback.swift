import BundleFormat
import Support

/// Rollback: `current` moved back to the newest retained version older than it, if that
/// version still matches its signed manifest. The replay guard (highest sequence) stays.
struct Rollback {
    let paths: MirrorPaths
    let audit: Audit
    var journal: Journal { Journal(path: paths.journal) }

    /// Call with the lock held, after `Recovery`. A refusal is journaled.
    func run(state: MirrorState, current: String?) throws -> (from: VersionInfo, to: VersionInfo) {
        do {
            return try move(state, current: current)
        } catch let e as ToolError {
            try? journal.append(e.status == .environment ? "fail" : "refuse", ["command": .string("rollback"), "reason": .string(e.message)])
            throw e
        }
    }

    /// The newest retained version older than `current`, by sequence.
    static func target(_ state: MirrorState, current: String) -> String? {
        let curSeq = VersionID.sequence(of: current) ?? 0
        return state.versions.filter { (VersionID.sequence(of: $0) ?? 0) < curSeq }
            .sorted { (VersionID.sequence(of: $0) ?? 0) < (VersionID.sequence(of: $1) ?? 0) }.last
    }

    private func move(_ state: MirrorState, current: String?) throws -> (from: VersionInfo, to: VersionInfo) {
        guard let cur = current else { throw ToolError.refused("'\(paths.root)' has no current version to roll back from") }
        guard let target = Rollback.target(state, current: cur) else {
            throw ToolError.refused("no version older than \(cur) is retained; nothing to roll back to")
        }
        // Only to a version that is still intact, judged by the policy it was applied under.
        let problems = try audit.checkVersion(target)
        guard problems.isEmpty else {
            throw ToolError.refused("version \(target) no longer matches its signed manifest (\(problems[0])); not rolling back to it")
        }
        try Commit(paths: paths, config: audit.config).swapCurrent(to: target)
        let to = try audit.info(target, current: true)
        // Done once `current` moved; if the record cannot be written (a full disk), the next
        // run's `Recovery` journals what is current.
        try? journal.append("rollback", ["from": .string(cur), "to": .string(target), "sequence": .int(to.sequence),
                                        "manifest": .string(to.manifestDigest), "signer": .string(to.signer),
                                        "signers": .array(to.signers.map { .string($0) })])
        return (try audit.info(cur, current: cur == target), to)
    }
}
