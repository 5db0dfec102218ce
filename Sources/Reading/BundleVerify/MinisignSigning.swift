import BundleFormat
import Sodium
import Support

// Only the low side signs (Pack: build and co-sign; MediaWrite: volume labels). It sits here,
// beside `verify`, because both must agree on the same construction; a low-side signing module
// could take this file whole, and the high side would then link no signing code.
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
