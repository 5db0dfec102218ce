import BundleFormat
import Support

/// A move of `current` done (rollback or switch): from, to, and, when the current policy does
/// not accept the target and the admin allowed it (`--allow-revoked`), the revoked keys among
/// its signers; else nil.
public struct RollbackReport {
    public var from: VersionInfo
    public var to: VersionInfo
    public var allowedRevoked: [String]?
    /// false when the version asked for was current already: nothing moved, nothing journaled.
    public var moved = true
}

/// Moves `current` to another retained version: back to the newest one older than it
/// (`rollback`), or to any retained one the admin names (`switch`, which also goes forward again
/// after a rollback). Only to a version that still matches its signed manifest and whose
/// signatures the current trust policy still accepts (or the admin allowed a revoked key). The
/// replay guard (highest sequence) stays: nothing here lowers it.
struct Rollback {
    let paths: MirrorPaths
    let audit: Audit
    var journal: Journal { Journal(path: paths.journal) }

    /// What names a move in the journal and in its refusals.
    enum Kind: String { case rollback, `switch` }

    /// Call with the lock held, after `Recovery`. A refusal is journaled.
    func run(state: MirrorState, current: String?, allowRevoked: Bool) throws -> RollbackReport {
        try journaling(.rollback) {
            guard let cur = current else { throw ToolError.refused("'\(paths.root)' has no current version to roll back from") }
            guard let target = Rollback.target(state, current: cur) else {
                throw ToolError.refused("no version older than \(cur) is retained; nothing to roll back to")
            }
            return try move(from: cur, to: target, .rollback, allowRevoked: allowRevoked)
        }
    }

    /// Makes the retained version `wanted` (an id or a sequence number) current.
    func run(state: MirrorState, current: String?, to wanted: String, allowRevoked: Bool) throws -> RollbackReport {
        try journaling(.switch) {
            let target = try Rollback.resolve(wanted, in: state)
            guard let cur = current else { throw ToolError.refused("'\(paths.root)' has no current version to switch from") }
            if target == cur {
                let info = try audit.info(cur, current: true)
                return RollbackReport(from: info, to: info, allowedRevoked: nil, moved: false)
            }
            return try move(from: cur, to: target, .switch, allowRevoked: allowRevoked)
        }
    }

    /// The newest retained version older than `current`, by sequence.
    static func target(_ state: MirrorState, current: String) -> String? {
        let curSeq = VersionID.sequence(of: current) ?? 0
        return state.versions.filter { (VersionID.sequence(of: $0) ?? 0) < curSeq }
            .sorted { (VersionID.sequence(of: $0) ?? 0) < (VersionID.sequence(of: $1) ?? 0) }.last
    }

    /// The retained version `wanted` names: its id, or its sequence (sequences only rise, so one
    /// names at most one version). A refusal lists what is retained.
    static func resolve(_ wanted: String, in state: MirrorState) throws -> String {
        if state.versions.contains(wanted) { return wanted }
        if let seq = Int64(wanted), let id = state.versions.first(where: { VersionID.sequence(of: $0) == seq }) { return id }
        let retained = state.versions.sorted { (VersionID.sequence(of: $0) ?? 0) < (VersionID.sequence(of: $1) ?? 0) }
        let what = Int64(wanted) != nil ? "no retained version has sequence \(wanted)" : "'\(ToolError.shown(wanted, limit: 80))' is not a retained version"
        throw ToolError.usage("\(what); retained: \(retained.isEmpty ? "none" : retained.joined(separator: ", ")) (by id or by sequence)")
    }

    private func journaling(_ kind: Kind, _ body: () throws -> RollbackReport) throws -> RollbackReport {
        do {
            return try body()
        } catch let e as ToolError {
            // A mistyped version is the command line's error, not a refusal worth a journal line.
            if e.status != .usage {
                try? journal.append(e.status == .environment ? "fail" : "refuse", ["command": .string(kind.rawValue), "reason": .string(e.message)])
            }
            throw e
        }
    }

    private func move(from cur: String, to target: String, _ kind: Kind, allowRevoked: Bool) throws -> RollbackReport {
        let action = kind == .rollback ? "not rolling back to it" : "not switching to it"
        // Only to a version that is still intact, judged by the policy it was applied under.
        let problems = try audit.checkVersion(target)
        guard problems.isEmpty else {
            let repair = "(`mirrorctl repair` rebuilds it from its bundle)"
            throw ToolError.refused("version \(target) no longer matches its signed manifest (\(problems[0])); \(action) \(repair)")
        }
        let allowed = try checkTrustedNow(target, allowRevoked: allowRevoked, action: action)
        try Commit(paths: paths, config: audit.config).swapCurrent(to: target)
        // checkVersion just read every byte of it: stamp it for the next apply.
        if let (listing, digest) = try? paths.storedListing(target) { try? FileStamps.record(target, paths: paths, listing: listing, listingDigest: digest) }
        let to = try audit.info(target, current: true)
        // Done once `current` moved; if the record cannot be written (a full disk), the next
        // run's `Recovery` journals what is current.
        var fields: [String: JSON] = ["from": .string(cur), "to": .string(target), "sequence": .int(to.sequence),
                                      "manifest": .string(to.manifestDigest), "signer": .string(to.signer),
                                      "signers": .array(to.signers.map { .string($0) })]
        // The admin's choice to return to what the current policy no longer trusts is on record.
        if let allowed { fields["allowedRevoked"] = .array(allowed.map { .string($0) }) }
        try? journal.append(kind.rawValue, fields)
        return RollbackReport(from: try audit.info(cur, current: false), to: to, allowedRevoked: allowed)
    }

    /// Refuses a target the current policy no longer accepts (a key it revoked signed it), unless
    /// `allowRevoked`; then returns the revoked keys allowed. nil when the current policy accepts it.
    private func checkTrustedNow(_ target: String, allowRevoked: Bool, action: String) throws -> [String]? {
        guard let (revoked, counted) = try audit.untrustedNow(target) else { return nil }
        let policy = audit.config.policy
        let ids = revoked.map(\.idText)
        guard allowRevoked else {
            let why = ids.isEmpty ? "is signed by \(counted) key(s) of the current trust policy (version \(policy.version)), which needs \(policy.threshold)"
                : "is signed by key\(ids.count == 1 ? "" : "s") \(ids.joined(separator: ", ")), revoked by the current trust policy (version \(policy.version)), which needs \(policy.threshold) of its keys and finds \(counted)"
            throw ToolError.refused("version \(target) \(why); \(action) (--allow-revoked moves anyway, and the journal records it)")
        }
        return ids
    }
}
