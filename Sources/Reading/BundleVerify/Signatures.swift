import BundleFormat
import Support

/// One minisign signature file as stored in a bundle.
public struct SignedEntry: Sendable {
    public var entry: String
    public var text: String
    public var file: SignatureFile
}

/// A new trust policy found in a bundle, with the signatures that carried it.
public struct TrustUpdate: Sendable {
    public var policy: TrustPolicy
    public var bytes: [UInt8]
    public var signatures: [SignedEntry]
    /// The keys of the pinned policy that approved it.
    public var approvedBy: [PublicKey]
}

/// A document and its signatures, counted against a policy the way TUF counts a role:
/// valid signatures from distinct keys of the policy. A key's second signature counts once;
/// signatures by keys outside the policy do not count (and are named in a refusal). A signature
/// by a key of the policy that does not verify means the bytes were altered: refused outright.
struct SignedDocument {
    var what: String
    var bytes: [UInt8]
    var signatures: [SignedEntry]

    func require(_ policy: TrustPolicy, in path: String, role: String) throws -> [PublicKey] {
        var valid: [PublicKey] = []
        var untrusted: [String] = []
        for s in signatures {
            guard let key = policy.keys.first(where: { $0.keyId == s.file.keyId }) else {
                untrusted.append(s.file.keyIdText)
                continue
            }
            guard MinisignCrypto.verify(bytes, signature: s.file, key: key) else {
                throw ToolError.refused("the signature by key \(key.idText) (\(s.entry)) does not match the \(what) of '\(path)': the bundle was altered or damaged")
            }
            if !valid.contains(key) { valid.append(key) }
        }
        guard valid.count >= policy.threshold else {
            let signed = valid.isEmpty ? "no trusted key" : "\(valid.count) trusted key\(valid.count == 1 ? "" : "s") (\(valid.map(\.idText).joined(separator: ", ")))"
            let missing = policy.threshold - valid.count
            let others = untrusted.isEmpty ? "" : "; also signed by key\(untrusted.count == 1 ? "" : "s") \(untrusted.joined(separator: ", ")), not in the policy"
            let keys = policy.keys.map(\.idText).joined(separator: ", ")
            throw ToolError.refused("the \(what) of '\(path)' is signed by \(signed), but \(role) needs \(policy.threshold) of \(policy.keys.count) (\(keys)): \(missing) more signature\(missing == 1 ? "" : "s") needed\(others)")
        }
        return valid
    }
}
