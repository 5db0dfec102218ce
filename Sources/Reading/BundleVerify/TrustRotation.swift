import BundleFormat
import Support

/// A rotation of the trust policy: the TRUST a bundle carries, checked against the policy the
/// mirror pins and against itself. The current officers consent (the pinned policy's threshold),
/// the new ones prove they hold their keys (the new policy's own threshold), and the version must
/// rise, so an older or replayed policy is refused. Signatures are counted by `Trust.require` only.
struct TrustRotation {
    /// The policy a MANIFEST's signatures are counted against: the carried one once it held,
    /// else the pinned one; nil when nothing is pinned (inspect).
    let effective: TrustPolicy?
    /// The carried policy, for a mirror to adopt; nil when the bundle carries none, or carries
    /// the pinned policy again.
    let update: TrustUpdate?
    /// The bundle carries exactly the pinned policy (the same TRUST bytes, so the same digest):
    /// nothing to adopt. One bundle then serves mirrors that rotated at different times.
    var carriesPinned = false

    init(pinned: TrustPolicy?, carried: CarriedTrust?, path: String) throws {
        guard let carried else {
            (effective, update) = (pinned, nil)
            return
        }
        // Not a replay of an older policy but the one in force: its bytes were checked when it
        // was adopted, so nothing of the carried copy (or its signatures) is used, and the
        // MANIFEST's signatures are counted against the pinned policy as for any bundle.
        // A different TRUST of the same version is not this, and is refused below.
        if let pinned, carried.bytes == pinned.canonicalBytes {
            (effective, update, carriesPinned) = (pinned, nil, true)
            return
        }
        guard let pinned else {
            // Inspecting: the policy is shown, nothing is checked or approved.
            let policy = try TrustPolicy(canonical: carried.bytes, what: "TRUST in '\(path)'")
            (effective, update) = (nil, TrustUpdate(policy: policy, bytes: carried.bytes, signatures: carried.signatures, approvedBy: []))
            return
        }
        let update = try TrustRotation.check(carried, against: pinned, path: path)
        (effective, self.update) = (update.policy, update)
    }

    /// The carried policy, when both thresholds hold and it is newer than `pinned` (the rule is
    /// `RotationCheck`'s); otherwise a refusal naming every check that failed.
    static func check(_ carried: CarriedTrust, against pinned: TrustPolicy, path: String) throws -> TrustUpdate {
        let r = try RotationCheck(carried, against: pinned, path: path, readUnconsented: false)
        guard let new = r.policy, r.holds else { throw ToolError.refused(r.problems.joined(separator: "; ")) }
        return TrustUpdate(policy: new, bytes: carried.bytes, signatures: carried.signatures, approvedBy: r.byCurrent.counted)
    }
}

extension TrustUpdate {
    /// A policy a mirror adopted, read back from where it keeps it, checked as on adoption:
    /// signed by the threshold of `predecessor` and of its own keys, and newer than `predecessor`.
    public init(readingBack bytes: [UInt8], signatures: [SignedEntry], after predecessor: TrustPolicy, path: String) throws {
        self = try TrustRotation.check(CarriedTrust(bytes: bytes, signatures: signatures), against: predecessor, path: path)
    }
}
