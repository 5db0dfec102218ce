import BundleFormat
import Support

/// The one rule for counting signatures. Every place that decides whether a document is signed
/// well enough calls it: a bundle's MANIFEST and TRUST (`BundleReader`, so `bundlectl verify` and
/// `mirrorctl apply`), a mirror's retained versions (`mirrorctl verify`, `rollback`) and media
/// labels. Changed here, it holds everywhere.
///
/// Counted the way TUF counts a role: valid signatures from distinct keys of the policy (distinct
/// 32-byte public keys, not key ids, which whoever writes a key file chooses). A key's
/// second signature counts once; signatures by keys outside the policy do not count (and are
/// named in a refusal). A signature by a key of the policy that does not verify means the bytes
/// were altered: that is never just "one signature fewer".
public enum Trust {
    public struct Broken: Sendable {
        public var key: PublicKey
        public var entry: String
    }

    public struct Count: Sendable {
        /// Distinct keys of the policy whose signature verified, in signature order.
        public var counted: [PublicKey] = []
        /// Key ids of signatures by keys outside the policy, as shown to people.
        public var outside: [String] = []
        /// The first signature by a key of the policy that does not verify.
        public var broken: Broken?
    }

    /// Counts `signatures` of `bytes` against `keys`.
    public static func count(_ bytes: [UInt8], _ signatures: [SignedEntry], keys: [PublicKey]) -> Count {
        var result = Count()
        for s in signatures {
            guard let key = keys.first(where: { $0.keyId == s.file.keyId }) else {
                result.outside.append(s.file.keyIdText)
                continue
            }
            guard MinisignCrypto.verify(bytes, signature: s.file, key: key) else {
                if result.broken == nil { result.broken = Broken(key: key, entry: s.entry) }
                continue
            }
            // One Ed25519 key is one officer, whatever ids its files carry.
            if !result.counted.contains(where: { $0.key == key.key }) { result.counted.append(key) }
        }
        return result
    }

    /// The keys whose signatures count, when they meet `policy`'s threshold; otherwise the
    /// refusal, naming what signed, what is needed and how many more signatures would do.
    ///
    /// - Parameters:
    ///   - what: the document, as in "the MANIFEST".
    ///   - path: the file it came from.
    ///   - role: whose threshold this is, as in "the trust policy".
    public static func require(_ bytes: [UInt8], _ signatures: [SignedEntry], policy: TrustPolicy,
                               what: String, in path: String, role: String) throws -> [PublicKey] {
        let c = count(bytes, signatures, keys: policy.keys)
        if let refusal = refusal(c, policy: policy, what: what, in: path, role: role) { throw ToolError.refused(refusal) }
        return c.counted
    }

    /// Why `c` does not meet `policy` (a signature that does not verify, or too few), in the
    /// words `require` refuses with; nil when it does. For callers that name every failed check.
    public static func refusal(_ c: Count, policy: TrustPolicy, what: String, in path: String, role: String) -> String? {
        if let broken = c.broken {
            return "the signature by key \(broken.key.idText) (\(broken.entry)) does not match the \(what) of '\(path)': the bundle was altered or damaged"
        }
        guard c.counted.count >= policy.threshold else {
            let valid = c.counted
            let signed = valid.isEmpty ? "no trusted key" : "\(valid.count) trusted key\(valid.count == 1 ? "" : "s") (\(valid.map(\.idText).joined(separator: ", ")))"
            let missing = policy.threshold - valid.count
            let others = c.outside.isEmpty ? "" : "; also signed by key\(c.outside.count == 1 ? "" : "s") \(c.outside.joined(separator: ", ")), not in the policy"
            let keys = policy.keys.map(\.idText).joined(separator: ", ")
            return "the \(what) of '\(path)' is signed by \(signed), but \(role) needs \(policy.threshold) of \(policy.keys.count) (\(keys)): \(missing) more signature\(missing == 1 ? "" : "s") needed\(others)"
        }
        return nil
    }
}
