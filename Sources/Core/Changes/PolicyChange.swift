import BundleFormat
import Support

/// What replacing one trust policy with another changes: the keys it adds, the keys it revokes
/// (their signatures stop counting), and the threshold. Keys are told apart by their 32-byte
/// Ed25519 key, never by the key id, as everywhere else.
public struct PolicyChange: Sendable {
    public var from: TrustPolicy
    public var to: TrustPolicy
    public var added: [PublicKey]
    public var revoked: [PublicKey]

    public init(from: TrustPolicy, to: TrustPolicy) {
        self.from = from
        self.to = to
        added = to.keys.filter { k in !from.keys.contains { $0.key == k.key } }
        revoked = from.keys.filter { k in !to.keys.contains { $0.key == k.key } }
    }

    /// "keys added D; revoked A; threshold 1 -> 2", or "same keys and threshold".
    public var text: String {
        var parts: [String] = []
        if !added.isEmpty { parts.append("keys added \(added.map(\.idText).joined(separator: ", "))") }
        if !revoked.isEmpty { parts.append("revoked \(revoked.map(\.idText).joined(separator: ", "))") }
        if from.threshold != to.threshold { parts.append("threshold \(from.threshold) -> \(to.threshold)") }
        return parts.isEmpty ? "same keys and threshold" : parts.joined(separator: "; ")
    }

    /// {"from": policy, "to": policy, "added": [key ids], "revoked": [key ids], "threshold": {"from", "to"}}
    public var json: JSON {
        .object([
            "from": from.summaryJSON, "to": to.summaryJSON,
            "added": .array(added.map { .string($0.idText) }), "revoked": .array(revoked.map { .string($0.idText) }),
            "threshold": .object(["from": .int(Int64(from.threshold)), "to": .int(Int64(to.threshold))]),
        ])
    }
}

extension TrustPolicy {
    /// A policy as every report shows it: {"version", "threshold", "keys": [key ids]}.
    public var summaryJSON: JSON {
        .object(["version": .int(version), "threshold": .int(Int64(threshold)), "keys": .array(keys.map { .string($0.idText) })])
    }
}
