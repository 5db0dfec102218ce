import BundleFormat
import Support

/// A rollback done: from, to, and, when the current policy does not accept the target and the
/// admin allowed it (`--allow-revoked`), the revoked keys among its signers; else nil.
public struct RollbackReport {
    public var from: VersionInfo
    public var to: VersionInfo
    public var allowedRevoked: [String]?
}

/// Rollback: `current` moved back to the newest retained version older than it, if that
/// version still matches its signed manifest and the current trust policy still accepts its
/// signatures (or the admin allowed a revoked key). The replay guard (highest sequence) stays.
struct Rollback {
    let paths: MirrorPaths
    let audit: Audit
    var journal: Journal { Journal(path: paths.journal) }

    /// Call with the lock held, after `Recovery`. A refusal is journaled.
    func run(state: MirrorState, current: String?, allowRevoked: Bool) throws -> RollbackReport {
        do {
            return try move(state, current: current, allowRevoked: allowRevoked)
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

    private func move(_ state: MirrorState, current: String?, allowRevoked: Bool) throws -> RollbackReport {
        guard let cur = current else { throw ToolError.refused("'\(paths.root)' has no current version to roll back from") }
        guard let target = Rollback.target(state, current: cur) else {
            throw ToolError.refused("no version older than \(cur) is retained; nothing to roll back to")
        }
        // Only to a version that is still intact, judged by the policy it was applied under.
        let problems = try audit.checkVersion(target)
        guard problems.isEmpty else {
            throw ToolError.refused("version \(target) no longer matches its signed manifest (\(problems[0])); not rolling back to it")
        }
        let allowed = try checkTrustedNow(target, allowRevoked: allowRevoked)
        try Commit(paths: paths, config: audit.config).swapCurrent(to: target)
        let to = try audit.info(target, current: true)
        // Done once `current` moved; if the record cannot be written (a full disk), the next
        // run's `Recovery` journals what is current.
        var fields: [String: JSON] = ["from": .string(cur), "to": .string(target), "sequence": .int(to.sequence),
                                      "manifest": .string(to.manifestDigest), "signer": .string(to.signer),
                                      "signers": .array(to.signers.map { .string($0) })]
        // The admin's choice to return to what the current policy no longer trusts is on record.
        if let allowed { fields["allowedRevoked"] = .array(allowed.map { .string($0) }) }
        try? journal.append("rollback", fields)
        return RollbackReport(from: try audit.info(cur, current: cur == target), to: to, allowedRevoked: allowed)
    }

    /// Refuses a target the current policy no longer accepts (a key it revoked signed it), unless
    /// `allowRevoked`; then returns the revoked keys allowed. nil when the current policy accepts it.
    private func checkTrustedNow(_ target: String, allowRevoked: Bool) throws -> [String]? {
        guard let (revoked, counted) = try audit.untrustedNow(target) else { return nil }
        let policy = audit.config.policy
        let ids = revoked.map(\.idText)
        guard allowRevoked else {
            let why = ids.isEmpty ? "is signed by \(counted) key(s) of the current trust policy (version \(policy.version)), which needs \(policy.threshold)"
                : "is signed by key\(ids.count == 1 ? "" : "s") \(ids.joined(separator: ", ")), revoked by the current trust policy (version \(policy.version)), which needs \(policy.threshold) of its keys and finds \(counted)"
            throw ToolError.refused("version \(target) \(why); not rolling back to it (--allow-revoked rolls back anyway, and the journal records it)")
        }
        return ids
    }
}
