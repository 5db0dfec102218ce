import BundleFormat
import Support

/// Every check of the rule a mirror applies before it adopts a new trust policy, each failure
/// named: the current policy's threshold consents, the new version is above the current one,
/// and the new policy's own threshold signs. `TrustRotation` adopts only when none fails;
/// `bundlectl trust verify` asks the same question on the low side, before the policy travels.
/// Signatures are counted by `Trust` alone.
public struct RotationCheck: Sendable {
    public var current: TrustPolicy
    /// The new policy; nil when it was not read (the current officers had not consented, and a
    /// mirror reads no policy they did not sign).
    public var policy: TrustPolicy?
    public var byCurrent: Trust.Count
    public var byItself: Trust.Count?
    /// Why each check fails, nil where it holds (or, for the last two, was not made).
    public var consent: String?
    public var newer: String?
    public var ownThreshold: String?

    /// What does not hold, in the order a mirror checks it; empty when the policy would be adopted.
    public var problems: [String] { [consent, newer, ownThreshold].compactMap { $0 } }
    public var holds: Bool { problems.isEmpty && policy != nil }

    /// - Parameters:
    ///   - readUnconsented: read and check the new policy even when the current threshold did
    ///     not sign it: the low side checks an officer's own file; a mirror never does.
    init(_ carried: CarriedTrust, against current: TrustPolicy, path: String, readUnconsented: Bool) throws {
        self.current = current
        byCurrent = Trust.count(carried.bytes, carried.signatures, keys: current.keys)
        consent = Trust.refusal(byCurrent, policy: current, what: "TRUST", in: path, role: "the mirror's current trust policy")
        guard consent == nil || readUnconsented else { return }
        let new = try TrustPolicy(canonical: carried.bytes, what: "TRUST in '\(path)'")
        policy = new
        if new.version <= current.version {
            newer = "TRUST in '\(path)' is policy version \(new.version); the pinned policy is version \(current.version): an older or replayed policy is refused"
        }
        let own = Trust.count(carried.bytes, carried.signatures, keys: new.keys)
        byItself = own
        ownThreshold = Trust.refusal(own, policy: new, what: "TRUST", in: path, role: "the new trust policy itself")
    }

    /// Checks a policy file and its signatures (entries named `TRUST.sig.<KEYID>`) against
    /// `current`, naming every check that fails.
    public init(policy bytes: [UInt8], signatures: [SignedEntry], current: TrustPolicy, path: String) throws {
        try self.init(CarriedTrust(bytes: bytes, signatures: signatures), against: current, path: path, readUnconsented: true)
    }
}
