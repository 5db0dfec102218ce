import BundleFormat
import BundleVerify
import Signing
import Support
import SystemIO

/// Trust policy files on the low side: made by `bundlectl trust create`, signed by each officer
/// with `bundlectl trust sign` (one `FILE.sig.<KEYID>` each, minisign format), carried by
/// `bundlectl build --trust-policy FILE`.
public enum TrustFiles {
    public static func create(keys: [PublicKey], threshold: Int, version: Int64, created: Int64, output: String) throws -> TrustPolicy {
        guard version >= 2 else { throw ToolError.usage("--version must be 2 or more: a mirror pins version 1 at init, and a new policy must be newer") }
        let policy = try TrustPolicy(version: version, threshold: threshold, keys: keys, created: created)
        if try FS.info(output) != nil { throw ToolError.usage("'\(output)' exists; choose another name") }
        try FS.writeAtomically(output, policy.canonicalBytes)
        return policy
    }

    /// Signs a policy file; returns the signature file written beside it.
    public static func sign(_ file: String, key: SigningKey, timestamp: Int64) throws -> (TrustPolicy, String) {
        let bytes = try FS.readFile(file, limit: TrustPolicy.maxBytes)
        let policy: TrustPolicy
        do { policy = try TrustPolicy(canonical: bytes, what: "'\(file)'") } catch let e as ToolError { throw ToolError.usage(e.message) }
        let sig = try MinisignCrypto.sign(bytes, secretKey: key.secretKey, keyId: key.keyId,
                                          trustedComment: "timestamp:\(timestamp)\tfile:TRUST\tversion:\(policy.version)",
                                          untrustedComment: "trust policy signature from bundlectl secret key \(key.idText)")
        let out = TrustPolicy.signatureEntry(file, keyId: key.keyId)
        try FS.writeAtomically(out, Array(sig.fileText.utf8))
        return (policy, out)
    }

    /// A policy file and every `FILE.sig.<KEYID>` beside it, read for shape only (each named
    /// after its key, as entries `TRUST.sig.<KEYID>`): whether they are enough is `RotationCheck`'s
    /// to say (`bundlectl trust verify`) or the mirror's.
    public static func read(_ file: String) throws -> (bytes: [UInt8], policy: TrustPolicy, signatures: [SignedEntry]) {
        guard try FS.info(file) != nil else { throw ToolError.usage("trust policy '\(file)' does not exist") }
        let bytes = try FS.readFile(file, limit: TrustPolicy.maxBytes)
        let policy: TrustPolicy
        do { policy = try TrustPolicy(canonical: bytes, what: "'\(file)'") } catch let e as ToolError { throw ToolError.usage(e.message) }
        let dir = FS.parent(of: FS.absolute(file)), base = FS.baseName(file)
        var sigs: [SignedEntry] = []
        for name in try FS.list(dir).sorted() where name.hasPrefix(base + ".sig.") {
            let text = String(decoding: try FS.readFile(dir + "/" + name, limit: 64 << 10), as: UTF8.self)
            let sig = try SignatureFile(text: text, what: "'\(name)'")
            guard name == TrustPolicy.signatureEntry(base, keyId: sig.keyId) else {
                throw ToolError.usage("'\(name)' holds a signature by key \(sig.keyIdText); it must be named \(TrustPolicy.signatureEntry(base, keyId: sig.keyId))")
            }
            sigs.append(SignedEntry(entry: TrustPolicy.signatureEntry("TRUST", keyId: sig.keyId), text: text, file: sig))
        }
        return (bytes, policy, sigs)
    }

    /// A policy file and its signatures, to carry in a bundle: at least one, and none by a key
    /// of the new policy that does not verify (the keys of the policy it replaces are on the
    /// high side; the mirror counts them).
    static func load(_ file: String) throws -> (bytes: [UInt8], signatures: [(String, [UInt8])]) {
        let (bytes, policy, sigs) = try read(file)
        for s in sigs {
            // A new key's signature can be checked here already; a bad one would be refused later.
            if let key = policy.keys.first(where: { $0.keyId == s.file.keyId }), !MinisignCrypto.verify(bytes, signature: s.file, key: key) {
                throw ToolError.usage("'\(TrustPolicy.signatureEntry(FS.baseName(file), keyId: s.file.keyId))' is not a valid signature of '\(file)' by key \(key.idText)")
            }
        }
        guard !sigs.isEmpty else { throw ToolError.usage("trust policy '\(file)' has no signatures beside it; sign it with `bundlectl trust sign`") }
        return (bytes, sigs.map { ($0.entry, Array($0.text.utf8)) })
    }
}
