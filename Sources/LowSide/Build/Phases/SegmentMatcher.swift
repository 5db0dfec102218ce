import BundleFormat
import Support
import SystemIO

/// Finds, for a segment of a new file, the parts of its base file that share the most content.
///
/// Both files are sampled at content-defined anchors: the positions where a gear hash of the 64
/// bytes before them has its top bits zero, so the same bytes give the same anchors wherever
/// they moved to (a database rebuilt from scratch shifts every page after the first change).
/// The base's anchors are kept sorted by hash (one per 256 bytes or more, about a million at most
/// whatever the size: 16 MiB); a segment's anchors are looked up, and the parts of the base
/// holding most of the matches are the segment's reference.
struct SegmentMatcher {
    /// A hash seen once in the base, and where.
    private var hashes: [UInt64] = []
    private var offsets: [Int64] = []
    let baseSize: Int64
    /// An anchor where the hash's top `bits` bits are zero: one per 2^bits bytes on average.
    let bits: Int

    /// Reads the base file once, in 1 MiB chunks.
    init(base: FileDescriptor) throws {
        baseSize = try base.size()
        // 2^8 bytes apart at least; fewer anchors for a larger base, about one million at most.
        bits = max(8, 64 - max(baseSize >> 20, 1).leadingZeroBitCount)
        var pairs: [(UInt64, Int64)] = []
        var gear = GearHash(bits: bits)
        var at: Int64 = 0
        try base.forEachChunk { chunk in
            gear.scan(chunk) { pairs.append(($0, at + Int64($1))) }
            at += Int64(chunk.count)
        }
        pairs.sort { $0.0 < $1.0 }
        // A hash found twice names no one place (repeated boilerplate): keep the unique ones.
        var i = 0
        while i < pairs.count {
            var j = i + 1
            while j < pairs.count && pairs[j].0 == pairs[i].0 { j += 1 }
            if j == i + 1 {
                hashes.append(pairs[i].0)
                offsets.append(pairs[i].1)
            }
            i = j
        }
    }

    /// Where in the base the hash was seen, if once.
    private func lookup(_ h: UInt64) -> Int64? {
        let lo = hashes.lowerBound { $0 < h }
        return lo < hashes.count && hashes[lo] == h ? offsets[lo] : nil
    }

    /// The reference for a segment, at most `budget` bytes of the base in extents sorted by
    /// offset: the window of the segment's size and a quarter more holding most of its anchors
    /// (content moves in order: rows and pages shift, not shuffle), then the 64 KiB granules
    /// elsewhere with most of the rest (index pages, which a rebuild places anywhere), while the
    /// budget lasts. nil when under 1 in 64 of the segment's anchors are found at all (it is new).
    func extents(for segment: UnsafeRawBufferPointer, budget: Int64) -> [PatchSegment.Extent]? {
        var found: [Int64] = []
        var total = 0
        var gear = GearHash(bits: bits)
        gear.scan(segment) { h, _ in
            total += 1
            if let o = lookup(h) { found.append(o) }
        }
        guard !found.isEmpty, found.count * 64 >= total else { return nil }
        found.sort()
        let n = Int64(segment.count)
        let core = SegmentMatcher.densest(found, width: min(budget, n + n / 4), size: baseSize)
        var extents = [core]
        var left = budget - core.length
        let granule = SegmentMatcher.granule
        var counts: [Int64: Int] = [:]
        for o in found where o < core.offset || o >= core.offset + core.length { counts[o / granule, default: 0] += 1 }
        // Two anchors at least: one alone may be a chance collision of hashes.
        let ranked = counts.filter { $0.value >= 2 }.sorted { $0.value != $1.value ? $0.value > $1.value : $0.key < $1.key }
        for (g, _) in ranked where left > 0 {
            let offset = g * granule
            let length = min(granule, baseSize - offset, left)
            extents.append(PatchSegment.Extent(offset: offset, length: length))
            left -= length
        }
        return SegmentMatcher.merged(extents)
    }

    static let granule: Int64 = 64 << 10

    /// The window of `width` bytes (inside a base of `size`) centred on the most offsets no
    /// more than `width` apart.
    static func densest(_ sorted: [Int64], width: Int64, size: Int64) -> PatchSegment.Extent {
        var best = (count: 0, lo: Int64(0), hi: Int64(0))
        var start = 0
        for end in sorted.indices {
            while sorted[end] - sorted[start] >= width { start += 1 }
            if end - start + 1 > best.count { best = (end - start + 1, sorted[start], sorted[end]) }
        }
        let length = min(width, size)
        let offset = min(max(0, best.lo - (width - (best.hi - best.lo)) / 2), size - length)
        return PatchSegment.Extent(offset: offset, length: length)
    }

    /// Sorted by offset, with touching or overlapping extents joined (granules never overlap the
    /// core window, so the total stays within the budget).
    static func merged(_ extents: [PatchSegment.Extent]) -> [PatchSegment.Extent] {
        var out: [PatchSegment.Extent] = []
        for x in extents.sorted(by: { $0.offset < $1.offset }) {
            if let last = out.last, last.offset + last.length >= x.offset {
                out[out.count - 1].length = max(last.length, x.offset + x.length - last.offset)
            } else {
                out.append(x)
            }
        }
        return out
    }
}

/// A gear hash: each byte shifts the hash left one bit and adds that byte's random word, so the
/// hash depends on the last 64 bytes only. Anchors are where its top `bits` bits are zero.
struct GearHash {
    private var h: UInt64 = 0
    private let mask: UInt64

    init(bits: Int) { mask = ~(UInt64.max >> UInt64(bits)) }

    /// Calls `anchor(hash, index)` at each anchor of `bytes` (the index of the byte after the 64 hashed).
    mutating func scan(_ bytes: UnsafeRawBufferPointer, _ anchor: (UInt64, Int) -> Void) {
        guard let base = bytes.baseAddress?.assumingMemoryBound(to: UInt8.self) else { return }
        let table = GearHash.table
        var h = self.h
        for i in 0..<bytes.count {
            h = (h << 1) &+ table[Int(base[i])]
            if h & mask == 0 { anchor(h, i + 1) }
        }
        self.h = h
    }

    /// 256 words from splitmix64 with a fixed seed: the same anchors on every machine.
    private static let words: [UInt64] = {
        var x: UInt64 = 0x6172_6761_705f_3134
        return (0..<256).map { _ in
            x &+= 0x9E37_79B9_7F4A_7C15
            var z = x
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
    }()

    private static var table: UnsafePointer<UInt64> { tablePointer }
    private nonisolated(unsafe) static let tablePointer: UnsafePointer<UInt64> = {
        let p = UnsafeMutablePointer<UInt64>.allocate(capacity: 256)
        p.initialize(from: words, count: 256)
        return UnsafePointer(p)
    }()
}
