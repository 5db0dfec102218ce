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

    func assemble(_ inputs: HashedInputs, plan: DeltaPlan, layout: PackLayout, packs: WrittenPacks,
                  images: [ImageSummary]) throws -> AssembledBundle {
        let index = BundleAssembler.index(inputs, plan: plan, layout: layout)
        try TreeListing.checkShape(inputs.files.map(\.logicalPath))
        let (indexCompressed, indexRef) = try BundleAssembler.compress(index)
        let trust = try options.trustPolicy.map(TrustFiles.load)
        var manifest = makeManifest(inputs, index: indexRef, packs: packs.refs, base: plan.base)
        manifest.images = images
        manifest.trust = trust.map { SHA256Digest.of($0.bytes) }
        let manifestBytes = manifest.canonicalBytes
        return AssembledBundle(manifest: manifest, manifestBytes: manifestBytes, signature: try sign(manifestBytes),
                               index: indexCompressed, indexRef: indexRef, trust: trust)
    }

    /// The index: a delta's lists only what changes.
    static func index(_ inputs: HashedInputs, plan: DeltaPlan, layout: PackLayout) -> BundleIndex {
        let objectNumber = layout.objectNumbers
        let files: [BundleIndex.File] = inputs.files.enumerated().compactMap { i, f in
            switch plan.sources[i] {
            case .whole: return BundleIndex.File(path: f.logicalPath, mode: f.mode, object: objectNumber[inputs.digests[i]]!)
            case .patch(let k): return BundleIndex.File(path: f.logicalPath, mode: f.mode, source: .patch(k))
            case .base: return BundleIndex.File(path: f.logicalPath, mode: f.mode, source: .base(inputs.digests[i]))
            case .unchanged: return nil
            }
        }
        return BundleIndex(objects: layout.objects.map { BundleIndex.Object(pack: $0.pack, size: $0.size) }, files: files,
                           patches: plan.patches, removed: plan.removed)
    }

    /// INDEX.zst: the canonical index at zstd -19, and what the manifest says of it.
    static func compress(_ index: BundleIndex) throws -> ([UInt8], PartRef) {
        let plain = index.canonicalBytes
        var compressed: [UInt8] = []
        let z = try ZstdCompressor(ZstdSettings(level: 19), pledgedSize: Int64(plain.count)) { compressed.append(contentsOf: $0) }
        try z.write(plain)
        try z.finish()
        return (compressed, PartRef(path: "INDEX.zst", sha256: SHA256Digest.of(compressed), size: Int64(compressed.count),
                                    uncompressed: Int64(plain.count)))
    }

    func makeManifest(_ inputs: HashedInputs, index: PartRef, packs: [PartRef], base: BaseRef?) -> Manifest {
        let spec = options.spec
        let files = inputs.files
        let listing = TreeListing(entries: files.enumerated().map { i, f in
            TreeListing.Entry(path: f.logicalPath, mode: f.mode, size: f.size, sha256: inputs.digests[i])
        })
        let sources = spec.sources.enumerated().map { i, s in
            let mine = files.filter { $0.source == i }
            return SourceSummary(name: s.name, kind: s.kind, origin: s.originText, files: Int64(mine.count), size: mine.reduce(0) { $0 + $1.size })
        }
        return Manifest(name: spec.name, version: spec.version, sequence: sequence, created: options.created, expires: spec.expires,
                        tree: listing.digest, treeFiles: Int64(files.count), treeSize: inputs.totalSize, index: index, packs: packs,
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
