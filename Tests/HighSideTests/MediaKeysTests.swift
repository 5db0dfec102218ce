@testable import Apply
import BundleFormat
import Support
import Testing

/// Media keys in mirror.json (issue 13, item 1): read back as written, absent from older files,
/// kept across a trust rotation, and refused when they would make a label's signer ambiguous.
@Suite("Media keys: the keys a mirror accepts volume labels from")
struct MediaKeysTests {
    static func key(_ id: UInt8, _ key: UInt8) -> PublicKey {
        PublicKey(keyId: [UInt8](repeating: id, count: 8), key: [UInt8](repeating: key, count: 32))
    }

    let policy = try! TrustPolicy(version: 1, threshold: 1, keys: [key(1, 1), key(2, 2)], created: 1_700_000_000)

    @Test("mirror.json keeps media keys; a file without them reads as none, and is written without them")
    func config() throws {
        var c = MirrorConfig(id: "m", created: 1_700_000_000, policy: policy)
        let plain = c.json.canonicalBytes
        #expect(!String(decoding: plain, as: UTF8.self).contains("mediaKeys"))
        #expect(try MirrorConfig(bytes: plain, path: "mirror.json").mediaKeys == [])
        c.mediaKeys = [Self.key(9, 9)]
        let read = try MirrorConfig(bytes: c.json.canonicalBytes, path: "mirror.json")
        #expect(read == c && read.mediaKeys == [Self.key(9, 9)])
        // A rotation changes the policy, not the media keys.
        let next = try TrustPolicy(version: 2, threshold: 1, keys: [Self.key(3, 3)], created: 1_700_000_001)
        #expect(c.adopting(next, trust: SHA256Digest.of([1]), sequence: 5).mediaKeys == [Self.key(9, 9)])
    }

    @Test("labels may be signed by the policy's keys or a media key; one that is both is listed once")
    func labelKeys() {
        var c = MirrorConfig(id: "m", created: 1_700_000_000, policy: policy)
        c.mediaKeys = [Self.key(2, 2), Self.key(9, 9)]
        #expect(c.labelKeys == [Self.key(1, 1), Self.key(2, 2), Self.key(9, 9)])
        #expect(c.keys == policy.keys, "a media key never joins the keys bundles are counted against")
    }

    @Test("refused: a key given twice, one key under two ids, an id the policy uses for another key", arguments: [
        ([key(9, 9), key(9, 9)], "is given twice"),
        ([key(9, 9), key(8, 9)], "are one public key"),
        ([key(1, 7)], "has the key id of another key of the trust policy (0101010101010101)"),
        ([key(7, 1)], "is the trust policy's key 0101010101010101 under another id"),
    ])
    func refused(_ media: [PublicKey], _ message: String) {
        let e = #expect(throws: ToolError.self) { try MediaKeys.check(media, policy: policy.keys) }
        #expect(e?.status == .usage && e?.message.contains(message) == true, "\(e?.message ?? "")")
    }

    @Test("a bundle signer as a media key is fine")
    func bundleSigner() throws {
        try MediaKeys.check([Self.key(1, 1), Self.key(9, 9)], policy: policy.keys)
    }
}
