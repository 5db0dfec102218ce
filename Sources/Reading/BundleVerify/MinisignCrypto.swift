import BundleFormat
import Sodium
import Support

/// minisign's checking, on libsodium: Ed25519 over BLAKE2b-512 of the message ("ED",
/// prehashed), then a global signature over that signature and the trusted comment.
/// Signing, which only the low side does, is in MinisignSigning.swift.
public enum MinisignCrypto {
    /// True when both the message signature and the trusted-comment signature hold for `key`.
    public static func verify(_ message: [UInt8], signature: SignatureFile, key: PublicKey) -> Bool {
        guard signature.keyId == key.keyId, let prehash = try? Blake2b.hash(message, outputLength: 64) else { return false }
        return Ed25519.verify(signature.signature, message: prehash, publicKey: key.key)
            && Ed25519.verify(signature.globalSignature, message: signature.signature + Array(signature.trustedComment.utf8), publicKey: key.key)
    }
}
