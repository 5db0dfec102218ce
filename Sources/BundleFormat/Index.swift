import Support

/// Where each file's bytes are: the compressed index inside a bundle.
///
/// Objects are distinct contents, stored once each, concatenated in pack order; files name the
/// object that holds their bytes. Digests are not stored here: the packs' signed digests pin the
/// bytes, and the tree digest in the manifest pins each file's SHA-256 once recomputed.
public struct BundleIndex: Equatable, Sendable {
    public struct Object: Equatable, Sendable {
        public var pack: Int
        public var size: Int64
        public init(pack: Int, size: Int64) { self.pack = pack; self.size = size }
    }

    public struct File: Equatable, Sendable {
        public var path: String
        public var mode: UInt32
        public var object: Int
        public init(path: String, mode: UInt32, object: Int) { self.path = path; self.mode = mode; self.object = object }
    }

    public var objects: [Object]
    public var files: [File]

    public init(objects: [Object], files: [File]) {
        self.objects = objects
        self.files = files
    }

    public var json: JSON {
        .object([
            "objects": .array(objects.map { .array([.int(Int64($0.pack)), .int($0.size)]) }),
            "files": .array(files.map { .array([.string($0.path), .int(Int64($0.mode)), .int(Int64($0.object))]) }),
        ])
    }

    /// Parses and checks the index against the manifest it came with.
    public init(canonical bytes: [UInt8], manifest: Manifest) throws {
        let what = "INDEX"
        let o = try JSONObject(JSON.parseCanonical(bytes, what: what), what: what)
        try o.allowOnly(["objects", "files"])
        var objects: [Object] = []
        var perPack = [Int64](repeating: 0, count: manifest.packs.count)
        var lastPack = 0
        for (i, v) in try o.array("objects").enumerated() {
            guard case .array(let a) = v, a.count == 2, case .int(let p) = a[0], case .int(let s) = a[1],
                  p >= 0, p < manifest.packs.count, s >= 0 else {
                throw ToolError.refused("INDEX object \(i) is malformed")
            }
            // Objects are listed in pack order so that a pack can be streamed once, front to back.
            guard Int(p) >= lastPack else { throw ToolError.refused("INDEX objects are not in pack order at \(i)") }
            lastPack = Int(p)
            perPack[Int(p)] += s
            objects.append(Object(pack: Int(p), size: s))
        }
        for (i, p) in manifest.packs.enumerated() where perPack[i] != p.uncompressed {
            throw ToolError.refused("INDEX objects of pack \(i) add up to \(perPack[i]) bytes, the manifest says \(p.uncompressed)")
        }
        var files: [File] = []
        var total: Int64 = 0
        var previous: String?
        for (i, v) in try o.array("files").enumerated() {
            guard case .array(let a) = v, a.count == 3, case .string(let path) = a[0], case .int(let mode) = a[1],
                  case .int(let obj) = a[2], obj >= 0, obj < objects.count else {
                throw ToolError.refused("INDEX file \(i) is malformed")
            }
            guard mode == 0o644 || mode == 0o755 else { throw ToolError.refused("INDEX file \"\(path)\" has mode \(String(mode, radix: 8)); only 644 and 755 are carried") }
            if let problem = LogicalPath.problem(path) { throw ToolError.refused("INDEX path \"\(path)\" \(problem)") }
            guard let top = path.split(separator: "/").first, SourceKind(rawValue: String(top)) != nil, path.contains("/") else {
                throw ToolError.refused("INDEX path \"\(path)\" is not under advisories/, policies/ or images/")
            }
            if let prev = previous, !LogicalPath.bytewiseLess(prev, path) {
                throw ToolError.refused(prev == path ? "INDEX lists \"\(path)\" twice" : "INDEX files are not sorted at \"\(path)\"")
            }
            previous = path
            total += objects[Int(obj)].size
            files.append(File(path: path, mode: UInt32(mode), object: Int(obj)))
        }
        guard Int64(files.count) == manifest.treeFiles, total == manifest.treeSize else {
            throw ToolError.refused("INDEX describes \(files.count) files of \(total) bytes; the manifest says \(manifest.treeFiles) of \(manifest.treeSize)")
        }
        try TreeListing.checkShape(files.map(\.path))
        self.objects = objects
        self.files = files
    }
}

/// The complete listing of a tree: every file's path, mode, size and SHA-256, sorted by path.
/// Its canonical JSON's SHA-256 is the manifest's `tree` digest; the mirror keeps it as FILES.json.
public struct TreeListing: Equatable, Sendable {
    public struct Entry: Equatable, Sendable {
        public var path: String
        public var mode: UInt32
        public var size: Int64
        public var sha256: SHA256Digest
        public init(path: String, mode: UInt32, size: Int64, sha256: SHA256Digest) {
            self.path = path
            self.mode = mode
            self.size = size
            self.sha256 = sha256
        }
    }

    public var entries: [Entry]

    public init(entries: [Entry]) { self.entries = entries }

    public var json: JSON {
        .object(["files": .array(entries.map { .array([.string($0.path), .int(Int64($0.mode)), .int($0.size), .string($0.sha256.hex)]) })])
    }

    public var canonicalBytes: [UInt8] { json.canonicalBytes }
    public var digest: SHA256Digest { SHA256Digest.of(canonicalBytes) }
    public var totalSize: Int64 { entries.reduce(0) { $0 + $1.size } }

    public init(canonical bytes: [UInt8], what: String) throws {
        let o = try JSONObject(JSON.parseCanonical(bytes, what: what), what: what)
        try o.allowOnly(["files"])
        entries = try o.array("files").enumerated().map { i, v in
            guard case .array(let a) = v, a.count == 4, case .string(let p) = a[0], case .int(let m) = a[1],
                  case .int(let s) = a[2], case .string(let h) = a[3], let d = SHA256Digest(hex: h),
                  LogicalPath.problem(p) == nil, s >= 0, m == 0o644 || m == 0o755 else {
                throw ToolError.refused("\(what) entry \(i) is malformed")
            }
            return Entry(path: p, mode: UInt32(m), size: s, sha256: d)
        }
    }

    /// A path cannot be both a file and a folder ("a" and "a/b"), nor the mirror's own BUNDLE.json.
    public static func checkShape(_ sortedPaths: [String]) throws {
        let files = Set(sortedPaths)
        for p in sortedPaths {
            if p == "BUNDLE.json" { throw ToolError.refused("path \"BUNDLE.json\" is reserved for the mirror") }
            var prefix = Substring(p)
            while let slash = prefix.lastIndex(of: "/") {
                prefix = prefix[..<slash]
                if files.contains(String(prefix)) {
                    throw ToolError.refused("\"\(prefix)\" is listed as a file and as the folder of \"\(p)\"")
                }
            }
        }
    }
}
