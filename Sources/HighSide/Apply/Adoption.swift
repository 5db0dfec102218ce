import BundleFormat
import BundleVerify
import Support
import SystemIO

/// A rotation of the trust policy made one commit with the swap of `current` (issue 12, item 3).
///
/// Before the swap, `prepare` keeps the carried policy with its signatures under policies/<v>/
/// and writes `adopting.json` beside mirror.json: the version that carries the policy, the
/// policy, and the journal entry that records its adoption. The swap of `current` is the one
/// commit point: the new policy is in force exactly when `current` names that version (`pinned`,
/// which every reader of the policy goes through). `settle` then makes the outcome durable: it
/// writes mirror.json and journals the rotation when the swap happened, or throws the record and
/// the policy away when it did not. `Commit` settles right after its swap (and after a swap that
/// failed); `Recovery` settles under the lock before every change, so `current` never leaves a
/// version whose adoption is still pending.
struct Adoption: Equatable {
    static let format = "airgap-adoption/1"
    static let maxBytes = 256 << 10

    /// The version that carries the policy.
    var version: String
    var policy: TrustPolicy
    /// SHA-256 of the TRUST bytes kept under policies/, and the sequence of the bundle that
    /// carried them: the pin mirror.json's history gains (`PolicyHistory`).
    var trust: SHA256Digest
    var sequence: Int64
    /// The journal's "trust" entry for the rotation.
    var entry: [String: JSON]

    var json: JSON {
        .object(["format": .string(Adoption.format), "versionId": .string(version), "policy": policy.json,
                 "trust": .string(trust.hex), "sequence": .int(sequence), "journal": .object(entry)])
    }

    init(version: String, policy: TrustPolicy, trust: SHA256Digest, sequence: Int64, entry: [String: JSON]) {
        self.version = version
        self.policy = policy
        self.trust = trust
        self.sequence = sequence
        self.entry = entry
    }

    init(bytes: [UInt8], path: String) throws {
        do {
            let o = try JSONObject(JSON.parseCanonical(bytes, what: path), what: path)
            try o.allowOnly(["format", "versionId", "policy", "trust", "sequence", "journal"])
            guard try o.string("format") == Adoption.format else { throw ToolError.refused("it has an unknown format") }
            version = try o.string("versionId")
            guard VersionID.isValid(version) else { throw ToolError.refused("it names a malformed version") }
            policy = try TrustPolicy(canonical: JSON.object(o.object("policy").members).canonicalBytes, what: "its policy")
            trust = try o.digest("trust")
            sequence = try o.int("sequence", max: Manifest.maxSequence)
            entry = try o.object("journal").members
        } catch let e as ToolError {
            throw ToolError.environment("\(path) is damaged (\(e.message)); it records a trust rotation under way")
        }
    }

    /// Whether this rotation is in force: `current` names its version, and its policy is newer
    /// than mirror.json's (or already the one there: adopted, the record not yet removed).
    func inForce(pinned: TrustPolicy, current: String?) -> Bool {
        version == current && (policy.version > pinned.version || policy == pinned)
    }

    /// The configuration in force: mirror.json's, with the policy of a rotation in force.
    static func effective(_ config: MirrorConfig, _ pending: Adoption?, current: String?) -> MirrorConfig {
        guard let pending, pending.inForce(pinned: config.policy, current: current), pending.policy != config.policy else { return config }
        return config.adopting(pending.policy, trust: pending.trust, sequence: pending.sequence)
    }

    /// The configuration in force when `current` names version `current`.
    static func pinned(_ paths: MirrorPaths, current: String?) throws -> MirrorConfig {
        effective(try readConfig(paths), try load(paths), current: current)
    }

    static func readConfig(_ paths: MirrorPaths) throws -> MirrorConfig {
        try MirrorConfig(bytes: FS.readFile(paths.config, limit: maxBytes, followingLinks: false), path: paths.config)
    }

    /// The pending record, if there is one.
    static func load(_ paths: MirrorPaths) throws -> Adoption? {
        guard try FS.info(paths.adoption) != nil else { return nil }
        return try Adoption(bytes: FS.readFile(paths.adoption, limit: maxBytes, followingLinks: false), path: paths.adoption)
    }

    // MARK: Writing

    /// Keeps `update` with its signatures and records it as pending for version `id`, ready for
    /// the swap. `config` is the configuration in force, whose policy approved it.
    @discardableResult
    static func prepare(_ update: TrustUpdate, for id: String, config: MirrorConfig, bundle: String, manifest: SHA256Digest,
                        paths: MirrorPaths) throws -> Adoption {
        // Newer than the pinned policy (TrustRotation checked it), so nothing adopted is replaced.
        let dir = paths.policies + "/\(update.policy.version)"
        try FS.removeTree(dir)
        try FS.makeDirectories(dir)
        try FS.writeAtomically(dir + "/TRUST", update.bytes)
        for sig in update.signatures { try FS.writeAtomically(dir + "/" + sig.entry, Array(sig.text.utf8)) }
        let old = config.policy
        let adoption = Adoption(version: id, policy: update.policy, trust: SHA256Digest.of(update.bytes),
                                sequence: VersionID.sequence(of: id) ?? 0, entry: [
            "bundle": .string(FS.baseName(bundle)),
            "manifest": .string("sha256:" + manifest.hex),
            "versionId": .string(id),
            "from": summary(old),
            "to": summary(update.policy),
            "approvedBy": .array(update.approvedBy.map { .string($0.idText) }),
            "revoked": .array(old.keys.filter { !update.policy.keys.contains($0) }.map { .string($0.idText) }),
        ])
        try FS.writeAtomically(paths.adoption, adoption.json.canonicalBytes)
        return adoption
    }

    private static func summary(_ p: TrustPolicy) -> JSON {
        .object(["version": .int(p.version), "threshold": .int(Int64(p.threshold)), "keys": .array(p.keys.map { .string($0.idText) })])
    }

    /// Completes a pending rotation that `current` (read by the caller) names, or discards one it
    /// does not name, with any policy kept above the pinned one. Idempotent: a run killed half
    /// way is finished by the next. Returns what was discarded, for the journal. Call with the lock held.
    @discardableResult
    static func settle(_ paths: MirrorPaths, current: String?) throws -> [String] {
        let config = try readConfig(paths)
        let pending = try load(paths)
        if let pending, pending.inForce(pinned: config.policy, current: current) {
            try pending.complete(config, paths)
            return []
        }
        var discarded: [String] = []
        if pending != nil {
            try FS.remove(paths.adoption)
            discarded.append("adopting.json")
        }
        guard try FS.info(paths.policies) != nil else { return discarded }
        for name in try FS.list(paths.policies) {
            guard let v = Int64(name), v > config.policy.version else { continue }
            try FS.removeTree(paths.policies + "/" + name)
            discarded.append("policies/\(name)")
        }
        return discarded
    }

    /// mirror.json pins the policy, the rotation is journaled once, and the record goes.
    private func complete(_ config: MirrorConfig, _ paths: MirrorPaths) throws {
        // The swap is durable before anything follows from it.
        try FS.syncDirectory(paths.root)
        if config.policy != policy {
            try FS.writeAtomically(paths.config, config.adopting(policy, trust: trust, sequence: sequence).json.canonicalBytes)
        }
        let journal = Journal(path: paths.journal)
        if try !isLastEntry(journal) { try journal.append("trust", entry) }
        try FS.remove(paths.adoption)
        try FS.syncDirectory(paths.root)
    }

    /// Whether the journal's last line is this rotation's entry: journaled, the record not yet removed.
    private func isLastEntry(_ journal: Journal) throws -> Bool {
        var last: [String: JSON]?
        try journal.scanBackward { raw in
            if case .object(let e)? = try? JSON.parse(raw, what: "journal") { last = e }
            return false
        }
        return last?["event"] == .string("trust") && last?["manifest"] == entry["manifest"] && last?["versionId"] == entry["versionId"]
    }
}

extension MirrorPaths {
    /// A trust rotation under way: written before the swap, settled after it (`Adoption`).
    var adoption: String { root + "/adopting.json" }
}
