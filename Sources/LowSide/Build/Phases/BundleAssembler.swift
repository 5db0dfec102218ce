import BundleFormat
import BundleVerify
import Collect
import Signing
import Support
import Zstd

/// A bundle's signed head, ready to archive in front of its packs.
struct AssembledBundle {
    var manifest: Manifest
    var manifestBytes: [UInt8]
    var signature: SignatureFile
    /// INDEX.zst as it goes into the archive.
    var index: [UInt8]
    var indexRef: PartRef
    /// A new trust policy to carry (TRUST), with its signatures as archive entries.
    var trust: (bytes: [UInt8], signatures: [(String, [UInt8])])?
}

/// Phase 5 of a build: the index, tree listing and manifest, signed.
struct BundleAssembler {
    let options: BuildOptions
    let sequence: Int64

    /// `index` is `compressIndex`'s result for the same inputs, plan and layout.
    func assemble(_ inputs: HashedInputs, plan: DeltaPlan, layout: PackLayout, packs: WrittenPacks, index: ([UInt8], PartRef),
                  images: [ImageSummary]) throws -> AssembledBundle {
        try TreeListing.checkShape(inputs.files.lazy.map(\.logicalPath))
        let (indexCompressed, indexRef) = index
        let trust = try options.trustPolicy.map(TrustFiles.load)
        var manifest = makeManifest(inputs, index: indexRef, packs: packs.refs, base: plan.base)
        manifest.images = images
        manifest.trust = trust.map { SHA256Digest.of($0.bytes) }
        let manifestBytes = manifest.canonicalBytes
        return AssembledBundle(manifest: manifest, manifestBytes: manifestBytes, signature: try sign(manifestBytes),
                               index: indexCompressed, indexRef: indexRef, trust: trust)
    }

    /// The index's zstd level: 19 by default, where its ratio is cheap next to the packs'; the
    /// build's own when one is given: at 100,000 files, -19 on the index took 2.2 s of a 4.7 s
    /// `--level 3` build (perf, just before 33d43dd).
    static func indexLevel(_ compression: CompressionChoice) -> Int32 {
        switch compression {
        case .auto: 19
        case .level(let l): l
        }
    }

    /// INDEX.zst: the canonical index at `level`, and what the manifest says of it. A delta's
    /// lists only what changes. Its rows are made from the build's lists as they are written,
    /// twice: once to count the bytes (the frame header records them), once into the compressor,
    /// so neither the rows (~60 bytes a file) nor the plain index (~100) is ever held whole.
    static func compressIndex(_ inputs: HashedInputs, plan: DeltaPlan, layout: PackLayout, level: Int32) throws -> ([UInt8], PartRef) {
        let objectNumber = layout.objectNumbers
        let files = inputs.files.indices.lazy.compactMap { i -> BundleIndex.File? in
            let f = inputs.files[i]
            switch plan.sources[i] {
            case .whole: return BundleIndex.File(path: f.logicalPath, mode: f.mode, object: objectNumber[inputs.digests[i]]!)
            case .patch(let k): return BundleIndex.File(path: f.logicalPath, mode: f.mode, source: .patch(k))
            case .base: return BundleIndex.File(path: f.logicalPath, mode: f.mode, source: .base(inputs.digests[i]))
            case .unchanged: return nil
            }
        }
        let objects = layout.objects.map { BundleIndex.Object(pack: $0.pack, size: $0.size) }
        func write(_ sink: @escaping ([UInt8]) throws -> Void) throws {
            try BundleIndex.write(files: files, objects: objects, patches: plan.patches, removed: plan.removed, to: sink)
        }
        var plainSize: Int64 = 0
        try write { plainSize += Int64($0.count) }
        var compressed: [UInt8] = []
        let z = try ZstdCompressor(ZstdSettings(level: level), pledgedSize: plainSize) { compressed.append(contentsOf: $0) }
        try write { try z.write($0) }
        try z.finish()
        return (compressed, PartRef(path: "INDEX.zst", sha256: SHA256Digest.of(compressed), size: Int64(compressed.count),
                                    uncompressed: plainSize))
    }

    func makeManifest(_ inputs: HashedInputs, index: PartRef, packs: [PartRef], base: BaseRef?) -> Manifest {
        let spec = options.spec
        let files = inputs.files
        // Streamed, and counted in one pass: copies of the file list would be this phase's peak.
        let tree = TreeListing.digest(of: files.indices.lazy.map { i in
            TreeListing.Entry(path: files[i].logicalPath, mode: files[i].mode, size: files[i].size, sha256: inputs.digests[i])
        })
        var counts = [Int64](repeating: 0, count: spec.sources.count), sizes = counts
        for f in files {
            counts[f.source] += 1
            sizes[f.source] += f.size
        }
        let sources = spec.sources.enumerated().map { i, s in
            SourceSummary(name: s.name, kind: s.kind, origin: s.originText, files: counts[i], size: sizes[i])
        }
        return Manifest(name: spec.name, version: spec.version, sequence: sequence, created: options.created, expires: spec.expires,
                        tree: tree, treeFiles: Int64(files.count), treeSize: inputs.totalSize, index: index, packs: packs,
                        sources: sources, base: base)
    }

    /// Signs the MANIFEST the way `minisign -S` would, so stock minisign can check it.
    func sign(_ manifestBytes: [UInt8]) throws -> SignatureFile {
        let key = options.key
        return try MinisignCrypto.sign(
            manifestBytes, secretKey: key.secretKey, keyId: key.keyId,
            trustedComment: "timestamp:\(options.created)\tfile:MANIFEST\tbundle:\(options.spec.name)\tsequence:\(sequence)",
            untrustedComment: "signature from bundlectl secret key \(key.idText)")
    }
}
