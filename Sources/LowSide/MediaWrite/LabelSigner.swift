import BundleFormat
import BundleVerify
import Media
import Signing
import Support

/// The key that signs volume labels (minisign's Ed25519, like MANIFEST.sig). Labels are signed
/// here and nowhere else; they are checked by `SignedLabel.verify`, which counts through `Trust`.
public struct LabelSigner {
    public var secretKey: [UInt8]
    public var keyId: [UInt8]

    public init(secretKey: [UInt8], keyId: [UInt8]) {
        self.secretKey = secretKey
        self.keyId = keyId
    }

    public var keyIdText: String { Minisign.keyIdText(keyId) }

    /// The label's 4096 bytes, signed.
    func encode(_ label: VolumeLabel) throws -> [UInt8] {
        let signature = try MinisignCrypto.sign(label.message, secretKey: secretKey, keyId: keyId,
                                                trustedComment: label.trustedComment, untrustedComment: VolumeLabel.untrustedComment)
        return try label.encode(signature: signature)
    }

    /// Each volume's label and its signed bytes, once every payload digest is known.
    func signedLabels(_ plan: VolumePlan, payloads: [SHA256Digest]) throws -> [(label: VolumeLabel, bytes: [UInt8])] {
        try plan.labels(payloads: payloads).map { ($0, try encode($0)) }
    }
}
