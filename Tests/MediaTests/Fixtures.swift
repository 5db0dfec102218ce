import BundleFormat
@testable import Media
@testable import MediaWrite
import Sodium
import Support

/// Keys from fixed seeds, so a failing test shows the same bytes every run.
struct TestKey {
    let signer: LabelSigner
    let publicKey: PublicKey

    init(seed: UInt8) throws {
        let pair = try Ed25519.keyPair(seed: [UInt8](repeating: seed, count: Ed25519.seedBytes))
        let keyId = [UInt8](repeating: seed &+ 1, count: 8)
        signer = LabelSigner(secretKey: pair.secretKey, keyId: keyId)
        publicKey = PublicKey(keyId: keyId, key: pair.publicKey)
    }
}

func digest(_ text: String) -> SHA256Digest { SHA256Digest.of(Array(text.utf8)) }

func bundle(size: Int64, name: String = "feeds", sequence: Int64 = 7, file: String = "feeds-7.bundle") -> VolumeLabel.Bundle {
    VolumeLabel.Bundle(file: file, name: name, sequence: sequence, size: size, manifest: digest("manifest of \(name) \(sequence)"))
}

/// Volumes as `media verify` would have checked them: the plan's labels, signed, decoded again,
/// found intact, at "/media/disc/NAME".
func checkedVolumes(_ plan: VolumePlan, key: TestKey, payloads: [SHA256Digest]? = nil) throws -> [VolumeCheck] {
    let payloads = payloads ?? plan.volumes.map { digest("payload \($0.number)") }
    return try key.signer.signedLabels(plan, payloads: payloads).map { signed in
        var check = VolumeCheck(source: "/media/disc/" + signed.label.fileName, size: signed.label.length + Int64(VolumeLabel.size))
        check.signed = try VolumeLabel.decode(signed.bytes, what: "test")
        check.signer = key.publicKey
        check.payloadDigest = signed.label.payload
        return check
    }
}

/// A 3-volume plan of a bundle that is 2.5 volumes long (1 MiB volumes).
func threeVolumePlan(name: String = "feeds", sequence: Int64 = 7) throws -> VolumePlan {
    try VolumePlan(bundle: bundle(size: 1_044_480 * 2 + 500_000, name: name, sequence: sequence), size: VolumeSize(bytes: 1 << 20), iso: false)
}
