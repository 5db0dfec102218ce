@testable import BundleVerify
import BundleFormat
import Support
import Testing

@Suite("Trust rotation")
struct TrustRotationTests {
    static let path = "b.tar"

    func carried(_ p: TrustPolicy, signedBy keys: [TestKey]) throws -> CarriedTrust {
        let bytes = p.canonicalBytes
        return CarriedTrust(bytes: bytes, signatures: try keys.map { try $0.sign(bytes, entry: "TRUST.sig.\($0.id)") })
    }

    @Test("a newer policy signed by both thresholds becomes the effective one")
    func adopted() throws {
        let pinned = try policy(1, 2, [Keys.a, Keys.b])
        let new = try policy(2, 2, [Keys.b, Keys.c])
        let r = try TrustRotation(pinned: pinned, carried: carried(new, signedBy: [Keys.a, Keys.b, Keys.c]), path: Self.path)
        #expect(r.effective == new)
        #expect(r.update?.policy == new)
        #expect(r.update?.approvedBy == [Keys.a.publicKey, Keys.b.publicKey])
        #expect(r.update?.signatures.count == 3)
    }

    @Test("an older policy, or another of the pinned version, is refused", arguments: [(Int64(1), Int64(1)), (1, 3), (2, 3)])
    func replayed(_ version: Int64, _ pinnedVersion: Int64) throws {
        let pinned = try policy(pinnedVersion, 1, [Keys.a])
        let trust = try carried(policy(version, 1, [Keys.a, Keys.b]), signedBy: [Keys.a])
        let error = #expect(throws: ToolError.self) { try TrustRotation(pinned: pinned, carried: trust, path: Self.path) }
        #expect(error?.message == "TRUST in 'b.tar' is policy version \(version); the pinned policy is version \(pinnedVersion): an older or replayed policy is refused")
    }

    @Test("the pinned policy carried again (the same bytes) is no change: counted against the pinned one, nothing to adopt")
    func carriedAgain() throws {
        let pinned = try policy(2, 1, [Keys.b])
        // Even unsigned: nothing of the carried copy is used.
        let r = try TrustRotation(pinned: pinned, carried: CarriedTrust(bytes: pinned.canonicalBytes), path: Self.path)
        #expect(r.effective == pinned && r.update == nil && r.carriesPinned)
    }

    @Test("the pinned policy's threshold must consent")
    func needsOld() throws {
        let pinned = try policy(1, 2, [Keys.a, Keys.b])
        let trust = try carried(policy(2, 1, [Keys.c]), signedBy: [Keys.b, Keys.c])
        let error = #expect(throws: ToolError.self) { try TrustRotation(pinned: pinned, carried: trust, path: Self.path) }
        #expect(error?.message == "the TRUST of 'b.tar' is signed by 1 trusted key (\(Keys.b.id)), but the mirror's current trust policy needs 2 of 2 (\(Keys.a.id), \(Keys.b.id)): 1 more signature needed; also signed by key \(Keys.c.id), not in the policy")
    }

    @Test("the new policy's own threshold must sign: its officers prove they hold their keys")
    func needsNew() throws {
        let pinned = try policy(1, 1, [Keys.a])
        let trust = try carried(policy(2, 2, [Keys.b, Keys.c]), signedBy: [Keys.a, Keys.b])
        let error = #expect(throws: ToolError.self) { try TrustRotation(pinned: pinned, carried: trust, path: Self.path) }
        #expect(error?.message == "the TRUST of 'b.tar' is signed by 1 trusted key (\(Keys.b.id)), but the new trust policy itself needs 2 of 2 (\(Keys.b.id), \(Keys.c.id)): 1 more signature needed; also signed by key \(Keys.a.id), not in the policy")
    }

    @Test("a broken signature on TRUST by a pinned key is refused")
    func broken() throws {
        let pinned = try policy(1, 1, [Keys.a, Keys.b])
        var trust = try carried(policy(2, 1, [Keys.a]), signedBy: [Keys.a])
        trust.signatures.append(try Keys.b.sign(Array("other".utf8), entry: "TRUST.sig.\(Keys.b.id)"))
        let error = #expect(throws: ToolError.self) { try TrustRotation(pinned: pinned, carried: trust, path: Self.path) }
        #expect(error?.message == "the signature by key \(Keys.b.id) (TRUST.sig.\(Keys.b.id)) does not match the TRUST of 'b.tar': the bundle was altered or damaged")
    }

    @Test("without a carried policy the pinned one stays")
    func none() throws {
        let pinned = try policy(3, 1, [Keys.a])
        let r = try TrustRotation(pinned: pinned, carried: nil, path: Self.path)
        #expect(r.effective == pinned)
        #expect(r.update == nil)
    }

    @Test("inspecting (nothing pinned) shows the carried policy, approved by no one")
    func inspect() throws {
        let new = try policy(2, 1, [Keys.c])
        let r = try TrustRotation(pinned: nil, carried: carried(new, signedBy: []), path: Self.path)
        #expect(r.effective == nil)
        #expect(r.update?.policy == new)
        #expect(r.update?.approvedBy.isEmpty == true)
    }

    @Test("every failed check is named, in the mirror's order; the low side reads a policy its current officers did not sign")
    func everyCheckNamed() throws {
        let pinned = try policy(2, 1, [Keys.a])
        let trust = try carried(policy(2, 2, [Keys.b, Keys.c]), signedBy: [Keys.a, Keys.b])
        let error = #expect(throws: ToolError.self) { try TrustRotation(pinned: pinned, carried: trust, path: Self.path) }
        #expect(error?.message == "TRUST in 'b.tar' is policy version 2; the pinned policy is version 2: an older or replayed policy is refused; the TRUST of 'b.tar' is signed by 1 trusted key (\(Keys.b.id)), but the new trust policy itself needs 2 of 2 (\(Keys.b.id), \(Keys.c.id)): 1 more signature needed; also signed by key \(Keys.a.id), not in the policy")

        let unsigned = try carried(policy(3, 1, [Keys.c]), signedBy: [Keys.c])
        let low = try RotationCheck(policy: unsigned.bytes, signatures: unsigned.signatures, current: pinned, path: Self.path)
        #expect(low.consent != nil && low.newer == nil && low.ownThreshold == nil && !low.holds)
        #expect(low.policy?.version == 3 && low.byItself?.counted == [Keys.c.publicKey])
        // A mirror stops at the missing consent: the policy is never parsed.
        let high = try RotationCheck(unsigned, against: pinned, path: Self.path, readUnconsented: false)
        #expect(high.policy == nil && high.problems == [low.consent!])
    }
}
