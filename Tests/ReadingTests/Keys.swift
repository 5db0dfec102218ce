@testable import BundleVerify
import BundleFormat
import Signing
import Sodium
import Support

/// Real Ed25519 keys from fixed seeds, signing as minisign does.
struct TestKey {
    let publicKey: PublicKey
    let secretKey: [UInt8]

    init(_ n: UInt8) throws {
        let (pk, sk) = try Ed25519.keyPair(seed: [UInt8](repeating: n, count: Ed25519.seedBytes))
        publicKey = PublicKey(keyId: [UInt8](repeating: n, count: 8), key: pk)
        secretKey = sk
    }

    var id: String { publicKey.idText }

    func sign(_ bytes: [UInt8], entry: String = "MANIFEST.sig") throws -> SignedEntry {
        let file = try MinisignCrypto.sign(bytes, secretKey: secretKey, keyId: publicKey.keyId,
                                           trustedComment: "timestamp:0", untrustedComment: "signature from test key")
        return SignedEntry(entry: entry, text: file.fileText, file: file)
    }
}

enum Keys {
    static let a = try! TestKey(1)
    static let b = try! TestKey(2)
    static let c = try! TestKey(3)
    /// Never in any policy.
    static let outsider = try! TestKey(9)
}

func policy(_ version: Int64, _ threshold: Int, _ keys: [TestKey]) throws -> TrustPolicy {
    try TrustPolicy(version: version, threshold: threshold, keys: keys.map(\.publicKey), created: 0)
}
