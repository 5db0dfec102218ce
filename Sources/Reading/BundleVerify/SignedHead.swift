import BundleFormat
import Libarchive
import Support

/// A TRUST policy as a bundle carries it, with its signatures: nothing about it is checked yet.
struct CarriedTrust {
    var bytes: [UInt8]
    var signatures: [SignedEntry] = []
}

/// The signed head of a bundle, read in archive order before anything in it is trusted:
/// MANIFEST, MANIFEST.sig, co-signatures (MANIFEST.sig.<key id>), then optionally TRUST and its
/// signatures (TRUST.sig.<key id>). It owns the reading and naming rules; whether the signatures
/// are enough is `Trust.require`'s to say.
struct SignedHead {
    var manifestBytes: [UInt8]
    /// Every signature of MANIFEST, in archive order: the builder's (MANIFEST.sig) first.
    var signatures: [SignedEntry]
    var trust: CarriedTrust?
    /// The entry after the head (the index), already read.
    var next: TarEntry

    init(reading tar: TarReader, path: String) throws {
        let first = try EntryOrder.expect(tar, "MANIFEST", path: path)
        guard first.size <= Int64(Manifest.maxBytes) else { throw ToolError.refused("MANIFEST in '\(path)' is implausibly large (\(first.size) bytes)") }
        manifestBytes = try tar.readAll(limit: Manifest.maxBytes, what: "MANIFEST")
        _ = try EntryOrder.expect(tar, "MANIFEST.sig", path: path)
        var signatures = [try SignedHead.readSignature(tar, entry: "MANIFEST.sig", path: path)]
        var trust: CarriedTrust?
        var entry = try tar.next()
        while let e = entry, e.name != EntryOrder.index {
            try SignedHead.take(e, from: tar, path: path, signatures: &signatures, trust: &trust)
            guard signatures.count + (trust?.signatures.count ?? 0) <= 2 * TrustPolicy.maxKeys else {
                throw ToolError.refused("'\(path)' holds too many signatures")
            }
            entry = try tar.next()
        }
        guard let entry else { throw ToolError.refused("'\(path)' is truncated: \(EntryOrder.index) is missing") }
        self.signatures = signatures
        self.trust = trust
        next = entry
    }

    /// Reads one entry between MANIFEST.sig and the index: a co-signature of MANIFEST, then TRUST
    /// and its signatures; anything else, or anything out of that order, is refused by name.
    private static func take(_ e: TarEntry, from tar: TarReader, path: String,
                             signatures: inout [SignedEntry], trust: inout CarriedTrust?) throws {
        guard e.kind == .regular else { throw ToolError.refused("'\(path)': \(ToolError.shown(e.name)) is not a regular file") }
        if e.name.hasPrefix("MANIFEST.sig."), trust == nil {
            signatures.append(try readCosignature(tar, entry: e.name, of: "MANIFEST", path: path))
        } else if e.name == "TRUST", trust == nil {
            trust = CarriedTrust(bytes: try tar.readAll(limit: TrustPolicy.maxBytes, what: "TRUST"))
        } else if e.name.hasPrefix("TRUST.sig."), trust != nil {
            trust?.signatures.append(try readCosignature(tar, entry: e.name, of: "TRUST", path: path))
        } else {
            if EntryOrder.leading.contains(e.name) { throw ToolError.refused("'\(path)' holds \(e.name) twice") }
            throw ToolError.refused("'\(path)' is not a bundle: expected \(EntryOrder.index), found entry '\(ToolError.shown(e.name))'")
        }
    }

    /// A signature of `document` beside the first, which must be named after the key that made it.
    private static func readCosignature(_ tar: TarReader, entry: String, of document: String, path: String) throws -> SignedEntry {
        let sig = try readSignature(tar, entry: entry, path: path)
        guard entry == TrustPolicy.signatureEntry(document, keyId: sig.file.keyId) else {
            throw ToolError.refused("'\(path)': \(ToolError.shown(entry)) holds a signature by key \(sig.file.keyIdText); it must be named after it")
        }
        return sig
    }

    private static func readSignature(_ tar: TarReader, entry: String, path: String) throws -> SignedEntry {
        let bytes = try tar.readAll(limit: 64 << 10, what: entry)
        guard let text = String(validating: bytes, as: UTF8.self) else { throw ToolError.refused("\(entry) in '\(path)' is not text") }
        return SignedEntry(entry: entry, text: text, file: try SignatureFile(text: text, what: "\(entry) in '\(path)'"))
    }

    /// The signed MANIFEST names the policy the bundle carries, so none can be added or swapped.
    /// Call once the MANIFEST's signatures held and it was parsed.
    func checkTrustNamed(by manifest: Manifest, path: String) throws {
        let carried = trust.map { SHA256Digest.of($0.bytes) }
        guard manifest.trust == carried else {
            throw ToolError.refused(carried == nil
                ? "the MANIFEST of '\(path)' names a trust policy that the bundle does not hold"
                : "'\(path)' holds a TRUST policy that its MANIFEST does not name: it was added after signing")
        }
    }
}
