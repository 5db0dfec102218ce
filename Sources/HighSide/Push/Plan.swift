import OCI
import Support
import SystemIO

/// A blob an image needs in the registry: a config or a layer.
struct BlobRef: Hashable, Sendable {
    var digest: SHA256Digest
    var size: Int64
    var mediaType: String?
    var name: String { "sha256:\(digest.hex)" }
}

/// A manifest or index to PUT, with its bytes already checked against its digest.
struct ManifestNode: Sendable {
    var digest: SHA256Digest
    var mediaType: String
    var bytes: [UInt8]
    /// An index's manifests, pushed by digest before the index itself.
    var children: [ManifestNode]
    /// An image manifest's config and layers.
    var blobs: [BlobRef]
    var name: String { "sha256:\(digest.hex)" }

    /// Every blob below this node, each once, in first-seen order.
    var allBlobs: [BlobRef] {
        var seen = Set<SHA256Digest>()
        var out: [BlobRef] = []
        func walk(_ n: ManifestNode) {
            for b in n.blobs where seen.insert(b.digest).inserted { out.append(b) }
            for c in n.children { walk(c) }
        }
        walk(self)
        return out
    }
}

/// One image of the layout, ready to push: where it goes and what it is made of.
public struct ImagePlan: Sendable {
    /// The layout's name for it ("example/app:1.0").
    public var ref: String
    public var repository: String
    public var tag: String
    var root: ManifestNode
    public var digest: String { root.name }
    /// Bytes of all its config and layer blobs.
    public var blobBytes: Int64 { root.allBlobs.reduce(0) { $0 + $1.size } }
}

/// An image the layout names but that cannot be pushed, and why.
public struct ImageProblem: Sendable {
    public var ref: String
    public var reason: String
}

/// Reads an OCI image layout (oci-layout, index.json, blobs/sha256/) into push plans.
///
/// Manifests are small and read whole, checked against their digests before anything is sent;
/// config and layer blobs are only checked for presence and size here, and hashed later as they
/// are read for upload.
public struct ImageLayout: Sendable {
    public let path: String
    /// Registries refuse larger manifests (distribution's limit is 4 MiB).
    static let manifestLimit: Int64 = 4 << 20

    public init(path: String) {
        self.path = path
    }

    func blobPath(_ d: SHA256Digest) -> String { "\(path)/blobs/sha256/\(d.hex)" }

    /// The images index.json names, each either planned or refused with a reason. Problems with
    /// the layout as a whole (no index.json, not JSON) are thrown.
    public func plans(prefix: String?) throws -> (plans: [ImagePlan], problems: [ImageProblem]) {
        let indexPath = path + "/index.json"
        guard let info = try FS.info(indexPath), info.kind == .regular else {
            throw ToolError.refused("'\(path)' is not an OCI image layout (no index.json)")
        }
        guard info.size <= ImageLayout.manifestLimit else { throw ToolError.refused("\(indexPath) is \(info.size) bytes; that is not an image index") }
        let index = try OCIJSON.decode(ImageIndex.self, from: FS.readFile(indexPath), what: indexPath)
        var plans: [ImagePlan] = []
        var problems: [ImageProblem] = []
        var seen = Set<String>()
        for (i, d) in index.manifests.enumerated() {
            let ref = d.annotations?[refNameAnnotation] ?? ""
            let label = ref.isEmpty ? "image \(i + 1) of \(indexPath)" : ref
            do {
                guard !ref.isEmpty else { throw ToolError.refused("it has no \(refNameAnnotation) annotation, so it has no name to push under") }
                let (name, tag) = Reference.split(ref)
                guard let tag, Reference.problem(ref) == nil else {
                    throw ToolError.refused("its name \(Reference.problem(ref) ?? "has no tag")")
                }
                let repository = (prefix.map { $0 + "/" } ?? "") + Reference.withoutRegistry(name)
                guard RepositoryName.isValid(repository) else {
                    throw ToolError.refused("'\(repository)' is not a repository name a registry accepts")
                }
                guard seen.insert(repository + ":" + tag).inserted else { throw ToolError.refused("index.json names it twice") }
                let root = try node(d, image: label, depth: 0)
                plans.append(ImagePlan(ref: ref, repository: repository, tag: tag, root: root))
            } catch let e as ToolError {
                problems.append(ImageProblem(ref: label, reason: e.message))
            }
        }
        return (plans, problems)
    }

    /// Reads and checks one manifest or index, and below it everything it names.
    private func node(_ d: Descriptor, image: String, depth: Int) throws -> ManifestNode {
        guard depth < 4 else { throw ToolError.refused("its indexes nest deeper than 4") }
        let digest = try d.sha256(in: image)
        guard let type = d.mediaType, MediaType.isIndex(type) || MediaType.isManifest(type) else {
            throw ToolError.refused("manifest sha256:\(digest.hex) has media type \(d.mediaType ?? "(none)"), which push does not handle (OCI or Docker schema 2 manifests and indexes only)")
        }
        guard d.size <= ImageLayout.manifestLimit else {
            throw ToolError.refused("manifest sha256:\(digest.hex) is \(d.size) bytes, more than a registry accepts")
        }
        let file = blobPath(digest)
        guard let info = try FS.info(file), info.kind == .regular else {
            throw ToolError.refused("manifest sha256:\(digest.hex) is missing from the layout")
        }
        guard info.size == d.size else {
            throw ToolError.refused("manifest sha256:\(digest.hex) is \(info.size) bytes; its descriptor says \(d.size)")
        }
        let bytes = try FS.readFile(file, limit: Int(ImageLayout.manifestLimit))
        guard SHA256Digest.of(bytes) == digest else {
            throw ToolError.refused("manifest sha256:\(digest.hex) in the layout does not match its digest; nothing of this image was pushed")
        }
        let what = "manifest sha256:\(digest.hex)"
        if MediaType.isIndex(type) {
            let index = try OCIJSON.decode(ImageIndex.self, from: bytes, what: what)
            let children = try index.manifests.map { try node($0, image: image, depth: depth + 1) }
            return ManifestNode(digest: digest, mediaType: type, bytes: bytes, children: children, blobs: [])
        }
        let m = try OCIJSON.decode(ImageManifest.self, from: bytes, what: what)
        var blobs: [BlobRef] = []
        for b in [m.config] + m.layers {
            let bd = try b.sha256(in: what)
            let bfile = blobPath(bd)
            guard let binfo = try FS.info(bfile), binfo.kind == .regular else {
                // Layers a registry must not store (Windows base layers) are fetched from their URLs.
                if let t = b.mediaType, t.contains("nondistributable") || t.contains("foreign") { continue }
                throw ToolError.refused("blob sha256:\(bd.hex) is missing from the layout")
            }
            guard binfo.size == b.size else {
                throw ToolError.refused("blob sha256:\(bd.hex) is \(binfo.size) bytes; its descriptor says \(b.size)")
            }
            blobs.append(BlobRef(digest: bd, size: b.size, mediaType: b.mediaType))
        }
        return ManifestNode(digest: digest, mediaType: type, bytes: bytes, children: [], blobs: blobs)
    }
}

/// The distribution spec's grammar for repository names, in OCI since the low side's pulls read
/// names by the same rule; push's own additions (`trimmedPrefix`) extend it here.
public typealias RepositoryName = OCI.RepositoryName
