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

    public init(path: String, sha256: SHA256Digest, size: Int64, uncompressed: Int64) {
        self.path = path
        self.sha256 = sha256
        self.size = size
        self.uncompressed = uncompressed
    }

    var json: JSON {
        .object(["path": .string(path), "sha256": .string(sha256.hex), "size": .int(size), "uncompressed": .int(uncompressed)])
    }

    init(_ o: JSONObject) throws {
        try o.allowOnly(["path", "sha256", "size", "uncompressed"])
        path = try o.string("path")
        sha256 = try o.digest("sha256")
        size = try o.int("size", max: Manifest.maxPartSize)
        uncompressed = try o.int("uncompressed", max: Manifest.maxPartSize)
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
        sequence = try o.int("sequence")
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
        try o.allowOnly(["format", "name", "version", "sequence", "created", "expires", "tree", "index", "packs", "sources", "base"])
        name = try o.string("name")
        guard LogicalPath.isPlainName(name) else { throw ToolError.refused("MANIFEST: bundle name \"\(ToolError.shown(name))\" is not a plain name") }
        version = try o.string("version")
        sequence = try o.int("sequence")
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
            guard p.path == "packs/\(p.sha256.hex).zst" else {
                throw ToolError.refused("MANIFEST: pack entry \"\(ToolError.shown(p.path))\" is not named after its digest")
            }
            guard seen.insert(p.path).inserted else { throw ToolError.refused("MANIFEST lists \"\(p.path)\" twice") }
        }
    }

    /// The short id people see for a manifest: its SHA-256.
    public static func digest(of bytes: [UInt8]) -> SHA256Digest { SHA256Digest.of(bytes) }
}
