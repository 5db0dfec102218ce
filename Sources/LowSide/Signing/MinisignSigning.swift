import BundleFormat
import BundleVerify
import Sodium
import Support

// Only the low side signs (Build: build, co-sign, trust files; MediaWrite: volume labels), so
// signing is a low-side module and `mirrorctl` links no code that makes signatures. It extends
// `MinisignCrypto` so the construction reads beside `verify`, which the tests hold it to.
extension MinisignCrypto {
    /// Signs `message` as minisign does: Ed25519 over its BLAKE2b-512 ("ED", prehashed), then a
    /// global signature over that signature and the trusted comment.
    public static func sign(_ message: [UInt8], secretKey: [UInt8], keyId: [UInt8], trustedComment: String, untrustedComment: String) throws -> SignatureFile {
        let prehash = try Blake2b.hash(message, outputLength: 64)
        let sig = try Ed25519.sign(prehash, secretKey: secretKey)
        let global = try Ed25519.sign(sig + Array(trustedComment.utf8), secretKey: secretKey)
        return SignatureFile(keyId: keyId, signature: sig, untrustedComment: untrustedComment, trustedComment: trustedComment, globalSignature: global)
    }
}
