import BundleFormat
import Changes
import Support
import Testing

private enum Fixture {
    static func entry(_ path: String, _ content: String, mode: UInt32 = 0o644) -> TreeListing.Entry {
        TreeListing.Entry(path: path, mode: mode, size: Int64(content.utf8.count), sha256: SHA256Digest.of(Array(content.utf8)))
    }
}

@Suite("Change summary: what an apply adds, changes and removes, per source")
struct ChangeSummaryTests {
    @Test("sources are the first two path components; every image shares one")
    func sources() {
        #expect(ChangeSummary.source(of: "advisories/pypa/aiohttp/x.yaml") == "advisories/pypa")
        #expect(ChangeSummary.source(of: "images/blobs/sha256/ab") == "images")
        #expect(ChangeSummary.source(of: "images/index.json") == "images")
        #expect(ChangeSummary.source(of: "README") == "README")
    }

    @Test("added, changed (bytes or mode) and removed, per source")
    func between() {
        let old = TreeListing(entries: [
            Fixture.entry("advisories/kev/a.json", "a"), Fixture.entry("advisories/kev/b.json", "b"),
            Fixture.entry("advisories/pypa/x.yaml", "x"), Fixture.entry("images/oci-layout", "l"),
            Fixture.entry("tools/bin/run", "r"),
        ])
        let new = TreeListing(entries: [
            Fixture.entry("advisories/kev/a.json", "a2"), Fixture.entry("advisories/pypa/x.yaml", "x"),
            Fixture.entry("images/blobs/sha256/1", "1"), Fixture.entry("images/oci-layout", "l"),
            Fixture.entry("tools/bin/run", "r", mode: 0o755),
        ])
        let s = ChangeSummary.between(old, new)
        #expect(Set(s.sources.keys) == ["advisories/kev", "images", "tools/bin"])
        #expect(s.sources["advisories/kev"]?.changed == ["advisories/kev/a.json"])
        #expect(s.sources["advisories/kev"]?.removed == ["advisories/kev/b.json"])
        #expect(s.sources["images"]?.added == ["images/blobs/sha256/1"])
        #expect(s.sources["tools/bin"]?.changed == ["tools/bin/run"])
        #expect((s.totalAdded, s.totalChanged, s.totalRemoved) == (1, 2, 1))
    }

    @Test("against no version, everything is added; removals are listed in byte order")
    func firstAndRemovals() {
        let tree = TreeListing(entries: [Fixture.entry("a/b/Z", "1"), Fixture.entry("a/b/a", "2")])
        let first = ChangeSummary.between(nil, tree)
        #expect(first.sources["a/b"]?.added == ["a/b/Z", "a/b/a"] && first.totalChanged == 0 && first.totalRemoved == 0)
        let emptied = ChangeSummary.between(tree, TreeListing(entries: []))
        #expect(emptied.sources["a/b"]?.removed == ["a/b/Z", "a/b/a"])
    }

    @Test("a delta's index on its base: listed paths the base has are changed, others added; reuse of the same bytes and mode is no change")
    func applying() {
        let base = TreeListing(entries: [Fixture.entry("advisories/f/a", "a"), Fixture.entry("advisories/f/b", "b"), Fixture.entry("advisories/f/c", "c")])
        let index = BundleIndex(objects: [BundleIndex.Object(pack: 0, size: 2)], files: [
            BundleIndex.File(path: "advisories/f/a", mode: 0o644, object: 0),
            BundleIndex.File(path: "advisories/f/b", mode: 0o644, source: .base(SHA256Digest.of(Array("b".utf8)))),
            BundleIndex.File(path: "advisories/g/new", mode: 0o644, source: .base(SHA256Digest.of(Array("c".utf8)))),
        ], removed: ["advisories/f/c"])
        let s = ChangeSummary.applying(index, to: base)
        #expect(s.sources["advisories/f"]?.changed == ["advisories/f/a"])
        #expect(s.sources["advisories/f"]?.removed == ["advisories/f/c"])
        #expect(s.sources["advisories/g"]?.added == ["advisories/g/new"])
        #expect((s.totalAdded, s.totalChanged, s.totalRemoved) == (1, 1, 1))
    }

    @Test("images by name: added, removed, and a name that now stands for another image moved; unnamed images by digest")
    func images() {
        func image(_ ref: String?, _ d: String) -> ImageSummary {
            ImageSummary(ref: ref, digest: SHA256Digest.of(Array(d.utf8)), mediaType: "m", platforms: [], size: 1)
        }
        let old = [image("app:1.0", "1"), image("base:1", "b"), image(nil, "x"), image("gone:1", "g")]
        let new = [image("app:1.0", "2"), image("base:1", "b"), image(nil, "y"), image("tools:2", "t")]
        let c = ImageChanges.between(old, new)
        #expect(c.added.map(\.ref) == [nil, "tools:2"])
        #expect(c.removed.map(\.ref) == [nil, "gone:1"])
        #expect(c.moved.map(\.ref) == ["app:1.0"] && c.moved.first?.to == SHA256Digest.of(Array("2".utf8)))
        #expect(ImageChanges.between(old, old).isEmpty)
    }

    @Test("a policy change: keys told apart by their 32-byte key, not the id; revoked, added, threshold")
    func policy() throws {
        func key(_ n: UInt8, id: UInt8? = nil) -> PublicKey { PublicKey(keyId: [UInt8](repeating: id ?? n, count: 8), key: [UInt8](repeating: n, count: 32)) }
        let old = try TrustPolicy(version: 1, threshold: 1, keys: [key(1), key(2)], created: 0)
        let new = try TrustPolicy(version: 2, threshold: 2, keys: [key(2, id: 7), key(3)], created: 0)
        let c = PolicyChange(from: old, to: new)
        #expect(c.added == [key(3)] && c.revoked == [key(1)])
        #expect(c.text == "keys added \(key(3).idText); revoked \(key(1).idText); threshold 1 -> 2")
        #expect(PolicyChange(from: old, to: old).text == "same keys and threshold")
    }
}
