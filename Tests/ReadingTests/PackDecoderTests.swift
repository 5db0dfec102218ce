@testable import BundleVerify
import BundleFormat
import Support
import Testing
import Zstd

/// Records what a decoder hands on: item numbers, sizes and bytes.
final class RecordingSink: ObjectSink {
    struct Item: Equatable { var number: Int; var size: Int64; var bytes: [UInt8]; var sha256: SHA256Digest? }
    private(set) var items: [Item] = []

    func begin(object: Int, size: Int64) throws { items.append(Item(number: object, size: size, bytes: [], sha256: nil)) }
    func write(_ bytes: UnsafeRawBufferPointer) throws { items[items.count - 1].bytes += bytes }
    func end(object: Int, sha256: SHA256Digest) throws {
        #expect(items.last?.number == object)
        items[items.count - 1].sha256 = sha256
    }
}

@Suite("Pack decoders, one per kind of pack")
struct PackDecoderTests {
    static let d = SHA256Digest(hex: String(repeating: "ab", count: 32))!
    static func part(size: Int, uncompressed: Int, stored: Bool = false) -> PartRef {
        PartRef(path: "packs/p.zst", sha256: d, size: Int64(size), uncompressed: Int64(uncompressed), stored: stored)
    }

    /// Pack 0: objects of 3, 0 and 2 bytes; pack 1: one object; pack 2: two patches.
    static let index = BundleIndex(
        objects: [.init(pack: 0, size: 3), .init(pack: 0, size: 0), .init(pack: 0, size: 2), .init(pack: 1, size: 4)], files: [],
        patches: [.init(pack: 2, stored: 1, size: 5, base: d), .init(pack: 2, stored: 1, size: 6, base: d)])

    /// Feeds `bytes` in pieces of `step`, so items cross feed boundaries.
    static func feed(_ decoder: PackDecoder, _ bytes: [UInt8], step: Int = 2) throws {
        for start in stride(from: 0, to: bytes.count, by: step) {
            try Array(bytes[start ..< min(start + step, bytes.count)]).withUnsafeBytes { try decoder.feed($0) }
        }
    }

    @Test("the cursor finds each pack's run of objects or patches")
    func cursor() {
        var c = ItemCursor()
        let expected: [PackContents] = [.objects(0..<3), .objects(3..<4), .patches(0..<2), .objects(4..<4)]
        for (pack, contents) in expected.enumerated() {
            #expect(c.contents(ofPack: pack, in: Self.index) == contents)
            c.pass(contents)
        }
        #expect(c == ItemCursor(object: 4, patch: 2))
    }

    @Test("a stored pack is its objects, cut at their sizes, empty ones included")
    func stored() throws {
        let sink = RecordingSink()
        let decoder = try makePackDecoder(Self.part(size: 5, uncompressed: 5, stored: true), holding: .objects(0..<3),
                                          index: Self.index, sink: sink, base: nil)
        #expect(decoder is StoredPack)
        try Self.feed(decoder, [1, 2, 3, 4, 5])
        let digests = try decoder.finish()
        #expect(sink.items.map(\.number) == [0, 1, 2])
        #expect(sink.items.map(\.bytes) == [[1, 2, 3], [], [4, 5]])
        #expect(digests == [SHA256Digest.of([1, 2, 3]), SHA256Digest.of([]), SHA256Digest.of([4, 5])])
        #expect(sink.items.map(\.sha256) == digests)
    }

    @Test("a pack with bytes beyond its objects, or ending inside one, is refused")
    func objectBounds() throws {
        let over = try makePackDecoder(Self.part(size: 6, uncompressed: 6, stored: true), holding: .objects(0..<3), index: Self.index, sink: RecordingSink(), base: nil)
        let e1 = #expect(throws: ToolError.self) { try Self.feed(over, [1, 2, 3, 4, 5, 6]) }
        #expect(e1?.message == "a pack holds more bytes than its objects")
        let short = try makePackDecoder(Self.part(size: 4, uncompressed: 4, stored: true), holding: .objects(0..<3), index: Self.index, sink: RecordingSink(), base: nil)
        try Self.feed(short, [1, 2, 3, 4])
        let e2 = #expect(throws: ToolError.self) { try short.finish() }
        #expect(e2?.message == "a pack ends inside object 2")
    }

    static func compress(_ bytes: [UInt8], prefix: [UInt8]? = nil) throws -> [UInt8] {
        var out: [UInt8] = []
        let z = try ZstdCompressor(ZstdSettings(level: 3), prefix: prefix) { out += $0 }
        try z.write(bytes)
        try z.finish()
        return out
    }

    @Test("a solid pack is one zstd stream of its objects")
    func solid() throws {
        let sink = RecordingSink()
        let packed = try Self.compress([9, 8, 7, 6])
        let decoder = try makePackDecoder(Self.part(size: packed.count, uncompressed: 4), holding: .objects(3..<4), index: Self.index, sink: sink, base: nil)
        #expect(decoder is SolidPack)
        try Self.feed(decoder, packed, step: 3)
        #expect(try decoder.finish() == [SHA256Digest.of([9, 8, 7, 6])])
        #expect(sink.items == [.init(number: 3, size: 4, bytes: [9, 8, 7, 6], sha256: SHA256Digest.of([9, 8, 7, 6]))])
    }

    @Test("a solid pack must expand to its signed size")
    func solidSize() throws {
        let packed = try Self.compress([9, 8, 7, 6])
        let decoder = try makePackDecoder(Self.part(size: packed.count, uncompressed: 5), holding: .objects(3..<4), index: Self.index, sink: RecordingSink(), base: nil)
        try Self.feed(decoder, packed)
        let error = #expect(throws: ToolError.self) { try decoder.finish() }
        #expect(error?.message == "packs/p.zst expands to 4 bytes; the manifest says 5")
    }

    @Test("a patch pack decodes each frame against its base file; items are numbered after the objects")
    func patches() throws {
        let base = Array("a base file of some length".utf8)
        let new = [Array("a base file of more length".utf8), Array("a base file".utf8)]
        let frames = try new.map { try Self.compress($0, prefix: base) }
        let index = BundleIndex(objects: Self.index.objects, files: [], patches: zip(frames, new).map {
            .init(pack: 2, stored: Int64($0.count), size: Int64($1.count), base: Self.d)
        })
        let sink = RecordingSink()
        let decoder = try makePackDecoder(Self.part(size: frames.joined().count, uncompressed: new.joined().count), holding: .patches(0..<2),
                                          index: index, sink: sink, base: { digest in
                                              #expect(digest == Self.d)
                                              return BaseContent(bytes: base)
                                          })
        #expect(decoder is PatchPack)
        try Self.feed(decoder, Array(frames.joined()), step: 5)
        #expect(try decoder.finish() == new.map { SHA256Digest.of($0) })
        #expect(sink.items.map(\.number) == [4, 5])
        #expect(sink.items.map(\.bytes) == new)
    }

    @Test("a patch pack ending inside a patch is refused")
    func patchCut() throws {
        let base = Array("base".utf8)
        let frame = try Self.compress(Array("based".utf8), prefix: base)
        let index = BundleIndex(objects: [], files: [], patches: [.init(pack: 0, stored: Int64(frame.count), size: 5, base: Self.d)])
        let decoder = try makePackDecoder(Self.part(size: frame.count, uncompressed: 5), holding: .patches(0..<1), index: index,
                                          sink: RecordingSink(), base: { _ in BaseContent(bytes: base) })
        try Self.feed(decoder, Array(frame.dropLast()))
        let error = #expect(throws: ToolError.self) { try decoder.finish() }
        #expect(error?.message == "packs/p.zst ends inside a patch")
    }

    @Test("without a base, a patch pack is passed over: no items, nothing refused")
    func unchecked() throws {
        let sink = RecordingSink()
        let decoder = try makePackDecoder(Self.part(size: 2, uncompressed: 11), holding: .patches(0..<2), index: Self.index, sink: sink, base: nil)
        #expect(decoder is UncheckedPatchPack)
        try Self.feed(decoder, [1, 2])
        #expect(try decoder.finish().isEmpty)
        #expect(sink.items.isEmpty)
    }
}
