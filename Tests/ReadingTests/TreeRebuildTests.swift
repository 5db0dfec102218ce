import BundleFormat
@testable import BundleVerify
import Support
import Testing

/// Issue 15: a delta's tree is rebuilt by one walk of three sorted lists instead of a map of the
/// whole tree by path. Checked against that map's algorithm on random deltas, and on the
/// refusals it must keep.
@Suite("Tree rebuild: base listing, index files and removals merged in one walk")
struct TreeRebuildTests {
    static func digest(_ s: String) -> SHA256Digest { SHA256Digest.of(Array(s.utf8)) }

    /// A base over a small alphabet of paths, and a delta of it: some paths changed (a new
    /// object), some reusing base bytes by digest, some added, some removed. Which, path by
    /// path, is read from the bits of `seed` once mixed, so each seed is one fixed delta.
    static func delta(_ seed: UInt64) -> (base: [TreeListing.Entry], index: BundleIndex, digests: [SHA256Digest]) {
        let names = ["a", "a-b", "a/b", "a/c", "b", "b.x", "c/d", "m", "z"].map { "advisories/x/\($0)" }
        let bits = (seed &+ 1) &* 0x9E37_79B9_7F4A_7C15, choice = bits >> 9
        let base = names.indices.filter { bits >> $0 & 1 == 1 }
            .map { TreeListing.Entry(path: names[$0], mode: 0o644, size: Int64(names[$0].utf8.count), sha256: digest(names[$0])) }
        var files: [BundleIndex.File] = [], removed: [String] = [], objects: [BundleIndex.Object] = [], digests: [SHA256Digest] = []
        for (k, p) in names.enumerated() {
            switch choice >> (2 * k) & 3 {
            case 0:
                files.append(BundleIndex.File(path: p, mode: 0o755, object: objects.count))
                objects.append(BundleIndex.Object(pack: 0, size: 7))
                digests.append(digest("new " + p))
            case 1 where !base.isEmpty: files.append(BundleIndex.File(path: p, mode: 0o644, source: .base(base[k % base.count].sha256)))
            case 2 where base.contains { $0.path == p }: removed.append(p)
            default: break
            }
        }
        return (base, BundleIndex(objects: objects, files: files, removed: removed), digests)
    }

    /// The algorithm the walk replaced: a map by path, removals, then the index's files over it.
    static func byMap(_ base: [TreeListing.Entry], _ index: BundleIndex, _ digests: [SHA256Digest]) -> [TreeListing.Entry] {
        var entries = Dictionary(uniqueKeysWithValues: base.map { ($0.path, $0) })
        let sizes = Dictionary(base.map { ($0.sha256, $0.size) }, uniquingKeysWith: { a, _ in a })
        for r in index.removed { entries[r] = nil }
        for f in index.files {
            switch f.source {
            case .object(let o): entries[f.path] = .init(path: f.path, mode: f.mode, size: index.objects[o].size, sha256: digests[o])
            case .base(let d): entries[f.path] = .init(path: f.path, mode: f.mode, size: sizes[d]!, sha256: d)
            case .patch: Issue.record("no patches here")
            }
        }
        return entries.values.sorted { LogicalPath.bytewiseLess($0.path, $1.path) }
    }

    @Test("the walk gives the tree the map gave", arguments: 0..<40)
    func agrees(seed: UInt64) throws {
        let (base, index, digests) = Self.delta(seed)
        let walked = try TreeRebuild(index: index, objectDigests: digests, base: base, bundle: "b").entries()
        #expect(walked == Self.byMap(base, index, digests))
    }

    @Test("a removal the base lacks (before, between or after its paths), content it lacks, or lists out of order: refused")
    func refusals() {
        let base = ["advisories/x/b", "advisories/x/d"].map { TreeListing.Entry(path: $0, mode: 0o644, size: 1, sha256: Self.digest($0)) }
        for gone in ["advisories/x/a", "advisories/x/c", "advisories/x/e"] {
            let index = BundleIndex(objects: [], files: [], removed: [gone])
            #expect(throws: ToolError.self) { try TreeRebuild(index: index, objectDigests: [], base: base, bundle: "b").entries() }
        }
        let reuse = BundleIndex(objects: [], files: [.init(path: "advisories/x/c", mode: 0o644, source: .base(Self.digest("elsewhere")))])
        #expect(throws: ToolError.self) { try TreeRebuild(index: reuse, objectDigests: [], base: base, bundle: "b").entries() }
        let unsorted = BundleIndex(objects: [], files: [], removed: ["advisories/x/d", "advisories/x/b"])
        #expect(throws: ToolError.self) { try TreeRebuild(index: unsorted, objectDigests: [], base: base, bundle: "b").entries() }
        // A path both changed and removed: the parser refuses it; the walk does not let it through either.
        let both = BundleIndex(objects: [.init(pack: 0, size: 1)], files: [.init(path: "advisories/x/c", mode: 0o644, object: 0)],
                               removed: ["advisories/x/c"])
        #expect(throws: ToolError.self) { try TreeRebuild(index: both, objectDigests: [Self.digest("c")], base: base, bundle: "b").entries() }
        let ok = BundleIndex(objects: [], files: [], removed: ["advisories/x/d"])
        #expect((try? TreeRebuild(index: ok, objectDigests: [], base: base, bundle: "b").entries().map(\.path)) == ["advisories/x/b"])
    }
}
