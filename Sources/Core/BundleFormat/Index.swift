import Support

/// Where each file's bytes are: the compressed index inside a bundle.
///
/// Objects are distinct contents, stored once each, concatenated in pack order; files name the
/// object that holds their bytes. Digests are not stored here: the packs' signed digests pin the
/// bytes, and the tree digest in the manifest pins each file's SHA-256 once recomputed.
///
/// A delta's index lists only what changes: files carried whole (objects), files carried as a
/// zstd patch against the base file with a given digest (patches, one frame each, concatenated
/// in patch packs), files the base already holds under another path (by digest), and removals.
public struct BundleIndex: Equatable, Sendable {
    public struct Object: Equatable, Sendable {
        public var pack: Int
        public var size: Int64
        public init(pack: Int, size: Int64) { self.pack = pack; self.size = size }
    }

    public struct Patch: Equatable, Sendable {
        public var pack: Int
        /// Bytes of the zstd frame inside its pack.
        public var stored: Int64
        /// Bytes it decodes to.
        public var size: Int64
        /// The base file it was made against.
        public var base: SHA256Digest
        /// nil: one frame made against the whole base file. Otherwise the frames, in order, of a
        /// patch cut into segments, each made against a region of the base (see `PatchSegment`).
        public var segments: [PatchSegment]?
        public init(pack: Int, stored: Int64, size: Int64, base: SHA256Digest, segments: [PatchSegment]? = nil) {
            self.pack = pack
            self.stored = stored
            self.size = size
            self.base = base
            self.segments = segments
        }
    }

    public enum Source: Equatable, Sendable {
        case object(Int)
        case patch(Int)
        /// Bytes the base version already has (in a delta), named by digest.
        case base(SHA256Digest)

        /// The item the bundle carries for this file; nil for bytes the base already has.
        public var item: Item? {
            switch self {
            case .object(let i): .object(i)
            case .patch(let k): .patch(k)
            case .base: nil
            }
        }
    }

    public struct File: Equatable, Sendable {
        public var path: String
        public var mode: UInt32
        public var source: Source
        public init(path: String, mode: UInt32, source: Source) { self.path = path; self.mode = mode; self.source = source }
        public init(path: String, mode: UInt32, object: Int) { self.init(path: path, mode: mode, source: .object(object)) }
    }

    public var objects: [Object]
    public var patches: [Patch]
    public var files: [File]
    public var removed: [String]

    public init(objects: [Object], files: [File], patches: [Patch] = [], removed: [String] = []) {
        self.objects = objects
        self.files = files
        self.patches = patches
        self.removed = removed
    }

    /// The largest base file a patch may be made against. Making and decoding a patch holds the
    /// base in memory (zstd's reference prefix), so both sides bound memory with this one rule.
    public static let patchBaseLimit: Int64 = 64 << 20

    /// One thing the packs carry: an object, or the file a patch decodes to. `ObjectSink` and
    /// the index's file references number them in one sequence, objects first, then patches;
    /// `number(of:)` and `item(number:)` are the only places that numbering is worked out.
    public enum Item: Hashable, Sendable {
        case object(Int)
        case patch(Int)
    }

    /// How many items the packs carry: objects and patches.
    public var itemCount: Int { objects.count + patches.count }

    /// The item's number, as `ObjectSink` receives it and a file of the index names it.
    public func number(of item: Item) -> Int {
        switch item {
        case .object(let i): i
        case .patch(let k): objects.count + k
        }
    }

    /// The item with number `n`, or nil when this index has none.
    public func item(number n: Int) -> Item? {
        if n >= 0 && n < objects.count { return .object(n) }
        if n >= objects.count && n < itemCount { return .patch(n - objects.count) }
        return nil
    }

    /// The bytes the item holds once decoded.
    public func size(of item: Item) -> Int64 {
        switch item {
        case .object(let i): objects[i].size
        case .patch(let k): patches[k].size
        }
    }

    /// The size of item number `n` (which must exist).
    public func itemSize(_ n: Int) -> Int64 { size(of: item(number: n)!) }

    public var json: JSON {
        var members: [String: JSON] = [
            "objects": .array(objects.map { .array([.int(Int64($0.pack)), .int($0.size)]) }),
            "files": .array(files.map { f in
                let ref: JSON
                switch f.source {
                case .object(let i): ref = .int(Int64(i))
                case .patch(let k): ref = .int(Int64(number(of: .patch(k))))
                case .base(let d): ref = .string(d.hex)
                }
                return .array([.string(f.path), .int(Int64(f.mode)), ref])
            }),
        ]
        // Only deltas carry these keys, so a full bundle's index does not depend on them.
        if !patches.isEmpty { members["patches"] = .array(patches.map(\.json)) }
        if !removed.isEmpty { members["removed"] = .array(removed.map { .string($0) }) }
        return .object(members)
    }

    /// The canonical encoding of `json`, written row by row instead of through a tree of values.
    public var canonicalBytes: [UInt8] {
        var out: [UInt8] = []
        try? write { out += $0 }
        return out
    }

    /// Streams the canonical encoding to `sink` in chunks of about 1 MiB.
    public func write(to sink: @escaping ([UInt8]) throws -> Void) throws {
        try BundleIndex.write(files: files, objects: objects, patches: patches, removed: removed, to: sink)
    }

    /// The canonical encoding of an index whose files come as a sequence: a build makes each
    /// row from its own lists as it is written, so a large tree's index is never held.
    public static func write<S: Sequence>(files: S, objects: [Object], patches: [Patch], removed: [String],
                                          to sink: @escaping ([UInt8]) throws -> Void) throws where S.Element == File {
        let numbering = BundleIndex(objects: objects, files: [], patches: patches)
        var w = CanonicalRowsWriter(sink: sink)
        // Keys in byte order: files, objects, patches, removed.
        try w.rows("files", files) { f, row in
            row.string(f.path)
            row.int(Int64(f.mode))
            switch f.source {
            case .object(let i): row.int(Int64(i))
            case .patch(let k): row.int(Int64(numbering.number(of: .patch(k))))
            case .base(let d): row.string(d.hex)
            }
        }
        try w.rows("objects", objects) { o, row in
            row.int(Int64(o.pack))
            row.int(o.size)
        }
        // Only deltas carry these keys, so a full bundle's index does not depend on them.
        if !patches.isEmpty { try w.member("patches", .array(patches.map(\.json))) }
        if !removed.isEmpty { try w.member("removed", .array(removed.map { .string($0) })) }
        try w.finish()
    }

    /// Parses and checks the index against the manifest it came with.
    ///
    /// In steps, in this order (each refusal names the first thing wrong): objects, patches, the
    /// packs they fill, files, removals, and for a full bundle the tree the manifest signs. The
    /// rows are read one at a time in the document's (key) order, files first, and checked after.
    public init(canonical bytes: [UInt8], manifest: Manifest) throws {
        let what = "INDEX"
        let isDelta = manifest.base != nil
        var rows = CanonicalRows(bytes, what: what)
        var raw = RawIndex()
        while let key = try rows.nextKey() {
            guard isDelta ? ["objects", "files", "patches", "removed"].contains(key) : ["objects", "files"].contains(key) else {
                throw ToolError.refused("\(what) has an unknown field \"\(ToolError.shown(key))\"")
            }
            try raw.read(key, &rows, limit: manifest.treeFiles)
        }
        try self.init(raw, manifest: manifest)
    }

    private init(_ raw: RawIndex, manifest: Manifest) throws {
        let isDelta = manifest.base != nil
        var packs = PackFill(manifest)
        let objects = try BundleIndex.parseObjects(try raw.required(raw.objects, "objects"), into: &packs)
        let patches = isDelta ? try BundleIndex.parsePatches(raw.patches ?? [], into: &packs) : []
        try packs.check()
        self.init(objects: objects, files: [], patches: patches)
        let (files, total) = try parseFiles(try raw.required(raw.files, "files"), isDelta: isDelta, limit: manifest.treeFiles)
        self.files = files
        if isDelta, let removed = raw.removed { self.removed = try BundleIndex.parseRemoved(removed, files: files) }
        if !isDelta {
            guard Int64(files.count) == manifest.treeFiles, total == manifest.treeSize else {
                throw ToolError.refused("INDEX describes \(files.count) files of \(total) bytes; the manifest says \(manifest.treeFiles) of \(manifest.treeSize)")
            }
            try TreeListing.checkShape(files.lazy.map(\.path))
        }
    }

    private static func parseObjects(_ rows: [(pack: Int64, size: Int64)?], into packs: inout PackFill) throws -> [Object] {
        try rows.enumerated().map { i, row in
            guard let (p, s) = row, p >= 0, s >= 0 else { throw ToolError.refused("INDEX object \(i) is malformed") }
            guard p < packs.count else { throw ToolError.refused("INDEX object \(i) is in pack \(p), which the manifest does not list") }
            try packs.claim(Int(p), .objects, "object \(i)", size: s)
            return Object(pack: Int(p), size: s)
        }
    }

    private static func parsePatches(_ rows: [JSON], into packs: inout PackFill) throws -> [Patch] {
        try rows.enumerated().map { i, v in
            guard case .array(let a) = v, a.count == 4 || a.count == 5, case .int(let p) = a[0], case .int(let stored) = a[1], case .int(let s) = a[2],
                  case .string(let h) = a[3], let d = SHA256Digest(hex: h), p >= 0, p < packs.count, stored > 0, s >= 0 else {
                throw ToolError.refused("INDEX patch \(i) is malformed")
            }
            try packs.claim(Int(p), .patches, "patch \(i)", size: s, stored: stored)
            let segments = a.count == 5 ? try PatchSegment.parse(a[4], patch: i, stored: stored, size: s) : nil
            return Patch(pack: Int(p), stored: stored, size: s, base: d, segments: segments)
        }
    }

    /// The files, sorted and each under a source kind, with the bytes their objects add up to.
    /// Stops at `limit` (the signed tree's file count, which admission bounds): an index lists
    /// no more files than the tree it makes.
    private func parseFiles(_ rows: [RawIndex.File], isDelta: Bool, limit: Int64) throws -> ([File], Int64) {
        var files: [File] = []
        files.reserveCapacity(rows.count)
        var total: Int64 = 0
        for (i, row) in rows.enumerated() {
            guard let (path, mode, ref) = row.fields else { throw ToolError.refused("INDEX file \(i) is malformed") }
            let source = try self.source(ref, file: i, isDelta: isDelta)
            if case .object(let n) = source { try BundleIndex.add(&total, objects[n].size, "files") }
            guard mode == 0o644 || mode == 0o755 else { throw ToolError.refused("INDEX file \"\(ToolError.shown(path))\" has mode \(String(mode, radix: 8)); only 644 and 755 are carried") }
            try BundleIndex.checkPath(path)
            if let prev = files.last?.path, !LogicalPath.bytewiseLess(prev, path) {
                throw ToolError.refused(prev == path ? "INDEX lists \"\(ToolError.shown(path))\" twice" : "INDEX files are not sorted at \"\(ToolError.shown(path))\"")
            }
            guard Int64(i) < limit else { throw ToolError.refused("INDEX lists more files than the \(limit) of the signed tree") }
            files.append(File(path: path, mode: UInt32(mode), source: source))
        }
        return (files, total)
    }

    /// What a file's third member names: an item by number, or (in a delta) base content by digest.
    private func source(_ ref: JSON, file i: Int, isDelta: Bool) throws -> Source {
        switch ref {
        case .int(let n):
            switch item(number: Int(exactly: n) ?? -1) {
            case .object(let o)?: return .object(o)
            case .patch(let k)?: return .patch(k)
            case nil: throw ToolError.refused("INDEX file \(i) names no object this bundle has")
            }
        case .string(let h) where isDelta:
            guard let d = SHA256Digest(hex: h) else { throw ToolError.refused("INDEX file \(i) names a malformed digest") }
            return .base(d)
        default:
            throw ToolError.refused("INDEX file \(i) names no object this bundle has")
        }
    }

    private static func parseRemoved(_ rows: [JSON], files: [File]) throws -> [String] {
        // `files` is sorted (checked as parsed): searched in place, not copied into a set.
        let listed = files.lazy.map(\.path)
        var removed: [String] = []
        for (i, v) in rows.enumerated() {
            guard case .string(let path) = v else { throw ToolError.refused("INDEX removal \(i) is malformed") }
            try BundleIndex.checkPath(path)
            if let last = removed.last, !LogicalPath.bytewiseLess(last, path) { throw ToolError.refused("INDEX removals are not sorted at \"\(ToolError.shown(path))\"") }
            guard !TreeListing.search(listed, for: path) else { throw ToolError.refused("INDEX both changes and removes \"\(ToolError.shown(path))\"") }
            removed.append(path)
        }
        return removed
    }

    // Sizes are signed but still hostile input: no sum may wrap around, and none can be
    // larger than any part the manifest may declare.
    static func add(_ total: inout Int64, _ n: Int64, _ what: String) throws {
        let (sum, overflow) = total.addingReportingOverflow(n)
        guard !overflow, sum <= Manifest.maxPartSize else {
            throw ToolError.refused("INDEX \(what) add up to more than \(Manifest.maxPartSize) bytes")
        }
        total = sum
    }

    static func checkPath(_ path: String) throws {
        if let problem = LogicalPath.problem(path) { throw ToolError.refused("INDEX path \"\(ToolError.shown(path))\" \(problem)") }
        guard let top = path.split(separator: "/").first, SourceKind(rawValue: String(top)) != nil, path.contains("/") else {
            throw ToolError.refused("INDEX path \"\(ToolError.shown(path))\" is not under advisories/, policies/ or images/")
        }
    }
}

/// The index's rows as read, before they are checked: files come first in the document, but are
/// checked after the objects and patches they name. A file row is kept as its three fields, not
/// as a JSON tree, so a large index costs about its own size.
private struct RawIndex {
    enum File {
        case row(path: String, mode: Int64, ref: JSON)
        case malformed

        var fields: (String, Int64, JSON)? {
            if case .row(let p, let m, let r) = self { return (p, m, r) }
            return nil
        }
    }

    var objects: [(pack: Int64, size: Int64)?]?
    var files: [File]?
    var patches: [JSON]?
    var removed: [JSON]?

    /// Reads the member `key`. Files stop one past `limit` (the signed tree's file count, which
    /// admission bounds): the check then names that too many are listed.
    mutating func read(_ key: String, _ rows: inout CanonicalRows, limit: Int64) throws {
        var items: [JSON] = []
        switch key {
        case "files":
            var files: [File] = []
            try rows.rows { i, v in
                guard Int64(i) <= limit else { return }
                guard case .array(let a) = v, a.count == 3, case .string(let path) = a[0], case .int(let mode) = a[1] else {
                    return files.append(.malformed)
                }
                files.append(.row(path: path, mode: mode, ref: a[2]))
            }
            self.files = files
            return
        case "objects":
            var objects: [(pack: Int64, size: Int64)?] = []
            try rows.rows { _, v in
                guard case .array(let a) = v, a.count == 2, case .int(let p) = a[0], case .int(let s) = a[1] else { return objects.append(nil) }
                objects.append((p, s))
            }
            self.objects = objects
            return
        default:
            try rows.rows { _, v in items.append(v) }
        }
        switch key {
        case "patches": patches = items
        default: removed = items
        }
    }

    func required<T>(_ member: [T]?, _ key: String) throws -> [T] {
        guard let member else { throw ToolError.refused("INDEX: field \"\(key)\" must be an array") }
        return member
    }
}

/// What the index puts in each pack of the manifest, claimed item by item while parsing: a pack
/// holds objects or patches, never both, and its items must add up to what the manifest declares.
private struct PackFill {
    enum Kind { case objects, patches }
    private let packs: [PartRef]
    private var kind: [Kind?]
    private var decoded: [Int64]
    private var stored: [Int64]
    private var last = 0

    init(_ manifest: Manifest) {
        packs = manifest.packs
        kind = Array(repeating: nil, count: packs.count)
        decoded = Array(repeating: 0, count: packs.count)
        stored = Array(repeating: 0, count: packs.count)
    }

    var count: Int { packs.count }

    /// Records an item of `size` bytes (decoded) in pack `p`; for a patch, `stored` bytes of frame.
    mutating func claim(_ p: Int, _ kind: Kind, _ what: String, size: Int64, stored: Int64? = nil) throws {
        // Packs are streamed once, front to back: items in pack order, solid packs first.
        guard p >= last else { throw ToolError.refused("INDEX \(what) is not in pack order") }
        guard self.kind[p] == nil || self.kind[p] == kind else { throw ToolError.refused("INDEX pack \(p) mixes objects and patches") }
        self.kind[p] = kind
        last = p
        try BundleIndex.add(&decoded[p], size, "items of pack \(p)")
        if let stored { try BundleIndex.add(&self.stored[p], stored, "patches of pack \(p)") }
    }

    /// Every pack holds something, and exactly the bytes the manifest declares.
    func check() throws {
        for (i, p) in packs.enumerated() {
            guard kind[i] != nil else { throw ToolError.refused("INDEX names nothing in pack \(i)") }
            guard decoded[i] == p.uncompressed else {
                throw ToolError.refused("INDEX items of pack \(i) add up to \(decoded[i]) bytes, the manifest says \(p.uncompressed)")
            }
            if kind[i] == .patches && stored[i] != p.size {
                throw ToolError.refused("INDEX patches of pack \(i) add up to \(stored[i]) stored bytes, the manifest says \(p.size)")
            }
        }
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

    /// Streams the canonical encoding to `sink`, row by row: a large listing is never held twice.
    public func write(to sink: @escaping ([UInt8]) throws -> Void) throws { try TreeListing.write(entries, to: sink) }

    /// The canonical encoding of a listing of `entries` (sorted by path), made as they come: a
    /// build's listing is never held at all, only its digest.
    public static func write<S: Sequence>(_ entries: S, to sink: @escaping ([UInt8]) throws -> Void) throws where S.Element == Entry {
        var w = CanonicalRowsWriter(sink: sink)
        try w.rows("files", entries) { e, row in
            row.string(e.path)
            row.int(Int64(e.mode))
            row.int(e.size)
            row.string(e.sha256.hex)
        }
        try w.finish()
    }

    public var canonicalBytes: [UInt8] {
        var out: [UInt8] = []
        try? write { out += $0 }
        return out
    }

    public var digest: SHA256Digest { TreeListing.digest(of: entries) }

    /// The tree digest of a listing of `entries` (sorted by path), without holding the listing.
    public static func digest<S: Sequence>(of entries: S) -> SHA256Digest where S.Element == Entry {
        var hash = SHA256Stream()
        try? write(entries) { hash.update($0) }
        return hash.finalize()
    }

    /// Saturates instead of wrapping: a hostile listing's sum then matches no signed size.
    public var totalSize: Int64 {
        entries.reduce(0) { sum, e in
            let (s, overflow) = sum.addingReportingOverflow(e.size)
            return overflow ? .max : s
        }
    }

    public init(canonical bytes: [UInt8], what: String) throws {
        var rows = CanonicalRows(bytes, what: what)
        try self.init(&rows, what: what)
    }

    /// Reads a listing row by row from `rows`, which may stream it from a file.
    public init(_ rows: inout CanonicalRows, what: String) throws {
        var entries: [Entry] = []
        var sawFiles = false
        while let key = try rows.nextKey() {
            guard key == "files" else { throw ToolError.refused("\(what) has an unknown field \"\(ToolError.shown(key))\"") }
            sawFiles = true
            try rows.rows { i, v in
                let e = try TreeListing.entry(v, i, what)
                // Sorted as written, so `contains(path:)` can search it instead of indexing it.
                if let last = entries.last, !LogicalPath.bytewiseLess(last.path, e.path) { throw ToolError.refused("\(what) is not sorted at entry \(i)") }
                entries.append(e)
            }
        }
        guard sawFiles else { throw ToolError.refused("\(what): field \"files\" must be an array") }
        self.entries = entries.withExactCapacity()
    }

    private static func entry(_ v: JSON, _ i: Int, _ what: String) throws -> Entry {
        guard case .array(let a) = v, a.count == 4, case .string(let p) = a[0], case .int(let m) = a[1],
              case .int(let s) = a[2], case .string(let h) = a[3], let d = SHA256Digest(hex: h),
              LogicalPath.problem(p) == nil, s >= 0, m == 0o644 || m == 0o755 else {
            throw ToolError.refused("\(what) entry \(i) is malformed")
        }
        return Entry(path: p, mode: UInt32(m), size: s, sha256: d)
    }

    /// The number of the entry at `path`, found by binary search (the entries are sorted): no
    /// map of a large tree by path is needed.
    public func index(of path: String) -> Int? {
        let i = entries.lowerBound { LogicalPath.bytewiseLess($0.path, path) }
        return i < entries.count && entries[i].path == path ? i : nil
    }

    /// Whether a file of the listing has this path.
    public func contains(path: String) -> Bool { index(of: path) != nil }

    /// The entry at `path`.
    public func entry(at path: String) -> Entry? { index(of: path).map { entries[$0] } }

    /// The listing's entry numbers sorted by (digest, mode, number): 4 bytes a file, where a map
    /// of paths by content took ~250, to find the first file (in listing order) with a content.
    public struct ContentIndex: Sendable {
        private let entries: [Entry]
        private let order: [Int32]

        /// `entries` has at most `Int32.max` entries: FILES.json and INDEX are bounded far below.
        public init(_ entries: [Entry]) {
            self.entries = entries
            func key(_ i: Int32) -> (SHA256Digest, UInt32, Int32) { (entries[Int(i)].sha256, entries[Int(i)].mode, i) }
            order = (0..<Int32(entries.count)).sorted { key($0) < key($1) }
        }

        /// The first entry holding `digest` in `mode`, or (no mode given) in the lowest mode.
        public func first(_ digest: SHA256Digest, mode: UInt32? = nil) -> Entry? {
            let k = order.lowerBound { i in
                let e = entries[Int(i)]
                return mode.map { (e.sha256, e.mode) < (digest, $0) } ?? (e.sha256 < digest)
            }
            guard k < order.count, case let e = entries[Int(order[k])], e.sha256 == digest, mode.map({ e.mode == $0 }) ?? true else { return nil }
            return e
        }
    }

    /// Walks two sorted listings side by side, in path order: `body` gets each path's entry in
    /// `old` and in `new`, nil where that side lacks it.
    public static func pairs(_ old: [Entry], _ new: [Entry], _ body: (Entry?, Entry?) throws -> Void) rethrows {
        var i = 0, j = 0
        while i < old.count || j < new.count {
            if j == new.count || (i < old.count && LogicalPath.bytewiseLess(old[i].path, new[j].path)) {
                try body(old[i], nil)
                i += 1
            } else if i == old.count || LogicalPath.bytewiseLess(new[j].path, old[i].path) {
                try body(nil, new[j])
                j += 1
            } else {
                try body(old[i], new[j])
                i += 1
                j += 1
            }
        }
    }

    /// Whether the sorted `paths` hold `path`.
    static func search<C: RandomAccessCollection>(_ paths: C, for path: String) -> Bool where C.Element == String, C.Index == Int {
        let lo = paths.lowerBound { LogicalPath.bytewiseLess($0, path) }
        return lo < paths.endIndex && paths[lo] == path
    }

    /// A path cannot be both a file and a folder ("a" and "a/b"), nor the mirror's own BUNDLE.json.
    /// Sorted paths (a build's, a listing's) are searched where they are, so a large tree is not
    /// copied into a set; others (an archive's, in archive order) are sorted first.
    public static func checkShape<C: RandomAccessCollection>(_ paths: C) throws where C.Element == String, C.Index == Int {
        // Non-decreasing, so a repeated path does not send a sorted copy round again.
        let sorted = zip(paths, paths.dropFirst()).allSatisfy { !LogicalPath.bytewiseLess($1, $0) }
        if !sorted { return try checkShape(paths.sorted(by: LogicalPath.bytewiseLess)) }
        // Each folder is looked for among the files once: a tree has far fewer folders than files.
        var folders = Set<Substring>()
        for p in paths {
            if p == "BUNDLE.json" { throw ToolError.refused("path \"BUNDLE.json\" is reserved for the mirror") }
            var prefix = Substring(p)
            while let slash = prefix.lastIndex(of: "/") {
                prefix = prefix[..<slash]
                // Its own folders were checked with it.
                guard folders.insert(prefix).inserted else { break }
                if search(paths, for: String(prefix)) {
                    throw ToolError.refused("\"\(ToolError.shown(String(prefix)))\" is listed as a file and as the folder of \"\(ToolError.shown(p))\"")
                }
            }
        }
    }
}
