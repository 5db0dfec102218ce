import BundleFormat
import BundleVerify
import Libarchive
import Signing
import Support
import SystemIO

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
        let added = (name: TrustPolicy.signatureEntry("MANIFEST", keyId: key.keyId), bytes: Array(signature.fileText.utf8))
        let (digest, size) = try rewrite(path, reader: reader, adding: added)
        return Report(manifest: m, manifestDigest: reader.manifestDigest, signers: existing + [key.idText], bundleDigest: digest, bundleSize: size)
    }

    /// Copies the bundle beside itself with `added` after the last signature of MANIFEST, then
    /// renames the copy over it. Returns the new file's SHA-256 and size.
    private static func rewrite(_ path: String, reader: BundleReader, adding added: (name: String, bytes: [UInt8])) throws -> (SHA256Digest, Int64) {
        let input = try TarReader(path: path)
        let tmp = scratchName(for: path)
        let fd = try FileDescriptor.create(tmp)
        var done = false
        defer { if !done { try? FS.remove(tmp) } }
        let tar = try TarWriter(fd: fd, zstdLevel: input.isCompressed ? BundleArchiver.containerLevel : nil)
        let copier = EntryCopier(path: path, reader: reader, input: input, output: tar)
        try copier.copy(inserting: added, at: 1 + reader.signatures.count)
        let (digest, size) = try tar.finish()
        try fd.sync()
        try fd.close()
        try FS.rename(tmp, path)
        done = true
        try FS.syncDirectory(FS.parent(of: FS.absolute(path)))
        return (digest, size)
    }

    /// The one libc call of this file: a scratch name no other process uses.
    private static func scratchName(for path: String) -> String { "\(FS.absolute(path)).sign-\(CurrentProcess.id)" }
}

/// Copies a bundle's entries as they are, accepting exactly the entries the reader requires
/// (`BundleReader.entryNames`, in that order, ending with the archive's end marker) and
/// checking each signed part against its digest on the way.
struct EntryCopier {
    let path: String
    let m: Manifest
    let expected: [String]
    let input: TarReader
    let output: TarWriter

    init(path: String, reader: BundleReader, input: TarReader, output: TarWriter) {
        self.path = path
        self.m = reader.manifest
        self.expected = reader.entryNames
        self.input = input
        self.output = output
    }

    /// Copies every entry, writing `added` before entry number `position`.
    func copy(inserting added: (name: String, bytes: [UInt8]), at position: Int) throws {
        let parts = Dictionary([(m.index.path, m.index)] + m.packs.map { ($0.path, $0) }, uniquingKeysWith: { a, _ in a })
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 1 << 20, alignment: 64)
        defer { buffer.deallocate() }
        var next = 0
        while let e = try input.next() {
            guard e.kind == .regular else { throw ToolError.refused("'\(path)': \(ToolError.shown(e.name)) is not a regular file") }
            try checkName(e.name, at: next)
            if next == position { try output.addFile(added.name, bytes: added.bytes, mtime: m.created) }
            let digest = try copyEntry(e, buffer: buffer)
            if let part = parts[e.name], digest != part.sha256 {
                throw ToolError.refused("\(e.name) in '\(path)' does not match its signed digest: the bundle was altered or damaged; not signed")
            }
            next += 1
        }
        // A bundle cut at an entry's end reads as whole: count the parts too.
        if next < expected.count { throw lacks(expected[next]) }
        guard input.endedWithMarker else {
            throw ToolError.refused("'\(path)' is truncated: its end-of-archive marker is missing; not signed")
        }
    }

    /// Refuses an entry that is not the one the reader expects at `position`.
    private func checkName(_ name: String, at position: Int) throws {
        if position < expected.count {
            if name == expected[position] { return }
            // An entry the reader expects later: the one expected here is missing.
            if expected[position...].contains(name) { throw lacks(expected[position]) }
        }
        if expected.contains(name) { throw ToolError.refused("'\(path)' holds \(ToolError.shown(name)) twice; not signed") }
        throw ToolError.refused("'\(path)' holds an entry '\(ToolError.shown(name))' that the manifest does not list; not signed")
    }

    private func lacks(_ name: String) -> ToolError {
        ToolError.refused("'\(path)' lacks \(name), which its MANIFEST lists: the bundle is truncated or damaged; not signed")
    }

    /// Copies one entry's bytes as they are; returns their SHA-256.
    private func copyEntry(_ e: TarEntry, buffer: UnsafeMutableRawBufferPointer) throws -> SHA256Digest {
        var hash = SHA256Stream()
        try output.addFile(e.name, size: e.size, mtime: m.created) { put in
            while true {
                let n = try input.read(into: buffer)
                if n == 0 { break }
                let chunk = UnsafeRawBufferPointer(rebasing: buffer[..<n])
                hash.update(chunk)
                try put(chunk)
            }
        }
        return hash.finalize()
    }
}
