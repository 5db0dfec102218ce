import BundleFormat
import BundleVerify
import Libarchive
import Support
import Zstd
#if canImport(Glibc)
import Glibc
#endif

/// How hard to compress.
public enum CompressionChoice: Sendable, Equatable {
    /// Small files (advisory records, policies) get zstd -19 in solid packs, where ratio is cheap
    /// and matters; large files get -3 with all cores, where throughput matters.
    case auto
    case level(Int32)
}

public struct BuildOptions {
    public var spec: BundleSpec
    public var key: SigningKey
    public var output: String
    public var sequence: Int64?
    public var compression: CompressionChoice
    /// The bundle's creation time: SOURCE_DATE_EPOCH when set, so rebuilds give the same bytes.
    public var created: Int64

    public init(spec: BundleSpec, key: SigningKey, output: String, sequence: Int64?, compression: CompressionChoice, created: Int64) {
        self.spec = spec
        self.key = key
        self.output = output
        self.sequence = sequence
        self.compression = compression
        self.created = created
    }
}

public struct BuildReport {
    public var manifest: Manifest
    public var manifestDigest: SHA256Digest
    public var bundleSize: Int64
    public var bundleDigest: SHA256Digest
    public var objects: Int
    public var inputBytes: Int64
    public var storedBytes: Int64
    public var seconds: Double
}

/// Builds a bundle: collect, hash, deduplicate, compress into packs, index, sign, archive.
///
/// Everything streams through 1 MiB buffers, and the archive is written to a temporary name
/// and renamed into place, so a failed build never leaves a half-written bundle at `output`.
public struct Packer {
    /// Objects at least this large get a pack of their own, compressed with all cores.
    static let largeObject: Int64 = 8 << 20
    /// A solid pack holds at most this much; its window covers it all, like `zstd --long`.
    static let solidPackLimit: Int64 = 32 << 20

    let options: BuildOptions

    public init(_ options: BuildOptions) { self.options = options }

    struct Object {
        var digest: SHA256Digest
        var size: Int64
        /// Where to read it from: the first file that has these bytes.
        var file: Int
        var pack: Int = 0
    }

    public func build() async throws -> BuildReport {
        let started = Clock.now()
        let spec = options.spec
        guard let sequence = options.sequence ?? spec.sequence else {
            throw ToolError.usage("no sequence: set \"sequence\" in \(spec.file) or pass --sequence")
        }
        let outDir = FS.parent(of: FS.absolute(options.output))
        guard let d = try FS.info(outDir), d.kind == .directory else {
            throw ToolError.usage("output folder '\(outDir)' does not exist")
        }
        if let existing = try FS.info(options.output), existing.kind == .directory {
            throw ToolError.usage("output '\(options.output)' is a folder")
        }
        let scratch = "\(FS.absolute(options.output)).tmp-\(getpid())"
        try? FS.removeTree(scratch)
        try FS.makeDirectory(scratch, mode: 0o700)
        defer { try? FS.removeTree(scratch) }

        // 1. Collect and hash: digests decide what is stored once.
        let files = try await Collector(spec: spec, scratch: scratch).collect()
        let total = files.reduce(Int64(0)) { $0 + $1.size }
        let hashing = Progress("hashing", total: total)
        var digests: [SHA256Digest] = []
        digests.reserveCapacity(files.count)
        for f in files {
            let (digest, size) = try SHA256Stream.file(f.sourcePath, progress: hashing)
            guard size == f.size else { throw ToolError.environment("'\(f.sourcePath)' changed while the bundle was being built") }
            digests.append(digest)
        }
        hashing.finish()

        // 2. Distinct objects: small ones first (path order, solid packs), then large ones.
        var firstFile: [SHA256Digest: Int] = [:]
        for (i, d) in digests.enumerated() where firstFile[d] == nil { firstFile[d] = i }
        var objects = digests.enumerated().compactMap { i, d in firstFile[d] == i ? Object(digest: d, size: files[i].size, file: i) : nil }
        objects = objects.filter { $0.size < Packer.largeObject } + objects.filter { $0.size >= Packer.largeObject }
        var packSizes: [Int64] = []
        for i in objects.indices {
            let large = objects[i].size >= Packer.largeObject
            if packSizes.isEmpty || large || objects[i - 1].size >= Packer.largeObject
                || packSizes[packSizes.count - 1] + objects[i].size > Packer.solidPackLimit {
                packSizes.append(0)
            }
            objects[i].pack = packSizes.count - 1
            packSizes[packSizes.count - 1] += objects[i].size
        }
        var objectNumber: [SHA256Digest: Int] = [:]
        for (i, o) in objects.enumerated() { objectNumber[o.digest] = i }

        // 3. Compress each pack to a scratch file, hashing what is written.
        let storedTotal = objects.reduce(Int64(0)) { $0 + $1.size }
        let compressing = Progress("compressing", total: storedTotal)
        var packs: [PartRef] = []
        var packFiles: [String] = []
        for (p, size) in packSizes.enumerated() {
            let members = objects.filter { $0.pack == p }
            let solid = members.count != 1 || members[0].size < Packer.largeObject
            let scratchFile = "\(scratch)/pack-\(p)"
            let (digest, written) = try compressPack(members, files: files, to: scratchFile, size: size,
                                                     settings: settings(solid: solid, size: size), progress: compressing)
            packs.append(PartRef(path: "packs/\(digest.hex).zst", sha256: digest, size: written, uncompressed: size))
            packFiles.append(scratchFile)
        }
        compressing.finish()

        // 4. Index, tree listing, manifest.
        let index = BundleIndex(
            objects: objects.map { BundleIndex.Object(pack: $0.pack, size: $0.size) },
            files: files.enumerated().map { i, f in BundleIndex.File(path: f.logicalPath, mode: f.mode, object: objectNumber[digests[i]]!) })
        try TreeListing.checkShape(files.map(\.logicalPath))
        let listing = TreeListing(entries: files.enumerated().map { i, f in
            TreeListing.Entry(path: f.logicalPath, mode: f.mode, size: f.size, sha256: digests[i])
        })
        let indexPlain = index.json.canonicalBytes
        var indexCompressed: [UInt8] = []
        let ic = try ZstdCompressor(ZstdSettings(level: 19), pledgedSize: Int64(indexPlain.count)) { indexCompressed.append(contentsOf: $0) }
        try ic.write(indexPlain)
        try ic.finish()
        let indexRef = PartRef(path: "INDEX.zst", sha256: SHA256Digest.of(indexCompressed), size: Int64(indexCompressed.count),
                               uncompressed: Int64(indexPlain.count))
        let sources = spec.sources.enumerated().map { i, s in
            let mine = files.filter { $0.source == i }
            return SourceSummary(name: s.name, kind: s.kind, origin: s.originText, files: Int64(mine.count), size: mine.reduce(0) { $0 + $1.size })
        }
        let manifest = Manifest(name: spec.name, version: spec.version, sequence: sequence, created: options.created, expires: spec.expires,
                                tree: listing.digest, treeFiles: Int64(files.count), treeSize: total, index: indexRef, packs: packs, sources: sources)
        let manifestBytes = manifest.canonicalBytes

        // 5. Sign, the way `minisign -S` would, so stock minisign can check it.
        let key = options.key
        let signature = try MinisignCrypto.sign(
            manifestBytes, secretKey: key.secretKey, keyId: key.keyId,
            trustedComment: "timestamp:\(options.created)\tfile:MANIFEST\tbundle:\(spec.name)\tsequence:\(sequence)",
            untrustedComment: "signature from bundlectl secret key \(key.idText)")

        // 6. Archive: MANIFEST and its signature first, so `tar -xf B MANIFEST MANIFEST.sig` is cheap.
        let tmpOut = "\(scratch)/bundle"
        let fd = try FileDescriptor.create(tmpOut)
        let tar = try TarWriter(fd: fd)
        let mtime = options.created
        try tar.addFile("MANIFEST", bytes: manifestBytes, mtime: mtime)
        try tar.addFile("MANIFEST.sig", bytes: Array(signature.fileText.utf8), mtime: mtime)
        try tar.addFile("INDEX.zst", bytes: indexCompressed, mtime: mtime)
        for (p, ref) in packs.enumerated() {
            try copyIntoArchive(tar, name: ref.path, from: packFiles[p], size: ref.size, mtime: mtime)
        }
        try tar.finish()
        try fd.sync()
        try fd.close()
        let (bundleDigest, bundleSize) = try SHA256Stream.file(tmpOut)
        try FS.rename(tmpOut, options.output)
        try FS.syncDirectory(outDir)

        return BuildReport(manifest: manifest, manifestDigest: Manifest.digest(of: manifestBytes), bundleSize: bundleSize,
                           bundleDigest: bundleDigest, objects: objects.count, inputBytes: total,
                           storedBytes: packs.reduce(indexRef.size) { $0 + $1.size }, seconds: Clock.now() - started)
    }

    func settings(solid: Bool, size: Int64) -> ZstdSettings {
        // A window as large as the pack (up to 32 MiB) finds repeats across the whole pack.
        let window = Int32(max(10, min(25, 64 - (max(size, 1) - 1).leadingZeroBitCount)))
        switch options.compression {
        case .auto:
            return solid ? ZstdSettings(level: 19, multithreaded: true, windowLog: window) : ZstdSettings(level: 3, multithreaded: true)
        case .level(let l):
            return ZstdSettings(level: l, multithreaded: true, windowLog: solid ? window : nil)
        }
    }

    /// Compresses the objects of one pack into `path`, checking each source file still has the
    /// bytes that were hashed. Returns the SHA-256 and size of the compressed file.
    func compressPack(_ members: [Object], files: [CollectedFile], to path: String, size: Int64,
                      settings: ZstdSettings, progress: Progress) throws -> (SHA256Digest, Int64) {
        let out = try FileDescriptor.create(path, mode: 0o600)
        var hash = SHA256Stream()
        let z = try ZstdCompressor(settings, pledgedSize: size) { chunk in
            hash.update(chunk)
            try out.write(chunk)
        }
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 1 << 20, alignment: 64)
        defer { buffer.deallocate() }
        for o in members {
            let f = files[o.file]
            let input = try FileDescriptor.open(f.sourcePath)
            var check = SHA256Stream()
            while true {
                let n = try input.read(into: buffer)
                if n == 0 { break }
                let chunk = UnsafeRawBufferPointer(rebasing: buffer[..<n])
                check.update(chunk)
                guard check.count <= o.size else { break }
                try z.write(chunk)
                progress.advance(Int64(n))
            }
            guard check.count == o.size, check.finalize() == o.digest else {
                throw ToolError.environment("'\(f.sourcePath)' changed while the bundle was being built")
            }
        }
        try z.finish()
        try out.close()
        return (hash.finalize(), hash.count)
    }

    func copyIntoArchive(_ tar: TarWriter, name: String, from path: String, size: Int64, mtime: Int64) throws {
        let input = try FileDescriptor.open(path)
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 1 << 20, alignment: 64)
        defer { buffer.deallocate() }
        try tar.addFile(name, size: size, mtime: mtime) { put in
            while true {
                let n = try input.read(into: buffer)
                if n == 0 { break }
                try put(UnsafeRawBufferPointer(rebasing: buffer[..<n]))
            }
        }
    }
}
