@testable import Build
@testable import Collect
import Support
import Testing

@Suite("pack layout (pure)")
struct PackLayoutTests {
    static let MiB: Int64 = 1 << 20

    /// An object whose digest is derived from `n`, so each is distinct.
    static func object(_ n: Int, size: Int64, stored: Bool = false) -> PackLayout.Object {
        PackLayout.Object(digest: SHA256Digest.of(Array("object \(n)".utf8)), size: size, file: n, stored: stored)
    }

    /// Each pack's members are contiguous, in order, and carry that pack's number.
    static func checkConsistent(_ layout: PackLayout, sourceLocation: SourceLocation = #_sourceLocation) {
        var next = 0
        for (p, pack) in layout.packs.enumerated() {
            #expect(pack.members.lowerBound == next, sourceLocation: sourceLocation)
            #expect(!pack.members.isEmpty, sourceLocation: sourceLocation)
            #expect(layout.objects[pack.members].allSatisfy { $0.pack == p && $0.stored == pack.stored }, sourceLocation: sourceLocation)
            #expect(layout.objects[pack.members].reduce(0) { $0 + $1.size } == pack.size, sourceLocation: sourceLocation)
            next = pack.members.upperBound
        }
        #expect(next == layout.objects.count, sourceLocation: sourceLocation)
    }

    @Test("no objects, no packs")
    func empty() {
        let layout = PackLayout([])
        #expect(layout.packs.isEmpty && layout.objects.isEmpty)
    }

    @Test("small files share one solid pack, in the order given")
    func smallFilesSolid() {
        let objects = (0..<5).map { Self.object($0, size: 1000) }
        let layout = PackLayout(objects)
        #expect(layout.packs.count == 1)
        #expect(layout.packs[0].solid && !layout.packs[0].stored && layout.packs[0].size == 5000)
        #expect(layout.objects.map(\.file) == [0, 1, 2, 3, 4])
        Self.checkConsistent(layout)
    }

    @Test("compressed data goes into stored packs, after the packs to compress, never mixed")
    func storedApart() {
        let objects = [Self.object(0, size: 10, stored: true), Self.object(1, size: 20), Self.object(2, size: 30, stored: true), Self.object(3, size: 40)]
        let layout = PackLayout(objects)
        #expect(layout.objects.map(\.file) == [1, 3, 0, 2])
        #expect(layout.packs.map(\.stored) == [false, true])
        #expect(layout.packs.map(\.size) == [60, 40])
        #expect(layout.packs.allSatisfy { $0.solid })
        Self.checkConsistent(layout)
    }

    @Test("a large object gets a pack of its own, after every small one")
    func largeAlone() {
        let large = PackLayout.largeObject
        let objects = [Self.object(0, size: large), Self.object(1, size: 5), Self.object(2, size: large + 1, stored: true), Self.object(3, size: 7)]
        let layout = PackLayout(objects)
        #expect(layout.objects.map(\.file) == [1, 3, 0, 2])
        #expect(layout.packs.map(\.members) == [0..<2, 2..<3, 3..<4])
        #expect(layout.packs.map(\.solid) == [true, false, false])
        #expect(layout.packs.map(\.stored) == [false, false, true])
        Self.checkConsistent(layout)
    }

    @Test("just under the large-object size is still small")
    func largeBoundary() {
        let layout = PackLayout([Self.object(0, size: PackLayout.largeObject - 1), Self.object(1, size: 1)])
        #expect(layout.packs.count == 1 && layout.packs[0].solid)
    }

    @Test("a solid pack holds at most the limit; exactly the limit fits")
    func solidLimit() {
        // 7 MiB each: four make 28 MiB, a fifth would pass 32 MiB.
        let seven = (0..<9).map { Self.object($0, size: 7 * Self.MiB) }
        let layout = PackLayout(seven)
        #expect(layout.packs.map(\.members.count) == [4, 4, 1])
        #expect(layout.packs.allSatisfy { $0.size <= PackLayout.solidPackLimit })
        Self.checkConsistent(layout)
        // 4 MiB each: eight make exactly 32 MiB, in one pack.
        let four = (0..<9).map { Self.object($0, size: 4 * Self.MiB) }
        #expect(PackLayout(four).packs.map(\.members.count) == [8, 1])
    }

    @Test("the same objects give the same layout")
    func deterministic() {
        let objects = (0..<40).map { Self.object($0, size: Int64(($0 * 7919) % 9) * Self.MiB + 1, stored: $0 % 3 == 0) }
        let a = PackLayout(objects), b = PackLayout(objects)
        #expect(a == b)
        Self.checkConsistent(a)
        #expect(a.objectNumbers.count == objects.count)
        #expect(a.objects.enumerated().allSatisfy { a.objectNumbers[$1.digest] == $0 })
    }

    @Test("distinct objects: one per content, read from its first file, only files carried whole")
    func distinct() {
        let d = (0..<3).map { SHA256Digest.of([UInt8($0)]) }
        func file(_ n: Int, compressed: Bool = false) -> CollectedFile {
            CollectedFile(logicalPath: "advisories/a/\(n)", sourcePath: "/nowhere/\(n)", size: Int64(10 + n), mode: 0o644, source: 0, compressed: compressed)
        }
        let inputs = HashedInputs(files: [file(0), file(1, compressed: true), file(2), file(3), file(4)], digests: [d[0], d[1], d[0], d[2], d[2]])
        let all = PackLayout.distinct(inputs) { _ in true }
        #expect(all.map(\.file) == [0, 1, 3])
        #expect(all.map(\.stored) == [false, true, false])
        #expect(all.map(\.size) == [10, 11, 13])
        // File 3 is reused from a base: its content is read from file 4 instead.
        let some = PackLayout.distinct(inputs) { $0 != 3 && $0 != 0 }
        #expect(some.map(\.file) == [1, 2, 4])
    }
}
