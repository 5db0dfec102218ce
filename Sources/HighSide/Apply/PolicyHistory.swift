import BundleFormat
import BundleVerify
import Support
import SystemIO

/// The trust policies a mirror has pinned, in order: the one `init` pinned (the origin, kept
/// whole in mirror.json), then each one adopted from a bundle, which mirror.json pins by version,
/// the SHA-256 of its TRUST bytes and the sequence of the bundle that carried it. The bytes and
/// their signatures stay under policies/<version>/; read back, each must match its pin and be
/// signed by its predecessor's threshold and its own, as on adoption.
///
/// A version is judged by the policy in force at its sequence, found here: never by anything
/// stored beside it, so nothing written into versions/ adds a key or a policy.
public struct PolicyHistory: Equatable, Sendable {
    /// One adopted policy as mirror.json pins it.
    public struct Pin: Equatable, Sendable {
        public var version: Int64
        public var sha256: SHA256Digest
        /// The sequence of the bundle that carried it: versions from this sequence on were
        /// applied under it (sequences only rise, so the eras do not overlap).
        public var sequence: Int64
    }

    public var origin: TrustPolicy
    public var adopted: [Pin]

    /// The history after `update`, carried by the bundle of `sequence`, was adopted.
    func adding(_ update: TrustUpdate, sequence: Int64) -> PolicyHistory {
        PolicyHistory(origin: origin, adopted: adopted + [Pin(version: update.policy.version, sha256: SHA256Digest.of(update.bytes), sequence: sequence)])
    }

    /// The policy versions of `sequence` were applied under. From the last adoption on that is
    /// `pinned` (mirror.json's own); before it, each adopted policy up to that era is read from
    /// policies/ and checked against its pin and its predecessor.
    func policy(atSequence sequence: Int64, pinned: TrustPolicy, paths: MirrorPaths) throws -> TrustPolicy {
        let era = adopted.prefix { $0.sequence <= sequence }.count
        if era == adopted.count { return pinned }
        var policy = origin
        for pin in adopted.prefix(era) { policy = try PolicyHistory.readBack(pin, after: policy, paths: paths) }
        return policy
    }

    /// An adopted policy read from policies/<version>/, as it was checked when adopted.
    static func readBack(_ pin: Pin, after predecessor: TrustPolicy, paths: MirrorPaths) throws -> TrustPolicy {
        let dir = paths.policies + "/\(pin.version)"
        let shown = "policies/\(pin.version)/TRUST"
        guard let info = try FS.info(dir + "/TRUST"), info.kind == .regular else {
            throw ToolError.refused("\(shown), trust policy version \(pin.version) adopted at sequence \(pin.sequence), is missing")
        }
        let bytes = try FS.readFile(dir + "/TRUST", limit: TrustPolicy.maxBytes)
        guard SHA256Digest.of(bytes) == pin.sha256 else {
            throw ToolError.refused("\(shown) does not match the SHA-256 mirror.json pins for trust policy version \(pin.version): it was altered")
        }
        let signatures = try storedSignatures(dir, of: "TRUST", shown: "policies/\(pin.version)")
        let update = try TrustUpdate(readingBack: bytes, signatures: signatures, after: predecessor, path: shown)
        guard update.policy.version == pin.version else {
            throw ToolError.refused("\(shown) is policy version \(update.policy.version); mirror.json pins version \(pin.version)")
        }
        return update.policy
    }

    /// The signatures of `document` kept in `dir` ("<document>.sig", "<document>.sig.<key id>"),
    /// at most two per policy key.
    static func storedSignatures(_ dir: String, of document: String, shown: String) throws -> [SignedEntry] {
        var signatures: [SignedEntry] = []
        for name in try FS.list(dir).sorted() where name == document + ".sig" || name.hasPrefix(document + ".sig.") {
            guard signatures.count < 2 * TrustPolicy.maxKeys else { throw ToolError.refused("\(shown) holds too many signatures of \(document)") }
            let text = String(decoding: try FS.readFile(dir + "/" + name, limit: 64 << 10), as: UTF8.self)
            signatures.append(SignedEntry(entry: name, text: text, file: try SignatureFile(text: text, what: "\(ToolError.shown(name)) of \(shown)")))
        }
        // The builder's signature first, as in the bundle.
        return signatures.filter { $0.entry == document + ".sig" } + signatures.filter { $0.entry != document + ".sig" }
    }
}

extension PolicyHistory {
    var json: JSON {
        .object([
            "origin": MirrorConfig.policyJSON(origin),
            "adopted": .array(adopted.map { .object(["version": .int($0.version), "sha256": .string($0.sha256.hex), "sequence": .int($0.sequence)]) }),
        ])
    }

    /// Parses mirror.json's "history"; `pinned` must be where it ends.
    init(_ o: JSONObject, pinned: TrustPolicy, path: String, created: Int64) throws {
        try o.allowOnly(["origin", "adopted"])
        origin = try MirrorConfig.policy(o.object("origin"), path: path, created: created)
        adopted = try o.array("adopted").map { v in
            let p = try JSONObject(v, what: "an adopted policy in \(path)")
            try p.allowOnly(["version", "sha256", "sequence"])
            return Pin(version: try p.int("version", min: 1), sha256: try p.digest("sha256"), sequence: try p.int("sequence"))
        }
        var last = (version: origin.version, sequence: Int64(0))
        for pin in adopted {
            guard pin.version > last.version, pin.sequence >= last.sequence else {
                throw ToolError.environment("\(path): its trust history is out of order at policy version \(pin.version)")
            }
            last = (pin.version, pin.sequence)
        }
        guard adopted.isEmpty ? origin == pinned : last.version == pinned.version else {
            throw ToolError.environment("\(path): its trust history does not end in the policy it pins")
        }
    }
}
