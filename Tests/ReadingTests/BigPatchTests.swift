@testable import BundleVerify
import BundleFormat
import Support
import Testing
import Zstd

/// Segmented patches (big files): the index's bounds on a segment table, word for word, and the
/// decoder's on the base regions and frames it is handed.
@Suite("Segmented patches")
struct BigPatchTests {
    static let d = SHA256Digest(hex: String(repeating: "ab", count: 32))!
    static let ab = String(repeating: "ab", count: 32)

    /// A delta whose pack 1 holds patches of 4 stored bytes decoding to 7.
    static func delta(patchStored: Int64 = 4, patchSize: Int64 = 7) -> Manifest {
        Manifest(name: "feeds", version: "2", sequence: 2, created: 0, expires: nil, tree: d, treeFiles: 3, treeSize: 20,
                 index: PartRef(path: "INDEX.zst", sha256: d, size: 10, uncompressed: 20),
                 packs: [PartRef(path: "packs/00.zst", sha256: d, size: 3, uncompressed: 5),
                         PartRef(path: "packs/01.zst", sha256: d, size: patchStored, uncompressed: patchSize)], sources: [],
                 base: BaseRef(name: "feeds", sequence: 1, manifest: d, tree: d, mirror: nil))
    }

    /// An index with one object (pack 0) and one patch of 4 stored bytes decoding to 7, with `segments`.
    static func index(_ segments: String) -> [UInt8] {
        Array(#"{"files":[["advisories/x/a",420,0],["advisories/x/b",420,1]],"objects":[[0,5]],"patches":[[1,4,7,"\#(ab)",\#(segments)]]}"#.utf8)
    }

    static let max = Int64.max
    static let refusals: [(String, String)] = [
        ("[]", "INDEX patch 0 has a malformed segment list"),
        ("7", "INDEX patch 0 has a malformed segment list"),
        ("[[4,7]]", "INDEX patch 0 segment 0 is malformed"),
        ("[[4,7,0,10]]", "INDEX patch 0 segment 0 is malformed"),
        ("[[4,7,[[0,\"x\"]]]]", "INDEX patch 0 segment 0 extent 0 is malformed"),
        ("[[0,7,[]],[4,0,[]]]", "INDEX patch 0 segment 0 is 0 bytes decoding to 7; a segment is 1 to 33554432 bytes"),
        ("[[4,33554433,[]]]", "INDEX patch 0 segment 0 is 4 bytes decoding to 33554433; a segment is 1 to 33554432 bytes"),
        ("[[4,7,[[0,67108865]]]]", "INDEX patch 0 segment 0 extent 0 names 67108865 base bytes at 0; an extent is 1 to 67108864 bytes"),
        ("[[4,7,[[-1,10]]]]", "INDEX patch 0 segment 0 extent 0 names 10 base bytes at -1; an extent is 1 to 67108864 bytes"),
        ("[[4,7,[[5,0]]]]", "INDEX patch 0 segment 0 extent 0 names 0 base bytes at 5; an extent is 1 to 67108864 bytes"),
        // The offset alone is in range of Int64; with the length it would wrap around.
        ("[[4,7,[[\(max),1]]]]", "INDEX patch 0 segment 0 extent 0 names base bytes past 1125899906842624"),
        ("[[4,7,[[1125899906842624,1]]]]", "INDEX patch 0 segment 0 extent 0 names base bytes past 1125899906842624"),
        // Each extent in bounds, together more than one segment may hold.
        ("[[4,7,[[0,67108864],[0,1]]]]", "INDEX patch 0 segment 0 refers to more than 67108864 base bytes"),
        ("[[4,7,[" + Array(repeating: "[0,1]", count: PatchSegment.extentLimit + 1).joined(separator: ",") + "]]]", "INDEX patch 0 segment 0 is malformed"),
        ("[[\(max),3,[]],[\(max),4,[]]]", "INDEX segments of patch 0 add up to more than 1125899906842624 bytes"),
        ("[[3,7,[]]]", "INDEX patch 0: its segments hold 3 bytes decoding to 7; the patch says 4 decoding to 7"),
        ("[[2,3,[]],[2,3,[]]]", "INDEX patch 0: its segments hold 4 bytes decoding to 6; the patch says 4 decoding to 7"),
    ]

    @Test("a segment table out of bounds is refused with the same words", arguments: refusals)
    func refusal(_ segments: String, _ message: String) {
        let error = #expect(throws: ToolError.self) { try BundleIndex(canonical: Self.index(segments), manifest: Self.delta()) }
        #expect(error?.message == message)
        #expect(error?.status == .refused)
    }

    @Test("more segments than a patch may have is refused before any is read")
    func tooMany() {
        let segments = "[" + Array(repeating: "[1,1,[]]", count: PatchSegment.countLimit + 1).joined(separator: ",") + "]"
        let error = #expect(throws: ToolError.self) { try BundleIndex(canonical: Self.index(segments), manifest: Self.delta()) }
        #expect(error?.message == "INDEX patch 0 has a malformed segment list")
    }

    @Test("a segment table in bounds is read, and written back to the same bytes; a patch of four members has none")
    func roundTrip() throws {
        let bytes = Self.index("[[1,3,[]],[3,4,[[100,1000],[5000,67107864]]]]")
        let i = try BundleIndex(canonical: bytes, manifest: Self.delta())
        #expect(i.patches[0].segments == [PatchSegment(stored: 1, size: 3, extents: []),
                                          PatchSegment(stored: 3, size: 4, extents: [.init(offset: 100, length: 1000), .init(offset: 5000, length: (64 << 20) - 1000)])])
        #expect(i.json.canonicalBytes == bytes)
        #expect(i.patches[0].segments?[1].reference == 64 << 20)
        #expect(PatchSegment(stored: 1, size: 32 << 20, extents: [.init(offset: 0, length: 64 << 20)]).windowLog == 27)
        #expect(PatchSegment(stored: 1, size: 1, extents: []).windowLog == 10)
    }

    // MARK: decoding

    static func compress(_ bytes: ArraySlice<UInt8>, prefix: [UInt8]?, windowLog: Int32? = nil, pledged: Bool = true) throws -> [UInt8] {
        var out: [UInt8] = []
        let z = try ZstdCompressor(ZstdSettings(level: 12, windowLog: windowLog), pledgedSize: pledged ? Int64(bytes.count) : nil, prefix: prefix) { out += $0 }
        try z.write(Array(bytes))
        try z.finish()
        return out
    }

    /// A base of 3000 bytes of text and a new file made of its two halves swapped, with a change.
    static let base: [UInt8] = (0..<3000).map { UInt8(ascii: "a") + UInt8($0 * 7 % 26) }
    static let new: [UInt8] = Array(base[1500...]) + Array("a change".utf8) + Array(base[..<1500])

    /// Decodes one patch of `segments` made of `frames`, against `base`.
    static func decode(_ segments: [PatchSegment], _ frames: [[UInt8]], base: [UInt8] = base) throws -> (RecordingSink, [SHA256Digest]) {
        let stored = frames.joined().count, size = segments.reduce(0) { $0 + $1.size }
        let index = BundleIndex(objects: [], files: [], patches: [.init(pack: 0, stored: Int64(stored), size: size, base: d, segments: segments)])
        let part = PartRef(path: "packs/p.zst", sha256: d, size: Int64(stored), uncompressed: size)
        let sink = RecordingSink()
        let decoder = try makePackDecoder(part, holding: .patches(0..<1), index: index, sink: sink, base: { _ in BaseContent(bytes: base) })
        try PackDecoderTests.feed(decoder, Array(frames.joined()), step: 100)
        return (sink, try decoder.finish())
    }

    @Test("each segment decodes against its extents of the base, concatenated; the file's digest is of all segments")
    func decodes() throws {
        let first = Self.new[..<1508], second = Self.new[1508...]
        // The second segment's reference is two extents: the base's start, and a piece of its end.
        let frames = [try Self.compress(first, prefix: Array(Self.base[1400...])),
                      try Self.compress(second, prefix: Array(Self.base[..<1600]) + Array(Self.base[2900...]))]
        let segments = [PatchSegment(stored: Int64(frames[0].count), size: 1508, extents: [.init(offset: 1400, length: 1600)]),
                        PatchSegment(stored: Int64(frames[1].count), size: 1500, extents: [.init(offset: 0, length: 1600), .init(offset: 2900, length: 100)])]
        let (sink, digests) = try Self.decode(segments, frames)
        #expect(sink.items.map(\.bytes) == [Self.new])
        #expect(digests == [SHA256Digest.of(Self.new)])
        // A segment with no reference decodes alone.
        let alone = try Self.compress(Self.new[...], prefix: nil)
        #expect(try Self.decode([PatchSegment(stored: Int64(alone.count), size: Int64(Self.new.count), extents: [])], [alone]).0.items.map(\.bytes) == [Self.new])
    }

    @Test("an extent past the end of the base file is refused before decoding")
    func extentPastEnd() throws {
        let frame = try Self.compress(Self.new[...], prefix: Array(Self.base[1000...]))
        let segment = PatchSegment(stored: Int64(frame.count), size: Int64(Self.new.count), extents: [.init(offset: 0, length: 10), .init(offset: 1000, length: 2001)])
        let error = #expect(throws: ToolError.self) { try Self.decode([segment], [frame]) }
        #expect(error?.message == "patch 0 in packs/p.zst, segment 0 refers to base bytes 1000 to 3001, past the end of its base file of 3000 bytes")
    }

    @Test("a segment whose frame gives fewer bytes than the index says is refused, naming the segment")
    func shortSegment() throws {
        let frames = [try Self.compress(Self.new[..<1000], prefix: nil), try Self.compress(Self.new[1000...], prefix: nil)]
        let segments = [PatchSegment(stored: Int64(frames[0].count), size: 1001, extents: []),
                        PatchSegment(stored: Int64(frames[1].count), size: Int64(Self.new.count) - 1001, extents: [])]
        let error = #expect(throws: ToolError.self) { try Self.decode(segments, frames) }
        #expect(error?.message == "patch 0 in packs/p.zst, segment 0 gives 1000 bytes, the index says 1001")
    }

    @Test("a frame asking a larger window than its segment's sizes need is refused: memory stays bounded by the index")
    func windowBound() throws {
        // No pledged size, so the frame declares its whole 1 MiB window; the segment needs 4 KiB.
        let frame = try Self.compress(Self.new[...], prefix: nil, windowLog: 20, pledged: false)
        let segment = PatchSegment(stored: Int64(frame.count), size: Int64(Self.new.count), extents: [])
        #expect(segment.windowLog == 12)
        let error = #expect(throws: ToolError.self) { try Self.decode([segment], [frame]) }
        #expect(error?.message.hasPrefix("patch 0 in packs/p.zst, segment 0 is damaged: zstd says") == true, "\(error?.message ?? "")")
    }

    @Test("a patch of four members is one frame against the whole base, under zstd's default window cap")
    func wholeBase() throws {
        let frames = PatchFrames(BundleIndex.Patch(pack: 0, stored: 1, size: 1, base: Self.d), name: "patch 0")
        let (prefix, reference) = try frames.reference(in: BaseContent(bytes: Self.base)) { ZstdReference(capacity: 1) }
        #expect(prefix == Self.base && reference == nil)
        #expect(frames.current.windowLog == 27)
    }
}
