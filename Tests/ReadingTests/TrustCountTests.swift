@testable import BundleVerify
import BundleFormat
import Support
import Testing

@Suite("Trust.count and Trust.require")
struct TrustCountTests {
    static let bytes = Array("the MANIFEST".utf8)
    static let path = "b.tar"

    func require(_ signatures: [SignedEntry], _ p: TrustPolicy) throws -> [PublicKey] {
        try Trust.require(Self.bytes, signatures, policy: p, what: "MANIFEST", in: Self.path, role: "the trust policy")
    }

    @Test("distinct keys of the policy count, in signature order")
    func distinct() throws {
        let c = Trust.count(Self.bytes, [try Keys.b.sign(Self.bytes), try Keys.a.sign(Self.bytes)], keys: [Keys.a, Keys.b].map(\.publicKey))
        #expect(c.counted == [Keys.b.publicKey, Keys.a.publicKey])
        #expect(c.outside.isEmpty)
        #expect(c.broken == nil)
    }

    @Test("a key's second signature counts once")
    func secondSignature() throws {
        let sigs = [try Keys.a.sign(Self.bytes), try Keys.a.sign(Self.bytes, entry: "MANIFEST.sig.\(Keys.a.id)")]
        #expect(Trust.count(Self.bytes, sigs, keys: [Keys.a, Keys.b].map(\.publicKey)).counted == [Keys.a.publicKey])
        let error = #expect(throws: ToolError.self) { try require(sigs, policy(1, 2, [Keys.a, Keys.b])) }
        #expect(error?.message == "the MANIFEST of 'b.tar' is signed by 1 trusted key (\(Keys.a.id)), but the trust policy needs 2 of 2 (\(Keys.a.id), \(Keys.b.id)): 1 more signature needed")
    }

    @Test("one Ed25519 key under two key ids is one officer (issue 12, item 2)")
    func oneKeyTwoIDs() throws {
        // The same 32-byte key written with another 8-byte id: the signature carries only the id.
        let twin = PublicKey(keyId: [UInt8](repeating: 0xAB, count: 8), key: Keys.a.publicKey.key)
        var second = try Keys.a.sign(Self.bytes, entry: "MANIFEST.sig.\(twin.idText)")
        second.file = SignatureFile(keyId: twin.keyId, signature: second.file.signature, untrustedComment: second.file.untrustedComment,
                                    trustedComment: second.file.trustedComment, globalSignature: second.file.globalSignature)
        let c = Trust.count(Self.bytes, [try Keys.a.sign(Self.bytes), second], keys: [Keys.a.publicKey, twin, Keys.b.publicKey])
        #expect(c.broken == nil)
        #expect(c.counted == [Keys.a.publicKey])
        let error = #expect(throws: ToolError.self) { try TrustPolicy(version: 1, threshold: 2, keys: [Keys.a.publicKey, twin], created: 0) }
        #expect(error?.message == "the trust policy names one public key twice, as key ids \(Keys.a.id) and \(twin.idText): two files holding one key are one key")
    }

    @Test("signatures by keys outside the policy do not count, and are named")
    func outsiders() throws {
        let sigs = [try Keys.outsider.sign(Self.bytes), try Keys.c.sign(Self.bytes)]
        let c = Trust.count(Self.bytes, sigs, keys: [Keys.a, Keys.b].map(\.publicKey))
        #expect(c.counted.isEmpty)
        #expect(c.outside == [Keys.outsider.id, Keys.c.id])
        let error = #expect(throws: ToolError.self) { try require(sigs, policy(1, 2, [Keys.a, Keys.b])) }
        #expect(error?.message == "the MANIFEST of 'b.tar' is signed by no trusted key, but the trust policy needs 2 of 2 (\(Keys.a.id), \(Keys.b.id)): 2 more signatures needed; also signed by keys \(Keys.outsider.id), \(Keys.c.id), not in the policy")
    }

    @Test("one outsider is named in the singular")
    func oneOutsider() throws {
        let error = #expect(throws: ToolError.self) { try require([try Keys.outsider.sign(Self.bytes)], policy(1, 1, [Keys.a])) }
        #expect(error?.message == "the MANIFEST of 'b.tar' is signed by no trusted key, but the trust policy needs 1 of 1 (\(Keys.a.id)): 1 more signature needed; also signed by key \(Keys.outsider.id), not in the policy")
    }

    @Test("a broken signature by a policy key is refused, even when the threshold is met")
    func broken() throws {
        let forged = try Keys.b.sign(Array("other bytes".utf8), entry: "MANIFEST.sig.\(Keys.b.id)")
        let sigs = [try Keys.a.sign(Self.bytes), forged]
        let c = Trust.count(Self.bytes, sigs, keys: [Keys.a, Keys.b].map(\.publicKey))
        #expect(c.counted == [Keys.a.publicKey])
        #expect(c.broken?.key == Keys.b.publicKey)
        #expect(c.broken?.entry == "MANIFEST.sig.\(Keys.b.id)")
        let error = #expect(throws: ToolError.self) { try require(sigs, policy(1, 1, [Keys.a, Keys.b])) }
        #expect(error?.message == "the signature by key \(Keys.b.id) (MANIFEST.sig.\(Keys.b.id)) does not match the MANIFEST of 'b.tar': the bundle was altered or damaged")
    }

    @Test("an altered trusted comment breaks the signature")
    func alteredComment() throws {
        var sig = try Keys.a.sign(Self.bytes)
        sig.file.trustedComment += " extended"
        #expect(Trust.count(Self.bytes, [sig], keys: [Keys.a.publicKey]).broken?.key == Keys.a.publicKey)
    }

    @Test("a broken signature by an outsider is only an outsider")
    func brokenOutsider() throws {
        let c = Trust.count(Self.bytes, [try Keys.outsider.sign(Array("x".utf8))], keys: [Keys.a.publicKey])
        #expect(c.broken == nil)
        #expect(c.outside == [Keys.outsider.id])
    }

    @Test("the threshold met, the counted keys are returned", arguments: [1, 2, 3])
    func met(_ threshold: Int) throws {
        let sigs = try [Keys.c, Keys.a, Keys.b].map { try $0.sign(Self.bytes) }
        #expect(try require(sigs, policy(1, threshold, [Keys.a, Keys.b, Keys.c])) == [Keys.c, Keys.a, Keys.b].map(\.publicKey))
    }

    @Test("the refusal says how many more signatures would do")
    func missing() throws {
        let error = #expect(throws: ToolError.self) { try require([try Keys.a.sign(Self.bytes)], policy(1, 3, [Keys.a, Keys.b, Keys.c])) }
        #expect(error?.message == "the MANIFEST of 'b.tar' is signed by 1 trusted key (\(Keys.a.id)), but the trust policy needs 3 of 3 (\(Keys.a.id), \(Keys.b.id), \(Keys.c.id)): 2 more signatures needed")
        let two = #expect(throws: ToolError.self) { try require(try [Keys.a, Keys.b].map { try $0.sign(Self.bytes) }, policy(1, 3, [Keys.a, Keys.b, Keys.c])) }
        #expect(two?.message.contains("signed by 2 trusted keys (\(Keys.a.id), \(Keys.b.id))") == true)
    }
}
