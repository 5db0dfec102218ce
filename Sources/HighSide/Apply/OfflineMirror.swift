import BundleFormat
import BundleVerify
import Sodium
import Support
import SystemIO

/// The offline mirror: verified versions side by side, `current` pointing at one of them.
///
/// Every change follows one order: verify everything, stage in the mirror's own file system,
/// flush it, then move `current` with a single rename. A crash at any point leaves `current` on a
/// complete, verified version; leftovers of an interrupted apply are removed by the next run.
///
/// The work itself is done by one type per step, each in its own file: `Recovery`, `Admission`,
/// `Staging`, `Commit` and `Record` for an apply (`ApplyBundle.swift` strings them together),
/// `Rollback` (and switch), `Repair`, and `Audit` for status, verify and the receipt.
public final class OfflineMirror {
    let paths: MirrorPaths
    /// The configuration in force when the mirror was opened (read-only commands use it).
    public let config: MirrorConfig
    static let retained = 3

    public var root: String { paths.root }

    /// Creates a mirror folder that trusts `keys` (and the volume labels of `mediaKeys`). Refuses
    /// a folder that is already a mirror.
    public static func initialize(at root: String, keys: [PublicKey], threshold: Int, mediaKeys: [PublicKey] = [],
                                  settings: SettingsChange = SettingsChange()) throws -> OfflineMirror {
        let paths = MirrorPaths(root: root)
        guard !keys.isEmpty else { throw ToolError.usage("give at least one --trust key") }
        guard Set(keys.map(\.keyId)).count == keys.count else { throw ToolError.usage("the same key is given twice") }
        if let (a, b) = TrustPolicy.sharedPublicKey(keys) {
            throw ToolError.usage("key ids \(a.idText) and \(b.idText) are one public key: two files holding one key are one key; give it once")
        }
        guard threshold >= 1 && threshold <= keys.count else {
            throw ToolError.usage("--threshold must be between 1 and the number of keys (\(keys.count))")
        }
        try MediaKeys.check(mediaKeys, policy: keys)
        if let info = try FS.info(root) {
            guard info.kind == .directory || info.kind == .symlink else { throw ToolError.usage("'\(root)' exists and is not a folder") }
            // Before anything is written: a folder another account can write is never made a mirror.
            try MirrorDisk.check(root)
            if try FS.info(paths.config) != nil {
                throw ToolError.usage("'\(root)' is already a mirror; its trusted keys change only through a signed bundle")
            }
        } else {
            try FS.makeDirectories(FS.parent(of: root))
            try FS.makeDirectory(root)
            try MirrorDisk.check(root)
        }
        let now = Timestamp.now()
        var config = MirrorConfig(id: Hex.encode(try Sodium.randomBytes(16)), created: now,
                                  policy: try TrustPolicy(version: 1, threshold: threshold, keys: keys, created: now))
        config.mediaKeys = mediaKeys
        config = settings.applied(to: config)
        try FS.makeDirectory(paths.versions)
        try FS.makeDirectory(paths.staging, mode: 0o700)
        try FS.writeAtomically(paths.state, MirrorState().json.canonicalBytes)
        try FS.writeAtomically(paths.config, config.json.canonicalBytes)
        var entry: [String: JSON] = [
            "mirror": .string(config.id),
            "trust": .array(keys.map { .string($0.idText) }),
            "threshold": .int(Int64(threshold)),
            "policyVersion": .int(1),
        ]
        if !mediaKeys.isEmpty { entry["mediaKeys"] = .array(mediaKeys.map { .string($0.idText) }) }
        if !settings.isEmpty { entry["settings"] = .object(SettingsChange.fields(config)) }
        try Journal(path: paths.journal).append("init", entry)
        return try OfflineMirror(root)
    }

    public init(_ root: String) throws {
        paths = MirrorPaths(root: root)
        guard let info = try FS.info(paths.config), info.kind == .regular else {
            throw ToolError.usage("'\(root)' is not a mirror (no mirror.json); create it with `mirrorctl init`")
        }
        try MirrorDisk.check(root)
        // The policy in force: a rotation counts from the moment `current` names the version
        // that carried it, whether or not mirror.json has caught up (`Adoption`).
        config = try Adoption.pinned(paths, current: (try? paths.currentID()) ?? nil)
    }

    /// The configuration in force now; with the lock held, what a change must use (`config` was
    /// read before the lock, and another run may have rotated the policy since).
    func pinned() throws -> MirrorConfig { try Adoption.pinned(paths, current: paths.currentID()) }

    var journal: Journal { Journal(path: paths.journal) }
    var audit: Audit { Audit(paths: paths, config: config) }
    var recovery: Recovery { Recovery(paths: paths, audit: audit) }
    var record: Record { Record(paths: paths) }
    var replayGuard: ReplayGuard { ReplayGuard(paths: paths) }

    // MARK: Rollback, status and verify

    /// Moves `current` to the newest retained version older than it; to one the current trust
    /// policy no longer accepts (signed by a revoked key) only with `allowRevoked`.
    public func rollback(allowRevoked: Bool = false) throws -> RollbackReport {
        let lock = try MirrorLock(paths)
        defer { _ = lock }
        let (state, current) = try recovery.run()
        return try Rollback(paths: paths, audit: Audit(paths: paths, config: pinned())).run(state: state, current: current, allowRevoked: allowRevoked)
    }

    /// Makes the retained version `version` (an id or a sequence) current: forward again after a
    /// rollback, or back to any retained one. The replay guard stays.
    public func switchTo(_ version: String, allowRevoked: Bool = false) throws -> RollbackReport {
        let lock = try MirrorLock(paths)
        defer { _ = lock }
        let (state, current) = try recovery.run()
        return try Rollback(paths: paths, audit: Audit(paths: paths, config: pinned())).run(state: state, current: current, to: version,
                                                                                          allowRevoked: allowRevoked)
    }

    /// Rebuilds a retained version from the bundle this mirror applied it from (`Repair`).
    public func repair(bundle: String, now: Int64 = Timestamp.now()) throws -> RepairReport {
        try repair(bundle: bundle, now: now, held: nil)
    }

    func repair(bundle: String, now: Int64, held: MirrorLock?) throws -> RepairReport {
        let lock = try held ?? MirrorLock(paths)
        defer { _ = lock }
        let (state, current) = try recovery.run()
        return try Repair(paths: paths, audit: Audit(paths: paths, config: pinned())).run(bundle: bundle, state: state, current: current, now: now)
    }

    public func info(_ id: String, current: Bool) throws -> VersionInfo { try audit.info(id, current: current) }

    public func status() throws -> Status {
        let (state, current) = try replayGuard.current(write: false)
        return try audit.status(state: state, current: current)
    }

    /// Re-checks the active version (one line per problem, empty means intact) and the journal
    /// (what breaks its chain, nil when it holds).
    public func verify() throws -> (VersionInfo?, [String], journal: String?) { try audit.verify(current: paths.currentID()) }

    /// What the low side needs to build a delta against the current version.
    public func receipt() throws -> Receipt { try audit.receipt(current: paths.currentID()) }

    /// Hands the journal's entries to `visit`, in order, as far as its hash chain holds; returns
    /// what broke it, if anything. Streamed: one line in memory at a time.
    public func journalEntries(_ visit: ([String: JSON]) throws -> Void) throws -> String? { try journal.check(visit) }

    /// The journal's line count and the SHA-256 of its last line, to note in a transfer log.
    public func journalHead() throws -> (count: Int, sha256: String) { try journal.head() }
}
