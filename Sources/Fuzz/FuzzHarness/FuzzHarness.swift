import BundleFormat
import BundleVerify
import Changes
import Collect
import Libarchive
import Support
import SystemIO
import Zstd

/// What each libFuzzer target (fuzz/, built by scripts/fuzz) does with one input, and what
/// Tests/FuzzTests replays for every input kept under Tests/FuzzTests/Fixtures: the parsers of
/// hostile bytes. They may refuse anything, but only with a `ToolError`; a trap (overflow, out
/// of range), a memory error or any other error is a finding.
///
/// Part of the normal build so the regression tests run without the fuzzer.
extension JSON {
    var intValue: Int64? { if case .int(let v) = self { return v } else { return nil } }
}

public enum FuzzHarness {
    public enum Target: String, CaseIterable, Sendable {
        /// MANIFEST (canonical JSON, then the manifest's rules), MANIFEST.sig and key files,
        /// FILES.json and receipts, and JSON's own round trip.
        case manifest
        /// The YAML bundle spec.
        case spec
        /// A MANIFEST, a NUL byte, then the plain index it describes.
        case index
        /// A whole bundle file: the bundle reader, and the tar reader and zstd decoder under it.
        case archive
        /// A plain index, a NUL byte, then packs (a count byte, and per pack two bytes of
        /// little-endian length and its bytes), made into a bundle whose digests and sizes all
        /// hold: what a validly signed but hostile bundle reaches (splitting packs into objects,
        /// decoding patches against a base, rebuilding the tree), which random bytes never do.
        case packs
        /// A feed record as the change report reads it (`RecordFile.read`): the first byte picks
        /// the file's name (`j`: .json, `y`: .yaml, anything else: .yml), the rest is its bytes.
        case records
    }

    public static func run(_ target: Target, _ data: [UInt8]) {
        switch target {
        case .manifest: manifest(data)
        case .spec: spec(data)
        case .index: index(data)
        case .archive: archive(data)
        case .packs: packs(data)
        case .records: records(data)
        }
    }

    /// Runs `body`, which may refuse, but only the way the tools report problems.
    static func refusable(_ what: String, _ body: () throws -> Void) {
        do {
            try body()
        } catch let e as ToolError {
            // AIRGAP_FUZZ_DEBUG=1 shows how far an input got (running one input, not fuzzing).
            if CurrentProcess.environment("AIRGAP_FUZZ_DEBUG") != nil { print("\(what): \(e.message)") }
        } catch {
            preconditionFailure("\(what) threw \(type(of: error)), not a ToolError: \(error)")
        }
    }

    static func manifest(_ data: [UInt8]) {
        refusable("Manifest") { _ = try Manifest(canonical: data) }
        refusable("TreeListing") { _ = try TreeListing(canonical: data, what: "FILES.json") }
        refusable("Receipt") { _ = try Receipt(bytes: data, what: "receipt") }
        refusable("JSON") {
            // What the encoder writes, the parser reads back as the same value, canonically.
            let value = try JSON.parse(data, what: "input")
            let again = try JSON.parseCanonical(value.canonicalBytes, what: "re-encoded input")
            precondition(again == value, "JSON does not survive its own encoding")
        }
        let text = String(decoding: data, as: UTF8.self)
        refusable("SignatureFile") { _ = try SignatureFile(text: text, what: "MANIFEST.sig") }
        refusable("PublicKey") { _ = try PublicKey(text: text, what: "public key") }
        refusable("SecretKeyFile") { _ = try SecretKeyFile(text: text, what: "secret key") }
    }

    static func spec(_ data: [UInt8]) {
        // `BundleSpec.load` refuses what is not UTF-8 before parsing.
        guard let text = String(validating: data, as: UTF8.self) else { return }
        refusable("BundleSpec") { _ = try BundleSpec.parse(text, file: "fuzz.yaml", baseDirectory: "/nonexistent") }
    }

    static func index(_ data: [UInt8]) {
        let cut = data.firstIndex(of: 0) ?? data.count
        refusable("BundleIndex") {
            let manifest = try Manifest(canonical: Array(data[..<cut]))
            let index = try BundleIndex(canonical: Array(data[min(cut + 1, data.count)...]), manifest: manifest)
            // The writer's encoding of what was read must read back as the same index.
            let again = try BundleIndex(canonical: index.json.canonicalBytes, manifest: manifest)
            precondition(again == index, "BundleIndex does not survive its own encoding")
        }
    }

    static func packs(_ data: [UInt8]) {
        let (indexBytes, packs) = splitPacks(data)
        let claims = PackClaims(indexBytes, packCount: packs.count)
        refusable("a consistent bundle") { try writeBundle(indexBytes, packs, claims) }
        defer { try? FS.remove(scratch) }
        refusable("BundleReader (consistent bundle)") {
            let reader = try BundleReader(path: scratch, trust: nil)
            let index = try reader.readIndex()
            // A delta's patches are decoded against a base file: the same 4 KiB for every digest.
            let base = (0..<4096).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ 7) }
            let digests = try reader.readObjects(index, into: DiscardingSink(), base: { _ in BaseContent(bytes: base) })
            let listing = reader.manifest.base == nil ? nil : TreeListing(entries: [])
            _ = try reader.checkTree(index, objectDigests: digests, base: listing)
        }
    }

    /// The input as an index (up to the first zero byte) and one to four packs, each a 16-bit
    /// length and its bytes.
    static func splitPacks(_ data: [UInt8]) -> ([UInt8], [[UInt8]]) {
        let cut = data.firstIndex(of: 0) ?? data.count
        let indexBytes = Array(data[..<cut])
        var rest = data[min(cut + 1, data.count)...]
        var packs: [[UInt8]] = []
        let count = Int(rest.popFirst() ?? 1) % 4 + 1
        for _ in 0..<count {
            guard rest.count >= 2 else { break }
            let n = Int(rest.removeFirst()) | Int(rest.removeFirst()) << 8
            packs.append(Array(rest.prefix(n)))
            rest = rest.dropFirst(n)
        }
        while packs.count < count { packs.append([]) }
        return (indexBytes, packs)
    }

    /// What the index claims, read leniently, sizes the manifest so that the index's own
    /// checks hold: the fuzzer then reaches what comes after them.
    struct PackClaims {
        var perPack: [Int64]
        var files: Int64 = 0, total: Int64 = 0, delta = false

        init(_ indexBytes: [UInt8], packCount: Int) {
            perPack = [Int64](repeating: 0, count: packCount)
            guard case .object(let o)? = try? JSON.parse(indexBytes, what: "index") else { return }
            var sizes: [Int64] = []
            for key in ["objects", "patches"] {
                guard case .array(let items)? = o[key] else { continue }
                delta = delta || key == "patches"
                for case .array(let a) in items {
                    guard case .int(let p)? = a.first, p >= 0, p < perPack.count else { continue }
                    let size: Int64? = key == "objects" ? (a.count > 1 ? a[1].intValue : nil) : (a.count > 2 ? a[2].intValue : nil)
                    guard let size, size >= 0, size <= 1 << 40 else { continue }
                    perPack[Int(p)] += size
                    sizes.append(size)
                }
            }
            delta = delta || o["removed"] != nil
            if case .array(let list)? = o["files"] {
                files = Int64(list.count)
                for case .array(let f) in list where f.count == 3 {
                    if let i = f[2].intValue, i >= 0, i < sizes.count { total += sizes[Int(i)] }
                }
            }
        }
    }

    /// Writes `scratch` as a bundle whose manifest agrees with the index's claims.
    static func writeBundle(_ indexBytes: [UInt8], _ packs: [[UInt8]], _ claims: PackClaims) throws {
        var compressed: [UInt8] = []
        let z = try ZstdCompressor(ZstdSettings(level: 1)) { compressed.append(contentsOf: $0) }
        try z.write(indexBytes)
        try z.finish()
        let refs = packs.enumerated().map { i, bytes in
            let d = SHA256Digest.of(bytes)
            return PartRef(path: PartRef.packPath(d, stored: false), sha256: d, size: Int64(bytes.count), uncompressed: claims.perPack[i])
        }
        let zero = SHA256Digest.of([])
        let manifest = Manifest(name: "fuzz", version: "1", sequence: 2, created: 0, expires: nil, tree: zero,
                                treeFiles: min(claims.files, 100_000_000), treeSize: claims.total, index: PartRef(path: "INDEX.zst", sha256: SHA256Digest.of(compressed),
                                size: Int64(compressed.count), uncompressed: Int64(indexBytes.count)), packs: refs, sources: [],
                                base: claims.delta ? BaseRef(name: "fuzz", sequence: 1, manifest: zero, tree: TreeListing(entries: []).digest, mirror: nil) : nil)
        try? FS.remove(scratch)
        let fd = try FileDescriptor.create(scratch, mode: 0o600)
        let tar = try TarWriter(fd: fd)
        try tar.addFile("MANIFEST", bytes: manifest.canonicalBytes, mtime: 0)
        // Well-formed but never checked: the bundle is read without trust.
        let signature = SignatureFile(keyId: [UInt8](repeating: 0, count: 8), signature: [UInt8](repeating: 0, count: 64),
                                      untrustedComment: "fuzz", trustedComment: "fuzz", globalSignature: [UInt8](repeating: 0, count: 64))
        try tar.addFile("MANIFEST.sig", bytes: Array(signature.fileText.utf8), mtime: 0)
        try tar.addFile("INDEX.zst", bytes: compressed, mtime: 0)
        for (ref, bytes) in zip(refs, packs) { try tar.addFile(ref.path, bytes: bytes, mtime: 0) }
        try tar.finish()
        try fd.close()
    }

    /// The bundle as a file (the readers take a path), on tmpfs when there is one.
    static let scratch: String = {
        let dir = (try? FS.info("/dev/shm"))??.kind == .directory ? "/dev/shm" : "/tmp"
        return "\(dir)/airgap-fuzz-\(CurrentProcess.id).bundle"
    }()

    static func archive(_ data: [UInt8]) {
        do {
            try? FS.remove(scratch)
            let fd = try FileDescriptor.create(scratch, mode: 0o600)
            try fd.write(data)
            try fd.close()
        } catch {
            preconditionFailure("cannot write the fuzz input to \(scratch): \(error)")
        }
        defer { try? FS.remove(scratch) }
        refusable("BundleReader") {
            let reader = try BundleReader(path: scratch, trust: nil)
            let index = try reader.readIndex()
            let digests = try reader.readObjects(index, into: DiscardingSink())
            if reader.manifest.base == nil { _ = try reader.checkTree(index, objectDigests: digests) }
        }
        // Any tar (or tar.zst), entry by entry, as far as 16 MiB of entry data.
        refusable("TarReader") {
            let tar = try TarReader(path: scratch)
            let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 64 << 10, alignment: 16)
            defer { buffer.deallocate() }
            var total = 0
            while total < 16 << 20, try tar.next() != nil {
                while total < 16 << 20 {
                    let n = try tar.read(into: buffer)
                    if n == 0 { break }
                    total += n
                }
            }
        }
        // The input as one zstd stream, fed in uneven pieces, with a cap on what it may expand to.
        refusable("ZstdDecompressor") {
            let d = try ZstdDecompressor("input", limit: 1 << 20) { _ in }
            var rest = data[...]
            var step = 1
            while !rest.isEmpty {
                let piece = rest.prefix(step)
                try Array(piece).withUnsafeBytes { try d.write($0) }
                rest = rest.dropFirst(piece.count)
                step = step * 3 + 1
            }
            try d.finish()
        }
    }
}
