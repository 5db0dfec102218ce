import BundleFormat
import Changes
import Support
import Testing

/// Issue 15: maps and sets of a whole tree by path or digest were replaced by binary searches
/// and side-by-side walks of the sorted lists. Each is checked here against the plain map or set
/// it replaced, on listings drawn at random (seeded) from a small alphabet, so that prefixes,
/// shared folders and "a" against "a/b" against "a-b" all come up.
@Suite("Sorted lists: binary search and side-by-side walks agree with maps and sets")
struct SortedListTests {
    /// A 64-bit linear congruential generator: the same listings on every machine.
    struct Seeded: RandomNumberGenerator {
        var state: UInt64
        mutating func next() -> UInt64 {
            state = state &* 6364136223846793005 &+ 1442695040888963407
            return state
        }
    }

    static func listing(_ random: inout Seeded, count: Int) -> TreeListing {
        let parts = ["a", "b", "a-b", "a.b", "ab", "é", "z"]
        var paths = Set<String>()
        while paths.count < count {
            let depth = Int.random(in: 1...3, using: &random)
            paths.insert((0..<depth).map { _ in parts.randomElement(using: &random)! }.joined(separator: "/"))
        }
        let sorted = paths.sorted(by: LogicalPath.bytewiseLess)
        return TreeListing(entries: sorted.map { p in
            let content = "\(p) \(Int.random(in: 0..<3, using: &random))"
            return TreeListing.Entry(path: p, mode: Bool.random(using: &random) ? 0o644 : 0o755, size: Int64(content.utf8.count),
                                     sha256: SHA256Digest.of(Array(content.utf8)))
        })
    }

    @Test("lowerBound is the first index not below the value, at every position of a sorted array")
    func lowerBound() {
        let values = [1, 3, 3, 3, 7, 9]
        for v in 0...10 {
            #expect(values.lowerBound { $0 < v } == (values.firstIndex { $0 >= v } ?? values.count))
        }
        #expect([Int]().lowerBound { $0 < 1 } == 0)
        #expect(values[2...].lowerBound { $0 < 4 } == 4)  // a slice keeps its own indices
    }

    @Test("entry(at:), contains(path:) and pairs agree with maps by path", arguments: 0..<20)
    func lookupsAndPairs(seed: UInt64) {
        var random = Seeded(state: seed)
        let old = Self.listing(&random, count: Int.random(in: 0...40, using: &random))
        let new = Self.listing(&random, count: Int.random(in: 0...40, using: &random))
        let byPath = Dictionary(uniqueKeysWithValues: old.entries.map { ($0.path, $0) })
        for p in Set(old.entries.map(\.path) + new.entries.map(\.path) + ["", "a/", "zz"]) {
            #expect(old.entry(at: p) == byPath[p])
            #expect(old.contains(path: p) == (byPath[p] != nil))
        }
        var seen: [(String, TreeListing.Entry?, TreeListing.Entry?)] = []
        TreeListing.pairs(old.entries, new.entries) { o, n in seen.append(((o ?? n)!.path, o, n)) }
        let all = Set(old.entries.map(\.path) + new.entries.map(\.path)).sorted(by: LogicalPath.bytewiseLess)
        #expect(seen.map(\.0) == all)
        #expect(seen.allSatisfy { $0.1 == old.entry(at: $0.0) && $0.2 == new.entry(at: $0.0) })
    }

    @Test("ContentIndex finds the first file in listing order with a digest and mode, as the map by content did", arguments: 0..<20)
    func contentIndex(seed: UInt64) {
        var random = Seeded(state: seed)
        // Forty paths sharing four contents, in either mode: many files per (digest, mode).
        let listing = TreeListing(entries: Self.listing(&random, count: 40).entries.map { e in
            let content = "content \(Int.random(in: 0..<4, using: &random))"
            return TreeListing.Entry(path: e.path, mode: e.mode, size: 9, sha256: SHA256Digest.of(Array(content.utf8)))
        })
        let index = TreeListing.ContentIndex(listing.entries)
        var firstByContent: [String: TreeListing.Entry] = [:], modes: [SHA256Digest: Set<UInt32>] = [:]
        for e in listing.entries {
            let key = "\(e.sha256) \(e.mode)"
            if firstByContent[key] == nil { firstByContent[key] = e }
            modes[e.sha256, default: []].insert(e.mode)
        }
        for e in listing.entries {
            #expect(index.first(e.sha256, mode: e.mode) == firstByContent["\(e.sha256) \(e.mode)"])
            #expect(index.first(e.sha256)?.sha256 == e.sha256 && index.first(e.sha256)?.mode == modes[e.sha256]!.min())
            let other: UInt32 = e.mode == 0o644 ? 0o755 : 0o644
            #expect((index.first(e.sha256, mode: other) != nil) == modes[e.sha256]!.contains(other))
        }
        #expect(index.first(SHA256Digest.of([1, 2, 3])) == nil)
    }

    @Test("the change summary of a walk equals the one of maps by path", arguments: 0..<20)
    func summary(seed: UInt64) {
        var random = Seeded(state: seed)
        let old = Self.listing(&random, count: 30), new = Self.listing(&random, count: 30)
        let s = ChangeSummary.between(old, new)
        let before = Dictionary(uniqueKeysWithValues: old.entries.map { ($0.path, $0) })
        let after = Dictionary(uniqueKeysWithValues: new.entries.map { ($0.path, $0) })
        let added = new.entries.map(\.path).filter { before[$0] == nil }
        let removed = old.entries.map(\.path).filter { after[$0] == nil }
        let changed = new.entries.filter { e in before[e.path].map { $0.sha256 != e.sha256 || $0.mode != e.mode } ?? false }.map(\.path)
        func all(_ k: KeyPath<ChangeSummary.PerSource, [String]>) -> [String] {
            s.sources.values.flatMap { $0[keyPath: k] }.sorted(by: LogicalPath.bytewiseLess)
        }
        #expect(all(\.added) == added && all(\.removed) == removed && all(\.changed) == changed)
    }

    @Test("bytewiseLess is the order of the UTF-8 bytes, for prefixes, equal strings and any scalar")
    func bytewise() {
        let words = ["", "a", "a/b", "a-b", "ab", "é", "e\u{301}", "\u{10FFFF}", "z", "a\u{0}"]
        for a in words {
            for b in words { #expect(LogicalPath.bytewiseLess(a, b) == a.utf8.lexicographicallyPrecedes(b.utf8), "\(a) \(b)") }
        }
    }

    @Test("checkShape: a file that is also a folder is refused, sorted or not, repeated paths or not")
    func shape() throws {
        #expect(throws: ToolError.self) { try TreeListing.checkShape(["a", "a-b", "a.b", "a/b"]) }
        #expect(throws: ToolError.self) { try TreeListing.checkShape(["a/b", "a-b", "a"]) }
        #expect(throws: ToolError.self) { try TreeListing.checkShape(["x/y/z", "x/y"]) }
        #expect(throws: Never.self) { try TreeListing.checkShape(["a-b/c", "a.b", "a/c", "ab/c"]) }
        #expect(throws: Never.self) { try TreeListing.checkShape(["b", "a", "b"]) }  // unsorted, repeated: terminates
        #expect(throws: Never.self) { try TreeListing.checkShape([String]()) }
    }

    @Test("SortedDigests holds exactly the digests it was given")
    func digests() {
        let given = (0..<50).map { SHA256Digest.of(Array("d\($0)".utf8)) }
        let set = SortedDigests(given.enumerated().filter { $0.offset % 3 != 0 }.map(\.element))
        for (i, d) in given.enumerated() { #expect(set.contains(d) == (i % 3 != 0)) }
    }
}
