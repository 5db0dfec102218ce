import BundleFormat
import BundleVerify
import Libarchive
import Support
import SystemIO
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

/// How the bundle file itself is written.
public enum ContainerChoice: String, Sendable, Equatable, CaseIterable {
    /// A zstd-compressed tar below 8 MiB, where tar framing would weigh; a plain tar above.
    case auto
    case tar
    case tarZstd = "tar.zst"
}

/// What a delta is built against.
public enum BaseChoice: Sendable, Equatable {
    /// A previous full bundle (its bytes allow patches).
    case bundle(String)
    /// A mirror's receipt (names and digests only: files are carried whole or reused by digest).
    case receipt(String)
}

public struct BuildOptions {
    public var spec: BundleSpec
    public var base: BaseChoice?
    public var container: ContainerChoice = .auto
    /// A new trust policy to carry (TRUST), with its signatures.
    public var trustPolicy: String?
    public var key: SigningKey
    public var output: String
    public var sequence: Int64?
    public var compression: CompressionChoice
    /// The bundle's creation time: SOURCE_DATE_EPOCH when set, so rebuilds give the same bytes.
    public var created: Int64

    public init(spec: BundleSpec, key: SigningKey, output: String, sequence: Int64?, compression: CompressionChoice, created: Int64,
                base: BaseChoice? = nil) {
        self.spec = spec
        self.base = base
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
    public var patches: Int
    public var reused: Int
    public var unchanged: Int
    public var removed: Int
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

    /// The container's zstd level: its packs are compressed already, it only has to squeeze tar's
    /// headers and padding, and level 19 would need ~90 MiB of match tables for that.
    static let containerLevel = 6

    /// Bundles below this are written as a zstd-compressed tar.
    static let compressedContainerLimit: Int64 = 8 << 20

    let options: BuildOptions

    public init(_ options: BuildOptions) { self.options = options }

    struct Object {
        var digest: SHA256Digest
        var size: Int64
        /// Where to read it from: the first file that has these bytes.
        var file: Int
        /// Compressed already: goes into a stored pack.
        var stored = false
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
        let collected = try await Collector(spec: spec, scratch: scratch).collect()
        var files = collected.files
        let images = collected.images
        let total = files.reduce(Int64(0)) { $0 + $1.size }
        let hashing = Progress("hashing", total: total)
        var digests: [SHA256Digest] = []
        digests.reserveCapacity(files.count)
        for i in files.indices {
            // Image blobs were hashed as their tarball was read; the packer checks them again.
            if let known = files[i].digest {
                digests.append(known)
                hashing.advance(files[i].size)
                continue
            }
            let (digest, size, head) = try SHA256Stream.file(files[i].sourcePath, progress: hashing, keepingHead: Compression.headLength)
            guard size == files[i].size else { throw ToolError.environment("'\(files[i].sourcePath)' changed while the bundle was being built") }
            digests.append(digest)
            files[i].compressed = Compression.detect(head) != nil
        }
        hashing.finish()

        // 2. For a delta: what the base already has, what can be patched, what goes whole.
        enum Plan { case whole, patch(Int), base, unchanged }
        var plan = [Plan](repeating: .whole, count: files.count)
        var patchFrames: [[UInt8]] = []
        var patchList: [BundleIndex.Patch] = []
        var removed: [String] = []
        var delta: DeltaBase?
        if let choice = options.base {
            var newByPath: [String: SHA256Digest] = [:]
            for (i, f) in files.enumerated() { newByPath[f.logicalPath] = digests[i] }
            let base: DeltaBase
            switch choice {
            case .receipt(let path): base = try DeltaBase.receipt(path)
            case .bundle(let path):
                base = try DeltaBase.bundle(path, trust: options.key.publicKey, scratch: scratch) { p, d in newByPath[p].map { $0 != d } ?? false }
            }
            guard base.ref.name == spec.name else {
                throw ToolError.usage("the base is bundle '\(base.ref.name)'; this spec builds '\(spec.name)'")
            }
            guard sequence > base.ref.sequence else {
                throw ToolError.usage("sequence \(sequence) must be higher than the base's (\(base.ref.sequence))")
            }
            var baseByPath: [String: TreeListing.Entry] = [:]
            var baseDigests: Set<SHA256Digest> = []
            for e in base.listing.entries {
                baseByPath[e.path] = e
                baseDigests.insert(e.sha256)
            }
            var patched: [SHA256Digest: Int] = [:]
            for (i, f) in files.enumerated() {
                let d = digests[i]
                if let b = baseByPath[f.logicalPath], b.sha256 == d, b.mode == f.mode {
                    plan[i] = .unchanged
                } else if baseDigests.contains(d) {
                    plan[i] = .base
                } else if let k = patched[d] {
                    plan[i] = .patch(k)
                } else if let b = baseByPath[f.logicalPath], let baseFile = base.content[b.sha256], f.size <= DeltaBase.patchLimit, !f.compressed,
                          let frame = try patchFrame(newFile: f, digest: d, baseFile: baseFile) {
                    patched[d] = patchList.count
                    plan[i] = .patch(patchList.count)
                    patchList.append(BundleIndex.Patch(pack: 0, stored: Int64(frame.count), size: f.size, base: b.sha256))
                    patchFrames.append(frame)
                }
            }
            let present = Set(files.map(\.logicalPath))
            removed = base.listing.entries.map(\.path).filter { !present.contains($0) }
            delta = base
        }

        // 3. Distinct objects carried whole: small ones first (path order, solid packs), then large ones.
        var firstFile: [SHA256Digest: Int] = [:]
        for (i, d) in digests.enumerated() where firstFile[d] == nil {
            if case .whole = plan[i] { firstFile[d] = i }
        }
        var objects = digests.enumerated().compactMap { i, d in
            firstFile[d] == i ? Object(digest: d, size: files[i].size, file: i, stored: files[i].compressed, pack: 0) : nil
        }
        // Small objects first, those to compress then those kept as they are; then large ones.
        let small = objects.filter { $0.size < Packer.largeObject }
        objects = small.filter { !$0.stored } + small.filter(\.stored) + objects.filter { $0.size >= Packer.largeObject }
        var packSizes: [Int64] = []
        for i in objects.indices {
            let large = objects[i].size >= Packer.largeObject
            if packSizes.isEmpty || large || objects[i - 1].size >= Packer.largeObject || objects[i - 1].stored != objects[i].stored
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
            let stored = members[0].stored  // a pack holds stored objects only, or none
            let (digest, written) = try compressPack(members, files: files, to: scratchFile, size: size,
                                                     settings: stored ? nil : settings(solid: solid, size: size), progress: compressing)
            packs.append(PartRef(path: PartRef.packPath(digest, stored: stored), sha256: digest, size: written, uncompressed: size, stored: stored))
            packFiles.append(scratchFile)
        }
        compressing.finish()
        if !patchFrames.isEmpty {
            // One pack of concatenated frames, each decodable alone by `zstd -d --patch-from`.
            let scratchFile = "\(scratch)/pack-patches"
            let out = try FileDescriptor.create(scratchFile, mode: 0o600)
            var hash = SHA256Stream()
            for frame in patchFrames {
                hash.update(frame)
                try out.write(frame)
            }
            try out.close()
            for k in patchList.indices { patchList[k].pack = packs.count }
            let digest = hash.finalize()
            packs.append(PartRef(path: PartRef.packPath(digest, stored: false), sha256: digest, size: hash.count, uncompressed: patchList.reduce(0) { $0 + $1.size }))
            packFiles.append(scratchFile)
        }

        // 4. Index, tree listing, manifest. A delta's index lists only what changes.
        let indexFiles: [BundleIndex.File] = files.enumerated().compactMap { i, f in
            switch plan[i] {
            case .whole: return BundleIndex.File(path: f.logicalPath, mode: f.mode, object: objectNumber[digests[i]]!)
            case .patch(let k): return BundleIndex.File(path: f.logicalPath, mode: f.mode, source: .patch(k))
            case .base: return BundleIndex.File(path: f.logicalPath, mode: f.mode, source: .base(digests[i]))
            case .unchanged: return nil
            }
        }
        let index = BundleIndex(objects: objects.map { BundleIndex.Object(pack: $0.pack, size: $0.size) }, files: indexFiles,
                                patches: patchList, removed: removed)
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
        var manifest = Manifest(name: spec.name, version: spec.version, sequence: sequence, created: options.created, expires: spec.expires,
                                tree: listing.digest, treeFiles: Int64(files.count), treeSize: total, index: indexRef, packs: packs, sources: sources,
                                base: delta?.ref)
        manifest.images = images
        let trust = try options.trustPolicy.map(TrustFiles.load)
        manifest.trust = trust.map { SHA256Digest.of($0.bytes) }
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
        // A small bundle (a monthly delta above all) is mostly tar framing: 512-byte headers,
        // padding and the end marker. Compressing the container removes that; a large one is
        // left plain, as its packs are compressed already.
        let entryBytes = packs.reduce(Int64(manifestBytes.count + indexCompressed.count + 1024)) { $0 + $1.size }
        let compress = options.container == .tarZstd || (options.container == .auto && entryBytes < Packer.compressedContainerLimit)
        let tar = try TarWriter(fd: fd, zstdLevel: compress ? Packer.containerLevel : nil)
        let mtime = options.created
        try tar.addFile("MANIFEST", bytes: manifestBytes, mtime: mtime)
        try tar.addFile("MANIFEST.sig", bytes: Array(signature.fileText.utf8), mtime: mtime)
        if let trust {
            try tar.addFile("TRUST", bytes: trust.bytes, mtime: mtime)
            for (name, bytes) in trust.signatures { try tar.addFile(name, bytes: bytes, mtime: mtime) }
        }
        try tar.addFile("INDEX.zst", bytes: indexCompressed, mtime: mtime)
        for (p, ref) in packs.enumerated() {
            try copyIntoArchive(tar, name: ref.path, from: packFiles[p], size: ref.size, mtime: mtime)
        }
        let (bundleDigest, bundleSize) = try tar.finish()
        try fd.sync()
        try fd.close()
        try FS.rename(tmpOut, options.output)
        try FS.syncDirectory(outDir)

        return BuildReport(manifest: manifest, manifestDigest: Manifest.digest(of: manifestBytes), bundleSize: bundleSize,
                           bundleDigest: bundleDigest, objects: objects.count, patches: patchList.count,
                           reused: plan.filter { if case .base = $0 { return true }; return false }.count,
                           unchanged: plan.filter { if case .unchanged = $0 { return true }; return false }.count,
                           removed: removed.count, inputBytes: total,
                           storedBytes: packs.reduce(indexRef.size) { $0 + $1.size }, seconds: Clock.now() - started)
    }

    /// A zstd frame of the new file made against the base file, or nil when carrying the file
    /// whole (compressed alone) would be no larger.
    func patchFrame(newFile f: CollectedFile, digest: SHA256Digest, baseFile: String) throws -> [UInt8]? {
        let size = f.size
        let new = try Packer.read(f, limit: Int(DeltaBase.patchLimit))
        guard Int64(new.count) == size, SHA256Digest.of(new) == digest else {
            throw ToolError.environment("'\(f.sourcePath)' changed while the bundle was being built")
        }
        let base = try FS.readFile(baseFile, limit: Int(DeltaBase.patchLimit))
        // The window must reach back over the whole base, as `zstd --patch-from` sets it.
        let window = Int32(max(10, min(27, 64 - (max(base.count + new.count, 1) - 1).leadingZeroBitCount)))
        // Small files: -19, where ratio is cheap. Large ones: a fast level with long-distance
        // matching, which finds the unchanged runs of a big file at a fraction of the cost.
        let large = size >= Packer.largeObject
        let settings = large ? ZstdSettings(level: 3, windowLog: window, longDistanceMatching: true) : ZstdSettings(level: 19, windowLog: window)
        func compress(_ prefix: [UInt8]?) throws -> [UInt8] {
            var out: [UInt8] = []
            let z = try ZstdCompressor(settings, pledgedSize: size, prefix: prefix) { out.append(contentsOf: $0) }
            try z.write(new)
            try z.finish()
            return out
        }
        let patch = try compress(base)
        return patch.count < (try compress(nil)).count ? patch : nil
    }

    func settings(solid: Bool, size: Int64) -> ZstdSettings {
        // A window as large as the pack (up to 32 MiB) finds repeats across the whole pack.
        let window = Int32(max(10, min(25, 64 - (max(size, 1) - 1).leadingZeroBitCount)))
        switch options.compression {
        // A solid pack at a high level stays on one thread: split into jobs it would lose matches
        // across them and hold a match finder per worker. Fast levels use every core.
        case .auto:
            return solid ? ZstdSettings(level: 19, windowLog: window) : ZstdSettings(level: 3, multithreaded: true)
        case .level(let l):
            return ZstdSettings(level: l, multithreaded: !solid || l < 17, windowLog: solid ? window : nil)
        }
    }

    /// Compresses the objects of one pack into `path` (or copies them as they are, when
    /// `settings` is nil), checking each source still has the bytes that were hashed. Returns the
    /// SHA-256 and size of the pack file.
    func compressPack(_ members: [Object], files: [CollectedFile], to path: String, size: Int64,
                      settings: ZstdSettings?, progress: Progress) throws -> (SHA256Digest, Int64) {
        let out = try FileDescriptor.create(path, mode: 0o600)
        var hash = SHA256Stream()
        let z = try settings.map { s in
            try ZstdCompressor(s, pledgedSize: size) { chunk in
                hash.update(chunk)
                try out.write(chunk)
            }
        }
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 1 << 20, alignment: 64)
        defer { buffer.deallocate() }
        for o in members {
            let f = files[o.file]
            let input = try FileDescriptor.open(f.sourcePath)
            if f.offset > 0 { try input.seek(to: f.offset) }
            var check = SHA256Stream()
            while check.count < o.size {
                // Never past the object's end: a blob inside a tarball is followed by other entries.
                let want = Int(min(Int64(buffer.count), o.size - check.count))
                let n = try input.read(into: UnsafeMutableRawBufferPointer(rebasing: buffer[..<want]))
                if n == 0 { break }
                let chunk = UnsafeRawBufferPointer(rebasing: buffer[..<n])
                check.update(chunk)
                if let z {
                    try z.write(chunk)
                } else {
                    hash.update(chunk)
                    try out.write(chunk)
                }
                progress.advance(Int64(n))
            }
            try input.close()
            guard check.count == o.size, check.finalize() == o.digest else {
                throw ToolError.environment("'\(f.sourcePath)' changed while the bundle was being built")
            }
        }
        try z?.finish()
        try out.close()
        return (hash.finalize(), hash.count)
    }

    /// A collected file's bytes, which may be a slice of an image tarball.
    static func read(_ f: CollectedFile, limit: Int) throws -> [UInt8] {
        guard f.size <= Int64(limit) else { throw ToolError.environment("'\(f.sourcePath)' is larger than \(limit) bytes") }
        let fd = try FileDescriptor.open(f.sourcePath)
        defer { try? fd.close() }
        if f.offset > 0 { try fd.seek(to: f.offset) }
        var out = [UInt8](repeating: 0, count: Int(f.size))
        let n = try out.withUnsafeMutableBytes { try fd.readFully(into: $0) }
        return Array(out.prefix(n))
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
