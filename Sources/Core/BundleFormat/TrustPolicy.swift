import Support

/// Who may sign bundles for a mirror: a set of keys and how many of them must sign (TUF's root
/// role, reduced to what an air-gapped mirror needs).
///
/// A mirror pins one at `mirrorctl init` (version 1). A newer one travels inside a bundle as
/// TRUST; it is adopted only when signed by the threshold of the pinned policy and by the
/// threshold of its own keys, so a rotation needs the old officers' consent and proves the new
/// officers hold their keys. Keys it leaves out are revoked: their signatures stop counting.
public struct TrustPolicy: Equatable, Sendable {
    public static let format = "airgap-trust/1"
    public static let maxKeys = 32
    public static let maxBytes = 64 << 10

    /// Higher replaces lower. 0 is an ad-hoc policy (`bundlectl verify --trust`), never stored.
    public var version: Int64
    public var threshold: Int
    public var keys: [PublicKey]
    public var created: Int64

    public init(version: Int64, threshold: Int, keys: [PublicKey], created: Int64) throws {
        self.version = version
        self.threshold = threshold
        self.keys = keys
        self.created = created
        try validate(what: "the trust policy", error: ToolError.usage)
    }

    private func validate(what: String, error: (String) -> ToolError) throws {
        guard !keys.isEmpty, keys.count <= TrustPolicy.maxKeys else { throw error("\(what) must name 1 to \(TrustPolicy.maxKeys) keys") }
        guard Set(keys.map(\.keyId)).count == keys.count else { throw error("\(what) names the same key twice") }
        if let (a, b) = TrustPolicy.sharedPublicKey(keys) {
            throw error("\(what) names one public key twice, as key ids \(a.idText) and \(b.idText): two files holding one key are one key")
        }
        guard threshold >= 1 && threshold <= keys.count else {
            throw error("\(what) has threshold \(threshold); it must be between 1 and the number of keys (\(keys.count))")
        }
    }

    /// The first two keys that hold the same 32-byte Ed25519 key under different key ids. Keys are
    /// told apart by that key, never by the 8-byte id, which whoever writes the file chooses.
    public static func sharedPublicKey(_ keys: [PublicKey]) -> (PublicKey, PublicKey)? {
        var seen: [[UInt8]: PublicKey] = [:]
        for k in keys {
            if let first = seen[k.key], first.keyId != k.keyId { return (first, k) }
            seen[k.key] = seen[k.key] ?? k
        }
        return nil
    }

    public var json: JSON {
        .object([
            "format": .string(TrustPolicy.format),
            "version": .int(version),
            "threshold": .int(Int64(threshold)),
            "keys": .array(keys.map { .string($0.base64) }),
            "created": .string(Timestamp.format(created)),
        ])
    }

    public var canonicalBytes: [UInt8] { json.canonicalBytes }

    /// Parses a policy document. As with a manifest, call only after its signatures held.
    public init(canonical bytes: [UInt8], what: String) throws {
        guard bytes.count <= TrustPolicy.maxBytes else { throw ToolError.refused("\(what) is larger than \(TrustPolicy.maxBytes) bytes") }
        let o = try JSONObject(JSON.parseCanonical(bytes, what: what), what: what)
        let format = try o.string("format")
        guard format == TrustPolicy.format else { throw ToolError.refused("\(what) has format \"\(ToolError.shown(format))\"; this tool reads \"\(TrustPolicy.format)\"") }
        try o.allowOnly(["format", "version", "threshold", "keys", "created"])
        version = try o.int("version", min: 1)
        threshold = Int(try o.int("threshold", min: 1, max: Int64(TrustPolicy.maxKeys)))
        keys = try o.array("keys").map { v in
            guard case .string(let s) = v else { throw ToolError.refused("\(what): a key is not a string") }
            do { return try PublicKey(text: s, what: "a key in \(what)") } catch let e as ToolError { throw ToolError.refused(e.message) }
        }
        guard let c = Timestamp.parse(try o.string("created")) else { throw ToolError.refused("\(what): \"created\" is not an RFC 3339 UTC time") }
        created = c
        try validate(what: what, error: ToolError.refused)
    }

    public var summary: String {
        "version \(version): \(threshold) of \(keys.count) (\(keys.map(\.idText).joined(separator: ", ")))"
    }

    /// The entry name of a co-signature by `keyId` next to `base` ("MANIFEST.sig.<ID>").
    public static func signatureEntry(_ base: String, keyId: [UInt8]) -> String { "\(base).sig.\(Minisign.keyIdText(keyId))" }
}
