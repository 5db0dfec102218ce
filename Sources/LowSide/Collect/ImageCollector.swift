import BundleFormat
import OCI
import Registry
import Support
import SystemIO

/// Turns image tarballs into one OCI image layout under `images/` in the tree.
///
/// Every blob is checked against its digest as it is read, stored once whatever the number of
/// images using it, and kept byte for byte, so manifest and config digests stay those of the
/// input. Multi-platform indexes are kept whole: every child manifest and its blobs.
struct ImageCollector {
    static let top = "images"
    /// Manifests, indexes and configs are small; a larger one is not what it claims to be.
    static let documentLimit = 4 << 20

    let scratch: String
    private var blobs: [SHA256Digest: CollectedFile] = [:]
    private var named: [String: (LayoutFiles.Entry, archive: String)] = [:]
    private var unnamed: [String: LayoutFiles.Entry] = [:]
    private(set) var summaries: [ImageSummary] = []
    private var generated = 0
    private var firstSource: Int?

    init(scratch: String) { self.scratch = scratch }

    var isEmpty: Bool { firstSource == nil }

    mutating func add(_ archives: [String], source: Int, name: String) throws {
        if firstSource == nil { firstSource = source }
        let progress = Progress("reading images", total: try archives.reduce(Int64(0)) { $0 + (try FS.info($1)?.size ?? 0) })
        defer { progress.finish() }
        for path in archives {
            guard try FS.info(path) != nil else { throw ToolError.usage("source '\(name)': image archive '\(path)' does not exist") }
            let archive = try ImageArchive.scan(path, scratch: scratch, progress: progress)
            var reading = ArchiveReading(archive: archive, source: source, collector: self)
            if archive.entry("oci-layout") != nil, archive.entry("index.json") != nil {
                try reading.readLayout()
            } else if archive.entry("manifest.json") != nil {
                try reading.readDockerSave()
            } else {
                throw ToolError.usage("source '\(name)': '\(path)' is neither a `docker save` archive (manifest.json) nor an OCI layout archive (oci-layout, index.json)")
            }
            self = reading.collector
        }
    }

    /// An image pulled from a registry: its files are the cache's, read in place like a plain
    /// tarball's entries, and named like an archive's image, so deltas, dedup and the mirror's
    /// layout treat both alike.
    mutating func add(pulled image: PulledImage, source: Int) throws {
        if firstSource == nil { firstSource = source }
        for b in image.blobs where blobs[b.digest] == nil {
            blobs[b.digest] = CollectedFile(logicalPath: "\(ImageCollector.top)/blobs/sha256/\(b.digest.hex)", sourcePath: b.path, size: b.size,
                                            mode: 0o644, source: source, digest: b.digest, compressed: b.compressed)
        }
        let name = image.reference.layoutName
        if let name, let problem = ArchiveReading.refProblem(name) { throw ToolError.refused("image \(image.written): name \"\(name)\" \(problem)") }
        let summary = ImageSummary(ref: name, digest: image.digest, mediaType: image.top.mediaType ?? MediaType.ociManifest,
                                   platforms: image.platforms, size: image.size, pulledFrom: image.reference.description,
                                   resolvedAt: image.resolvedAt, reducedFrom: image.reducedFrom)
        try self.name(name, image.top, summary: summary, archive: image.written)
    }

    /// The layout's own files, and every blob, as files of the tree.
    mutating func finish() throws -> [CollectedFile] {
        guard let source = firstSource else { return [] }
        var out = Array(blobs.values)
        let entries = named.values.map(\.0) + unnamed.values
        out.append(try generatedFile("\(ImageCollector.top)/index.json", LayoutFiles.index(entries), source: source))
        out.append(try generatedFile("\(ImageCollector.top)/oci-layout", LayoutFiles.ociLayout, source: source))
        summaries.sort { ($0.ref ?? "~" + $0.digest.hex) < ($1.ref ?? "~" + $1.digest.hex) }
        return out
    }

    // MARK: Used while reading one archive

    fileprivate mutating func addBlob(_ digest: SHA256Digest, _ e: ImageArchive.Entry, source: Int) {
        guard blobs[digest] == nil else { return }
        blobs[digest] = CollectedFile(logicalPath: "\(ImageCollector.top)/blobs/sha256/\(digest.hex)", sourcePath: e.file, size: e.size, mode: 0o644,
                                      source: source, offset: e.offset, digest: digest, compressed: Compression.detect(e.head) != nil)
    }

    fileprivate mutating func addGeneratedBlob(_ bytes: [UInt8], source: Int) throws -> SHA256Digest {
        let digest = SHA256Digest.of(bytes)
        if blobs[digest] == nil {
            blobs[digest] = try generatedFile("\(ImageCollector.top)/blobs/sha256/\(digest.hex)", bytes, source: source)
        }
        return digest
    }

    fileprivate mutating func name(_ ref: String?, _ descriptor: Descriptor, summary: ImageSummary, archive: String) throws {
        guard let ref else {
            if unnamed[descriptor.digest] == nil {
                unnamed[descriptor.digest] = LayoutFiles.Entry(ref: nil, descriptor: descriptor)
                summaries.append(summary)
            }
            return
        }
        if let (existing, other) = named[ref] {
            guard existing.descriptor.digest == descriptor.digest else {
                throw ToolError.usage("image \(ref) is \(existing.descriptor.digest) in '\(other)' but \(descriptor.digest) in '\(archive)'; keep one")
            }
            return
        }
        named[ref] = (LayoutFiles.Entry(ref: ref, descriptor: descriptor), archive)
        summaries.append(summary)
    }

    private mutating func generatedFile(_ logical: String, _ bytes: [UInt8], source: Int) throws -> CollectedFile {
        generated += 1
        let path = "\(scratch)/image-generated-\(generated)"
        try FS.writeAtomically(path, bytes, mode: 0o600)
        return CollectedFile(logicalPath: logical, sourcePath: path, size: Int64(bytes.count), mode: 0o644, source: source,
                             digest: SHA256Digest.of(bytes))
    }
}

/// Reading one archive: walks its images from their roots and checks every blob on the way.
private struct ArchiveReading {
    let archive: ImageArchive
    let source: Int
    var collector: ImageCollector

    init(archive: ImageArchive, source: Int, collector: ImageCollector) {
        self.archive = archive
        self.source = source
        self.collector = collector
    }

    var path: String { archive.path }

    // MARK: OCI image layout archives (skopeo, podman, crane; docker save since Docker 25)

    mutating func readLayout() throws {
        let layoutEntry = archive.entry("oci-layout")!
        let layout = try OCIJSON.decode([String: String].self, from: archive.bytes(layoutEntry, limit: 4096, what: "oci-layout"),
                                        what: "oci-layout in '\(path)'")
        guard let version = layout["imageLayoutVersion"], version.hasPrefix("1.") else {
            throw ToolError.refused("'\(path)': oci-layout has image layout version \(layout["imageLayoutVersion"] ?? "none"); 1.x is supported")
        }
        let indexEntry = archive.entry("index.json")!
        let index = try OCIJSON.decode(ImageIndex.self, from: archive.bytes(indexEntry, limit: ImageCollector.documentLimit, what: "index.json"),
                                       what: "index.json in '\(path)'")
        guard !index.manifests.isEmpty else { throw ToolError.refused("'\(path)': index.json lists no images") }
        for d in index.manifests {
            // Docker's own archives name the image in containerd's annotation, the tag alone in the OCI one.
            let ref = (d.annotations?["io.containerd.image.name"] ?? d.annotations?[refNameAnnotation]).map(Reference.familiar)
            if let ref, let problem = Self.refProblem(ref) { throw ToolError.refused("'\(path)': image name \"\(ref)\" \(problem)") }
            let image = ref ?? d.digest
            var sizes: [SHA256Digest: Int64] = [:]
            var platforms: [String] = []
            try walk(d, image: image, sizes: &sizes, platforms: &platforms)
            var top = d
            top.annotations = nil
            let summary = ImageSummary(ref: ref, digest: try d.sha256(in: image), mediaType: d.mediaType ?? MediaType.ociManifest,
                                       platforms: platforms, size: sizes.values.reduce(0, +))
            try collector.name(ref, top, summary: summary, archive: path)
        }
    }

    /// Adds `d`'s blob and, for a manifest or an index, everything it points to.
    private mutating func walk(_ d: Descriptor, image: String, sizes: inout [SHA256Digest: Int64], platforms: inout [String], depth: Int = 0) throws {
        guard depth < 4 else { throw ToolError.refused("'\(path)': image \(image) nests indexes too deeply") }
        let (digest, entry) = try blob(d, image: image)
        sizes[digest] = entry.size
        if MediaType.isIndex(d.mediaType) {
            let bytes = try archive.bytes(entry, limit: ImageCollector.documentLimit, what: "index \(d.digest)")
            let child = try OCIJSON.decode(ImageIndex.self, from: bytes, what: "image \(image): index \(d.digest)")
            for c in child.manifests {
                try walk(c, image: image, sizes: &sizes, platforms: &platforms, depth: depth + 1)
                if let p = c.platform, MediaType.isManifest(c.mediaType) { platforms.append(p.text) }
            }
        } else if MediaType.isManifest(d.mediaType) {
            let bytes = try archive.bytes(entry, limit: ImageCollector.documentLimit, what: "manifest \(d.digest)")
            let m = try OCIJSON.decode(ImageManifest.self, from: bytes, what: "image \(image): manifest \(d.digest)")
            let (configDigest, configEntry) = try blob(m.config, image: image)
            sizes[configDigest] = configEntry.size
            if depth == 0, let c = try? OCIJSON.decode(ImageConfig.self, from: archive.bytes(configEntry, limit: ImageCollector.documentLimit, what: "config"), what: ""),
               let p = c.platformText {
                platforms.append(p)
            }
            for l in m.layers {
                let (ld, le) = try blob(l, image: image)
                sizes[ld] = le.size
            }
        }
        // Anything else (signatures, attestations, artifacts) is carried as the blob it is.
    }

    /// The blob a descriptor names, checked against its digest and size.
    private mutating func blob(_ d: Descriptor, image: String) throws -> (SHA256Digest, ImageArchive.Entry) {
        let digest = try d.sha256(in: "'\(path)': image \(image)")
        guard let e = archive.entry("blobs/sha256/\(digest.hex)") else {
            throw ToolError.refused("'\(path)': image \(image) needs blob sha256:\(digest.hex), which the archive does not hold")
        }
        guard e.sha256 == digest else {
            throw ToolError.refused("'\(path)': image \(image): blob sha256:\(digest.hex) does not match its digest (its bytes hash to sha256:\(e.sha256.hex))")
        }
        guard e.size == d.size else {
            throw ToolError.refused("'\(path)': image \(image): blob sha256:\(digest.hex) is \(e.size) bytes; its descriptor says \(d.size)")
        }
        collector.addBlob(digest, e, source: source)
        return (digest, e)
    }

    // MARK: `docker save` archives (manifest.json, uncompressed layers)

    mutating func readDockerSave() throws {
        let list = try OCIJSON.decode([DockerArchiveEntry].self,
                                      from: archive.bytes(archive.entry("manifest.json")!, limit: ImageCollector.documentLimit, what: "manifest.json"),
                                      what: "manifest.json in '\(path)'")
        guard !list.isEmpty else { throw ToolError.refused("'\(path)': manifest.json lists no images") }
        for item in list {
            let refs = (item.RepoTags ?? []).map(Reference.familiar)
            let image = refs.first ?? item.Config
            guard let configEntry = archive.entry(item.Config) else {
                throw ToolError.refused("'\(path)': image \(image): config '\(item.Config)' is not in the archive")
            }
            // The config's name is its digest (the image ID): check the bytes say the same.
            if let named = Self.digestInName(item.Config), named != configEntry.sha256 {
                throw ToolError.refused("'\(path)': image \(image): config sha256:\(named.hex) does not match its digest (its bytes hash to sha256:\(configEntry.sha256.hex))")
            }
            let config = try OCIJSON.decode(ImageConfig.self, from: archive.bytes(configEntry, limit: ImageCollector.documentLimit, what: "config \(item.Config)"),
                                            what: "'\(path)': image \(image): config")
            let diffIDs = config.rootfs?.diff_ids ?? []
            guard diffIDs.count == item.Layers.count else {
                throw ToolError.refused("'\(path)': image \(image) has \(item.Layers.count) layers but its config lists \(diffIDs.count)")
            }
            var layers: [Descriptor] = []
            for (i, name) in item.Layers.enumerated() {
                guard let e = archive.entry(name) else {
                    throw ToolError.refused("'\(path)': image \(image): layer '\(name)' is not in the archive")
                }
                // A docker save layer is the uncompressed tar, whose digest is the config's diff ID. A
                // compressed one (some tools write them) must at least be named after its digest.
                let named = Self.digestInName(name)
                let matchesDiffID = "sha256:\(e.sha256.hex)" == diffIDs[i]
                guard matchesDiffID || (Compression.detect(e.head) != nil && named == e.sha256) else {
                    throw ToolError.refused("'\(path)': image \(image): layer \(name) does not match its digest \(diffIDs[i]) (its bytes hash to sha256:\(e.sha256.hex))")
                }
                if let named, named != e.sha256 {
                    throw ToolError.refused("'\(path)': image \(image): layer \(name) does not match its digest (its bytes hash to sha256:\(e.sha256.hex))")
                }
                collector.addBlob(e.sha256, e, source: source)
                layers.append(Descriptor(mediaType: LayoutFiles.layerMediaType(head: e.head), digest: "sha256:\(e.sha256.hex)", size: e.size))
            }
            collector.addBlob(configEntry.sha256, configEntry, source: source)
            let configDescriptor = Descriptor(mediaType: MediaType.ociConfig, digest: "sha256:\(configEntry.sha256.hex)", size: configEntry.size)
            let manifest = LayoutFiles.manifest(config: configDescriptor, layers: layers)
            let digest = try collector.addGeneratedBlob(manifest, source: source)
            let top = Descriptor(mediaType: MediaType.ociManifest, digest: "sha256:\(digest.hex)", size: Int64(manifest.count))
            var distinct: [String: Int64] = [:]
            for l in layers { distinct[l.digest] = l.size }
            let size = distinct.values.reduce(configEntry.size + Int64(manifest.count), +)
            for ref in refs.isEmpty ? [nil] : refs.map(Optional.some) {
                if let ref, let problem = Self.refProblem(ref) { throw ToolError.refused("'\(path)': image name \"\(ref)\" \(problem)") }
                let summary = ImageSummary(ref: ref, digest: digest, mediaType: MediaType.ociManifest,
                                           platforms: config.platformText.map { [$0] } ?? [], size: size)
                try collector.name(ref, top, summary: summary, archive: path)
            }
        }
    }

    /// `<hex>.json`, `<hex>.tar`, `blobs/sha256/<hex>`: the digest a file's name claims.
    static func digestInName(_ name: String) -> SHA256Digest? {
        var base = Substring(name.split(separator: "/").last ?? "")
        for ext in [".json", ".tar"] where base.hasSuffix(ext) { base = base.dropLast(ext.count) }
        guard base.count == 64 else { return nil }
        return SHA256Digest(hex: String(base))
    }

    /// A name that would be unsafe in a layout or a registry, or nil.
    static func refProblem(_ ref: String) -> String? {
        if ref.isEmpty || ref.utf8.count > 512 { return "is empty or too long" }
        if ref.utf8.contains(where: { $0 < 0x21 || $0 == 0x7F }) { return "contains spaces or control characters" }
        return nil
    }
}
