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
}
