import BundleFormat
import BundleVerify
import Support
import SystemIO

/// A retained version's signatures as they count: against the policy in force at its sequence,
/// found in the mirror's verified chain of policies (`PolicyHistory`), never against anything
/// stored beside the version.
struct VersionTrust {
    var policy: TrustPolicy
    var signatures: [SignedEntry]
    /// The keys whose signatures counted, meeting `policy`'s threshold.
    var signers: [PublicKey]
}

extension Audit {
    /// Counts version `id`'s stored signatures (through `Trust.require`); a refusal names what
    /// does not hold: the policy chain, a signature, the threshold, or the id.
    func judge(_ id: String, _ manifestBytes: [UInt8]) throws -> VersionTrust {
        guard let sequence = VersionID.sequence(of: id) else { throw ToolError.refused("'\(ToolError.shown(id))' is not a version id") }
        let policy: TrustPolicy
        do {
            policy = try config.history.policy(atSequence: sequence, pinned: config.policy, paths: paths)
        } catch let e as ToolError {
            throw ToolError.refused("version \(id) cannot be judged: \(e.message)")
        }
        let signatures = try PolicyHistory.storedSignatures(paths.version(id), of: "MANIFEST", shown: "versions/\(id)")
        if let broken = Trust.count(manifestBytes, signatures, keys: policy.keys).broken {
            throw ToolError.refused("the signature by key \(broken.key.idText) (\(broken.entry)) does not match the stored MANIFEST of version \(id): it was altered")
        }
        let signers = try Trust.require(manifestBytes, signatures, policy: policy, what: "MANIFEST", in: "versions/\(id)",
                                        role: "trust policy version \(policy.version) (in force at its sequence)")
        // Parsed only once its signatures held. Its id chose the policy, so the id must be its own.
        let manifest = try Manifest(canonical: manifestBytes)
        guard VersionID.make(sequence: manifest.sequence, manifest: Manifest.digest(of: manifestBytes)) == id else {
            throw ToolError.refused("the MANIFEST of version \(id) (sequence \(manifest.sequence)) is not the one its id names")
        }
        return VersionTrust(policy: policy, signatures: signatures, signers: signers)
    }

    /// Why the current policy would not accept version `id`, which holds under its own: the
    /// keys it revoked among the version's signers, and how many of its own keys signed.
    /// nil when the current policy accepts it.
    func untrustedNow(_ id: String) throws -> (revoked: [PublicKey], counted: Int)? {
        let bytes = try FS.readFile(paths.version(id) + "/MANIFEST", limit: Manifest.maxBytes)
        let judged = try judge(id, bytes)
        let now = Trust.count(bytes, judged.signatures, keys: config.policy.keys)
        guard now.broken != nil || now.counted.count < config.policy.threshold else { return nil }
        let revoked = judged.signers.filter { k in !config.policy.keys.contains { $0.key == k.key } }
        return (revoked, now.counted.count)
    }
}
