import BundleFormat
import Sodium
import Support

/// minisign's signing and checking, on libsodium: Ed25519 over BLAKE2b-512 of the message
/// ("ED", prehashed), then a global signature over that signature and the trusted comment.
public enum MinisignCrypto {
    public static func sign(_ message: [UInt8], secretKey: [UInt8], keyId: [UInt8], trustedComment: String, untrustedComment: String) throws -> SignatureFile {
        let prehash = try Blake2b.hash(message, outputLength: 64)
        let sig = try Ed25519.sign(prehash, secretKey: secretKey)
        let global = try Ed25519.sign(sig + Array(trustedComment.utf8), secretKey: secretKey)
        return SignatureFile(keyId: keyId, signature: sig, untrustedComment: untrustedComment, trustedComment: trustedComment, globalSignature: global)
    }

    /// True when both the message signature and the trusted-comment signature hold for `key`.
    public static func verify(_ message: [UInt8], signature: SignatureFile, key: PublicKey) -> Bool {
        guard signature.keyId == key.keyId, let prehash = try? Blake2b.hash(message, outputLength: 64) else { return false }
        return Ed25519.verify(signature.signature, message: prehash, publicKey: key.key)
            && Ed25519.verify(signature.globalSignature, message: signature.signature + Array(signature.trustedComment.utf8), publicKey: key.key)
    }
}
