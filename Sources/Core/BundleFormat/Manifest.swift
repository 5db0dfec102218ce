import Support

/// What a source is: it decides the top folder its files land in.
public enum SourceKind: String, Sendable, CaseIterable {
    case advisories, policies, images
}

/// One compressed part of the bundle archive: the index or a pack of objects.
public struct PartRef: Equatable, Sendable {
    /// Entry name inside the bundle archive.
    public var path: String
    /// SHA-256 of the stored (compressed) bytes.
    public var sha256: SHA256Digest
    public var size: Int64
    /// Bytes after decompression; decompression stops with an error past this.
    public var uncompressed: Int64
    /// True for a pack of bytes kept as they are (layers that are compressed already): zstd
    /// would spend time and gain nothing on them.
    public var stored: Bool

    public init(path: String, sha256: SHA256Digest, size: Int64, uncompressed: Int64, stored: Bool = false) {
        self.path = path
        self.sha256 = sha256
        self.size = size
        self.uncompressed = uncompressed
        self.stored = stored
    }

    /// The entry name a pack with these bytes has.
    public static func packPath(_ digest: SHA256Digest, stored: Bool) -> String {
        stored ? "packs/\(digest.hex)" : "packs/\(digest.hex).zst"
    }

    var json: JSON {
        var m: [String: JSON] = ["path": .string(path), "sha256": .string(sha256.hex), "size": .int(size), "uncompressed": .int(uncompressed)]
        // Only stored packs carry the key, so bundles without one keep their bytes.
        if stored { m["compression"] = .string("none") }
        return .object(m)
    }

    init(_ o: JSONObject) throws {
        try o.allowOnly(["path", "sha256", "size", "uncompressed", "compression"])
        path = try o.string("path")
        sha256 = try o.digest("sha256")
        size = try o.int("size", max: Manifest.maxPartSize)
        uncompressed = try o.int("uncompressed", max: Manifest.maxPartSize)
        switch try o.optionalString("compression") {
        case nil: stored = false
        case "none"?:
            stored = true
            guard size == uncompressed else { throw ToolError.refused("\(o.what): a stored pack must be as large as its contents") }
        case let other?: throw ToolError.refused("\(o.what): unknown compression \"\(ToolError.shown(other))\"")
        }
    }
}

/// An image the bundle carries, as `inspect` and `mirrorctl apply` show it.
public struct ImageSummary: Equatable, Sendable {
    /// The name and tag it came with; nil for an image saved by ID only.
    public var ref: String?
    /// SHA-256 of its manifest (or index, for a multi-platform image).
    public var digest: SHA256Digest
    public var mediaType: String
    public var platforms: [String]
    /// Bytes of every blob it uses, its manifest and config included.
    public var size: Int64
    /// For an image pulled from a registry: the full reference it was pulled by
    /// ("docker.io/library/nginx:1.27"), when that reference was resolved to `digest` (the
    /// clock's time), and, for an index reduced to some platforms, the registry's own index.
    public var pulledFrom: String?
    public var resolvedAt: Int64?
    public var reducedFrom: SHA256Digest?

    public init(ref: String?, digest: SHA256Digest, mediaType: String, platforms: [String], size: Int64,
                pulledFrom: String? = nil, resolvedAt: Int64? = nil, reducedFrom: SHA256Digest? = nil) {
        self.ref = ref
        self.digest = digest
        self.mediaType = mediaType
        self.platforms = platforms
        self.size = size
        self.pulledFrom = pulledFrom
        self.resolvedAt = resolvedAt
        self.reducedFrom = reducedFrom
    }

    var json: JSON {
        var o: [String: JSON] = ["ref": ref.map { .string($0) } ?? .null, "digest": .string(digest.hex), "mediaType": .string(mediaType),
                                 "platforms": .array(platforms.map { .string($0) }), "size": .int(size)]
        // Only pulled images carry these, so a bundle of image tarballs keeps its bytes.
        if let pulledFrom { o["pulledFrom"] = .string(pulledFrom) }
        if let resolvedAt { o["resolvedAt"] = .string(Timestamp.format(resolvedAt)) }
        if let reducedFrom { o["reducedFrom"] = .string(reducedFrom.hex) }
        return .object(o)
    }

    init(_ o: JSONObject) throws {
        try o.allowOnly(["ref", "digest", "mediaType", "platforms", "size", "pulledFrom", "resolvedAt", "reducedFrom"])
        ref = try o.optionalString("ref")
        digest = try o.digest("digest")
        mediaType = try o.string("mediaType")
        platforms = try o.array("platforms").map {
            guard case .string(let s) = $0 else { throw ToolError.refused("\(o.what): platforms must be strings") }
            return try JSONObject.plain(s, "\(o.what): a platform")
        }
        size = try o.int("size", max: Manifest.maxPartSize)
        pulledFrom = try o.optionalString("pulledFrom")
        resolvedAt = try o.optionalString("resolvedAt").map { t in
            guard let v = Timestamp.parse(t) else { throw ToolError.refused("\(o.what): \"resolvedAt\" is not an RFC 3339 UTC time") }
            return v
        }
        reducedFrom = o.members["reducedFrom"] == nil ? nil : try o.digest("reducedFrom")
    }
}

/// A source as the manifest records it, for people reading `inspect` and transfer logs.
public struct SourceSummary: Equatable, Sendable {
    public var name: String
    public var kind: SourceKind
    /// The folder, file or URL it was collected from.
    public var origin: String
    public var files: Int64
    public var size: Int64

    public init(name: String, kind: SourceKind, origin: String, files: Int64, size: Int64) {
        self.name = name
        self.kind = kind
        self.origin = origin
        self.files = files
        self.size = size
    }
}

/// The version a delta bundle applies to. A delta made from a mirror's receipt also names that
/// mirror, so it cannot be applied elsewhere by mistake.
public struct BaseRef: Equatable, Sendable {
    public var name: String
    public var sequence: Int64
    public var manifest: SHA256Digest
    public var tree: SHA256Digest
    public var mirror: String?

    public init(name: String, sequence: Int64, manifest: SHA256Digest, tree: SHA256Digest, mirror: String?) {
        self.name = name
        self.sequence = sequence
        self.manifest = manifest
        self.tree = tree
        self.mirror = mirror
    }

    var json: JSON {
        .object(["name": .string(name), "sequence": .int(sequence), "manifest": .string(manifest.hex), "tree": .string(tree.hex),
                 "mirror": mirror.map { .string($0) } ?? .null])
    }

    init(_ o: JSONObject) throws {
        try o.allowOnly(["name", "sequence", "manifest", "tree", "mirror"])
        name = try o.string("name")
        sequence = try o.int("sequence", max: Manifest.maxSequence)
        manifest = try o.digest("manifest")
        tree = try o.digest("tree")
        mirror = try o.optionalString("mirror")
    }

    public var description: String { "\(name) sequence \(sequence) (manifest sha256:\(manifest.hex))" }
}

/// The signed statement of a bundle: what it is, and digests that pin every byte it carries.
///
/// Every file's path, size, mode and SHA-256 is committed to through `tree`, the SHA-256 of the
/// canonical tree listing (see `TreeListing`); the listing itself is rebuilt from the verified
/// index and packs. Keeping per-file digests out of this file keeps it small (a 2,600-file feed
/// would otherwise add ~90 KB of incompressible hex to a 500 KB bundle) while the signature still
/// covers every byte.
public struct Manifest: Equatable, Sendable {
    public static let format = "airgap-bundle/1"
    public static let maxPartSize: Int64 = 1 << 50
    public static let maxBytes = 16 << 20
    /// The largest sequence either side accepts: 2^53 - 1, so a sequence survives every JSON reader
    /// and `sequence + 1` can never overflow. A bundle signed with a larger one would lock the
    /// channel against every later bundle, the rotation that revokes a stolen key among them.
    public static let maxSequence: Int64 = (1 << 53) - 1

    public var name: String
    public var version: String
    public var sequence: Int64
    public var created: Int64
    public var expires: Int64?
    public var tree: SHA256Digest
    public var treeFiles: Int64
    public var treeSize: Int64
    public var index: PartRef
    public var packs: [PartRef]
    public var sources: [SourceSummary]
    /// The images in the tree's OCI layout (images/), for people; the tree digest pins the bytes.
    public var images: [ImageSummary] = []
    /// SHA-256 of the TRUST policy the bundle carries, if any: signing the manifest binds it.
    public var trust: SHA256Digest?
    /// Set for a delta: the version it changes. A full bundle has none.
    public var base: BaseRef?

    public init(name: String, version: String, sequence: Int64, created: Int64, expires: Int64?, tree: SHA256Digest,
                treeFiles: Int64, treeSize: Int64, index: PartRef, packs: [PartRef], sources: [SourceSummary], base: BaseRef? = nil) {
        self.name = name
        self.version = version
        self.sequence = sequence
        self.created = created
        self.expires = expires
        self.tree = tree
        self.treeFiles = treeFiles
        self.treeSize = treeSize
        self.index = index
        self.packs = packs
        self.sources = sources
        self.base = base
    }

    public var json: JSON {
        var members: [String: JSON] = [
            "format": .string(Manifest.format),
            "name": .string(name),
            "version": .string(version),
            "sequence": .int(sequence),
            "created": .string(Timestamp.format(created)),
            "expires": expires.map { .string(Timestamp.format($0)) } ?? .null,
            "tree": .object(["sha256": .string(tree.hex), "files": .int(treeFiles), "size": .int(treeSize)]),
            "index": index.json,
            "packs": .array(packs.map(\.json)),
            "sources": .array(sources.map { s in
                .object(["name": .string(s.name), "kind": .string(s.kind.rawValue), "origin": .string(s.origin),
                         "files": .int(s.files), "size": .int(s.size)])
            }),
        ]
        // Only deltas carry the key, so a full bundle's bytes do not depend on delta support.
        if let base { members["base"] = base.json }
        if !images.isEmpty { members["images"] = .array(images.map(\.json)) }
        if let trust { members["trust"] = .string(trust.hex) }
        return .object(members)
    }

    public var canonicalBytes: [UInt8] { json.canonicalBytes }

    /// Parses and validates a manifest. Call only on bytes whose signature has been checked.
    public init(canonical bytes: [UInt8]) throws {
        let what = "MANIFEST"
        let o = try JSONObject(JSON.parseCanonical(bytes, what: what), what: what)
        let format = try o.string("format")
        guard format == Manifest.format else {
            throw ToolError.refused("MANIFEST has format \"\(ToolError.shown(format))\"; this tool reads \"\(Manifest.format)\" (a newer tool may be needed)")
        }
        try o.allowOnly(["format", "name", "version", "sequence", "created", "expires", "tree", "index", "packs", "sources", "base", "images", "trust"])
        name = try o.string("name")
        guard LogicalPath.isPlainName(name) else { throw ToolError.refused("MANIFEST: bundle name \"\(ToolError.shown(name))\" is not a plain name") }
        version = try o.string("version")
        sequence = try o.int("sequence", max: Manifest.maxSequence)
        guard let c = Timestamp.parse(try o.string("created")) else { throw ToolError.refused("MANIFEST: \"created\" is not an RFC 3339 UTC time") }
        created = c
        if let e = try o.optionalString("expires") {
            guard let t = Timestamp.parse(e) else { throw ToolError.refused("MANIFEST: \"expires\" is not an RFC 3339 UTC time") }
            expires = t
        } else {
            expires = nil
        }
        let t = try o.object("tree")
        try t.allowOnly(["sha256", "files", "size"])
        tree = try t.digest("sha256")
        treeFiles = try t.int("files", max: 100_000_000)
        treeSize = try t.int("size", max: Manifest.maxPartSize)
        index = try PartRef(o.object("index"))
        packs = try o.array("packs").enumerated().map { try PartRef(JSONObject($1, what: "MANIFEST pack \($0)")) }
        sources = try o.array("sources").enumerated().map { i, v in
            let s = try JSONObject(v, what: "MANIFEST source \(i)")
            try s.allowOnly(["name", "kind", "origin", "files", "size"])
            guard let kind = SourceKind(rawValue: try s.string("kind")) else { throw ToolError.refused("MANIFEST source \(i): unknown kind") }
            return SourceSummary(name: try s.string("name"), kind: kind, origin: try s.string("origin"),
                                 files: try s.int("files"), size: try s.int("size"))
        }
        base = o.members["base"] == nil ? nil : try BaseRef(o.object("base"))
        trust = o.members["trust"] == nil ? nil : try o.digest("trust")
        images = o.members["images"] == nil ? [] : try o.array("images").enumerated().map { i, v in
            try ImageSummary(JSONObject(v, what: "MANIFEST image \(i)"))
        }
        if let base {
            guard base.name == name else { throw ToolError.refused("MANIFEST: a delta of '\(ToolError.shown(base.name))' cannot be bundle '\(name)'") }
            guard base.sequence < sequence else { throw ToolError.refused("MANIFEST: a delta must be newer than its base") }
        }
        try validateParts()
    }

    /// Entry names must be the ones this format writes, each once.
    private func validateParts() throws {
        guard index.path == "INDEX.zst" else { throw ToolError.refused("MANIFEST: the index must be INDEX.zst") }
        var seen: Set<String> = [index.path]
        for p in packs {
            guard p.path == PartRef.packPath(p.sha256, stored: p.stored) else {
                throw ToolError.refused("MANIFEST: pack entry \"\(ToolError.shown(p.path))\" is not named after its digest")
            }
            guard seen.insert(p.path).inserted else { throw ToolError.refused("MANIFEST lists \"\(ToolError.shown(p.path))\" twice") }
        }
    }

    /// The short id people see for a manifest: its SHA-256.
    public static func digest(of bytes: [UInt8]) -> SHA256Digest { SHA256Digest.of(bytes) }
}
