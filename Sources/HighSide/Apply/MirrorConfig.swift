import BundleFormat
import BundleVerify
import Support

/// The mirror's configuration: who it trusts. Written by `mirrorctl init`; its trust policy
/// changes only through a policy carried by a bundle and signed by the current threshold, and
/// every policy it pinned stays in `history`, the chain retained versions are judged by.
public struct MirrorConfig: Equatable {
    public static let format = "airgap-mirror/1"
    public var id: String
    public var created: Int64
    public var policy: TrustPolicy
    public var history: PolicyHistory
    /// Keys whose volume labels are accepted besides the policy's (`mirrorctl media-key`). A label
    /// only lets volumes be copied into incoming/: a media key never counts toward a bundle's
    /// threshold, and a trust policy's rotation leaves them as they are.
    public var mediaKeys: [PublicKey] = []
    /// The oldest the current version may be (from its MANIFEST's `created`) before `status` and
    /// `verify` call the mirror stale; nil: no limit (`mirrorctl init --max-age`, `mirrorctl config`).
    public var maxAge: Int64?
    /// Commands the admin configured to run after `current` moves (`Hooks`); never from a bundle.
    public var hooks = HookSettings()
    public var threshold: Int { policy.threshold }
    public var keys: [PublicKey] { policy.keys }

    /// Every key a volume label may be signed by: the policy's, then the media keys.
    public var labelKeys: [PublicKey] { keys + mediaKeys.filter { !keys.contains($0) } }

    var json: JSON {
        var o: [String: JSON] = [
            "format": .string(MirrorConfig.format),
            "id": .string(id),
            "created": .string(Timestamp.format(created)),
            "trust": MirrorConfig.policyJSON(policy),
            "history": history.json,
        ]
        // Written only when there are some: a mirror without media keys keeps the file it had.
        if !mediaKeys.isEmpty { o["mediaKeys"] = .array(mediaKeys.map { .string($0.base64) }) }
        if let maxAge { o["maxAge"] = .string(DurationText.format(maxAge)) }
        if !hooks.isEmpty { o["hooks"] = hooks.json }
        return .object(o)
    }

    /// A new mirror: `policy` is its origin.
    init(id: String, created: Int64, policy: TrustPolicy) {
        self.id = id
        self.created = created
        self.policy = policy
        history = PolicyHistory(origin: policy, adopted: [])
    }

    /// The configuration once `update`, carried by the bundle of `sequence`, is adopted.
    func adopting(_ update: TrustUpdate, sequence: Int64) -> MirrorConfig {
        adopting(update.policy, trust: SHA256Digest.of(update.bytes), sequence: sequence)
    }

    /// The same, from what a pending adoption records: the policy and the digest of its TRUST.
    func adopting(_ policy: TrustPolicy, trust: SHA256Digest, sequence: Int64) -> MirrorConfig {
        var next = self
        next.policy = policy
        next.history = PolicyHistory(origin: history.origin,
                                     adopted: history.adopted + [.init(version: policy.version, sha256: trust, sequence: sequence)])
        return next
    }

    init(bytes: [UInt8], path: String) throws {
        let o = try JSONObject(JSON.parse(bytes, what: path), what: path)
        try o.allowOnly(["format", "id", "created", "trust", "history", "mediaKeys", "maxAge", "hooks"])
        guard try o.string("format") == MirrorConfig.format else { throw ToolError.environment("\(path) has an unknown format") }
        id = try o.string("id")
        created = Timestamp.parse(try o.string("created")) ?? 0
        policy = try MirrorConfig.policy(o.object("trust"), path: path, created: created)
        // Mirrors made before the history was kept: the chain starts at the policy they pin.
        history = o.members["history"] == nil
            ? PolicyHistory(origin: policy, adopted: [])
            : try PolicyHistory(o.object("history"), pinned: policy, path: path, created: created)
        // Mirrors made before media keys existed have none.
        mediaKeys = o.members["mediaKeys"] == nil ? [] : try o.array("mediaKeys").map { v in
            guard case .string(let s) = v else { throw ToolError.environment("\(path): a media key is not a string") }
            return try PublicKey(text: s, what: "a media key in \(path)")
        }
        if o.members["maxAge"] != nil {
            guard let age = DurationText.seconds(try o.string("maxAge")), age > 0 else {
                throw ToolError.environment("\(path): maxAge is not a span such as \"35d\"")
            }
            maxAge = age
        }
        if o.members["hooks"] != nil { hooks = try HookSettings(o.object("hooks"), path: path) }
    }

    static func policyJSON(_ policy: TrustPolicy) -> JSON {
        .object(["threshold": .int(Int64(policy.threshold)), "keys": .array(policy.keys.map { .string($0.base64) }),
                 "version": .int(policy.version), "created": .string(Timestamp.format(policy.created))])
    }

    /// A policy as mirror.json keeps it.
    static func policy(_ t: JSONObject, path: String, created: Int64) throws -> TrustPolicy {
        try t.allowOnly(["threshold", "keys", "version", "created"])
        let keys = try t.array("keys").map { v in
            guard case .string(let s) = v else { throw ToolError.environment("\(path): a trusted key is not a string") }
            return try PublicKey(text: s, what: "a key pinned in \(path)")
        }
        // Mirrors made before policies had versions pinned version 1.
        let version = t.members["version"] == nil ? 1 : try t.int("version", min: 1)
        let policyCreated = (try? t.string("created")).flatMap(Timestamp.parse) ?? created
        do {
            return try TrustPolicy(version: version, threshold: Int(try t.int("threshold", min: 1, max: Int64(TrustPolicy.maxKeys))), keys: keys,
                                   created: policyCreated)
        } catch let e as ToolError {
            throw ToolError.environment("\(path): \(e.message)")
        }
    }
}
