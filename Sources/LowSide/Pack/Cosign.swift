import BundleFormat
import BundleVerify
import Libarchive
import Support
import SystemIO
#if canImport(Glibc)
import Glibc
#endif

/// Adds one signature to a finished bundle without rebuilding it: a second officer, on another
/// machine, signs the same MANIFEST bytes. The archive is copied entry by entry (packs are not
/// recompressed), the new signature goes after the existing ones, and every part is checked
/// against the signed digests on the way, so nobody co-signs a damaged bundle. The copy is
/// written beside the bundle and renamed over it: an interrupted sign leaves the old bundle.
public enum Cosigner {
    public struct Report {
        public var manifest: Manifest
        public var manifestDigest: SHA256Digest
        public var signers: [String]
        public var bundleDigest: SHA256Digest
        public var bundleSize: Int64
    }

    public static func sign(_ path: String, key: SigningKey, timestamp: Int64) throws -> Report {
        let reader = try BundleReader(path: path, trust: nil)
        let m = reader.manifest
        let existing = reader.signatures.map(\.file.keyIdText)
        guard !reader.signatures.contains(where: { $0.file.keyId == key.keyId }) else {
            throw ToolError.usage("'\(path)' is already signed by key \(key.idText)")
        }
        let signature = try MinisignCrypto.sign(
            reader.manifestBytes, secretKey: key.secretKey, keyId: key.keyId,
            trustedComment: "timestamp:\(timestamp)\tfile:MANIFEST\tbundle:\(m.name)\tsequence:\(m.sequence)\tcosigned",
            untrustedComment: "co-signature from bundlectl secret key \(key.idText)")
        let entry = TrustPolicy.signatureEntry("MANIFEST", keyId: key.keyId)

        let input = try TarReader(path: path)
        let tmp = "\(FS.absolute(path)).sign-\(getpid())"
        let fd = try FileDescriptor.create(tmp)
        var done = false
        defer { if !done { try? FS.remove(tmp) } }
        let tar = try TarWriter(fd: fd, zstdLevel: input.isCompressed ? Packer.containerLevel : nil)
        let parts = Dictionary([(m.index.path, m.index)] + m.packs.map { ($0.path, $0) }, uniquingKeysWith: { a, _ in a })
        var inserted = false
        var seen = Set<String>()
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 1 << 20, alignment: 64)
        defer { buffer.deallocate() }
        while let e = try input.next() {
            guard e.kind == .regular else { throw ToolError.refused("'\(path)': \(e.name) is not a regular file") }
            if !inserted && !e.name.hasPrefix("MANIFEST") {
                try tar.addFile(entry, bytes: Array(signature.fileText.utf8), mtime: m.created)
                inserted = true
            }
            var hash = SHA256Stream()
            try tar.addFile(e.name, size: e.size, mtime: m.created) { put in
                while true {
                    let n = try input.read(into: buffer)
                    if n == 0 { break }
                    let chunk = UnsafeRawBufferPointer(rebasing: buffer[..<n])
                    hash.update(chunk)
                    try put(chunk)
                }
            }
            if let part = parts[e.name] {
                guard hash.finalize() == part.sha256 else {
                    throw ToolError.refused("\(e.name) in '\(path)' does not match its signed digest: the bundle was altered or damaged; not signed")
                }
                seen.insert(e.name)
            }
        }
        // A bundle cut at an entry's end reads as whole: count the parts too.
        if let missing = parts.keys.sorted().first(where: { !seen.contains($0) }) {
            throw ToolError.refused("'\(path)' lacks \(missing), which its MANIFEST lists: the bundle is truncated or damaged; not signed")
        }
        let (digest, size) = try tar.finish()
        try fd.sync()
        try fd.close()
        try FS.rename(tmp, path)
        done = true
        try FS.syncDirectory(FS.parent(of: FS.absolute(path)))
        return Report(manifest: m, manifestDigest: reader.manifestDigest, signers: existing + [key.idText], bundleDigest: digest, bundleSize: size)
    }
}

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

    /// A policy file and every `FILE.sig.<KEYID>` beside it, checked for shape (the keys of the
    /// policy it replaces are on the high side; the mirror counts them).
    static func load(_ file: String) throws -> (bytes: [UInt8], signatures: [(String, [UInt8])]) {
        guard try FS.info(file) != nil else { throw ToolError.usage("trust policy '\(file)' does not exist") }
        let bytes = try FS.readFile(file, limit: TrustPolicy.maxBytes)
        let policy: TrustPolicy
        do { policy = try TrustPolicy(canonical: bytes, what: "'\(file)'") } catch let e as ToolError { throw ToolError.usage(e.message) }
        let dir = FS.parent(of: FS.absolute(file)), base = FS.baseName(file)
        var sigs: [(String, [UInt8])] = []
        for name in try FS.list(dir).sorted() where name.hasPrefix(base + ".sig.") {
            let text = try FS.readFile(dir + "/" + name, limit: 64 << 10)
            let sig = try SignatureFile(text: String(decoding: text, as: UTF8.self), what: "'\(name)'")
            guard name == TrustPolicy.signatureEntry(base, keyId: sig.keyId) else {
                throw ToolError.usage("'\(name)' holds a signature by key \(sig.keyIdText); it must be named \(TrustPolicy.signatureEntry(base, keyId: sig.keyId))")
            }
            // A new key's signature can be checked here already; a bad one would be refused later.
            if let key = policy.keys.first(where: { $0.keyId == sig.keyId }), !MinisignCrypto.verify(bytes, signature: sig, key: key) {
                throw ToolError.usage("'\(name)' is not a valid signature of '\(file)' by key \(key.idText)")
            }
            sigs.append((TrustPolicy.signatureEntry("TRUST", keyId: sig.keyId), text))
        }
        guard !sigs.isEmpty else { throw ToolError.usage("trust policy '\(file)' has no signatures beside it; sign it with `bundlectl trust sign`") }
        return (bytes, sigs)
    }
}
