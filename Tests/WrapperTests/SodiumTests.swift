import Sodium
import Support
import Testing

@Suite("libsodium wrapper")
struct SodiumTests {
    struct Vector: Sendable, CustomTestStringConvertible {
        var seed: String, publicKey: String, message: String, signature: String
        var testDescription: String { "message of \(message.count / 2) bytes" }
    }

    /// RFC 8032, section 7.1, tests 1 to 3.
    static let rfc8032 = [
        Vector(seed: "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
               publicKey: "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a", message: "",
               signature: "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b"),
        Vector(seed: "4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb",
               publicKey: "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c", message: "72",
               signature: "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00"),
        Vector(seed: "c5aa8df43f9f837bedb7442f31dcb7b166d38535076f094b85ce3a2e0b4458f7",
               publicKey: "fc51cd8e6218a1a38da47ed00230f0580816ed13ba3303ac5deb911548908025", message: "af82",
               signature: "6291d657deec24024827e69c3abe01a30ce548a284743a445e3680d7db5ac3ac18ff9b538d16f290ae67f760984dc6594a7c15e9716ed28dc027beceea1ec40a"),
    ]

    @Test("RFC 8032 Ed25519 vectors", arguments: rfc8032)
    func ed25519(_ v: Vector) throws {
        let (pk, sk) = try Ed25519.keyPair(seed: Hex.decode(v.seed)!)
        #expect(Hex.encode(pk) == v.publicKey)
        let msg = Hex.decode(v.message)!
        let sig = try Ed25519.sign(msg, secretKey: sk)
        #expect(Hex.encode(sig) == v.signature)
        #expect(Ed25519.verify(sig, message: msg, publicKey: pk))
        var bad = sig
        bad[10] ^= 1
        #expect(!Ed25519.verify(bad, message: msg, publicKey: pk))
        #expect(!Ed25519.verify(sig, message: msg + [0], publicKey: pk))
    }

    @Test("BLAKE2b-512 of \"abc\" (RFC 7693 appendix A)")
    func blake2b() throws {
        #expect(Hex.encode(try Blake2b.hash(Array("abc".utf8))) ==
            "ba80a53f981c4d0d6a2797b69f12f6e94c212f14685ac4b74b12bb6fdbffa2d17d87c5392aab792dc252d5de4533cc9518d38aa8dbf1925ab92386edd4009923")
    }

    @Test("a secret key whose halves disagree is caught")
    func consistency() throws {
        var (_, sk) = try Ed25519.generate()
        #expect(Ed25519.isConsistent(secretKey: sk))
        sk[40] ^= 1
        #expect(!Ed25519.isConsistent(secretKey: sk))
    }

    @Test("SHA-256 of \"abc\" (FIPS 180-2)")
    func sha256() {
        #expect(SHA256Digest.of(Array("abc".utf8)).hex == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
    }
}
