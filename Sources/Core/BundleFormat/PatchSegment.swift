import Support

/// One segment of a segmented patch (a big file's): a zstd frame of `stored` bytes that decodes
/// to the next `size` bytes of the new file, made against a reference: the base file's `extents`,
/// concatenated in order, as its zstd prefix. Stock `zstd -d --patch-from=REFERENCE` decodes the
/// frame, REFERENCE being those bytes cut out of the base. No extents: the frame decodes alone.
///
/// Cutting a patch so bounds the memory of making and of decoding it by one segment and its
/// reference, whatever the file's size. The limits below are checked when the index is read.
///
/// In the index a segmented patch is the patch's array with a fifth member, its segments, each
/// `[stored, size, [[offset, length], ...]]`; a patch of four members is one frame made against
/// the whole base, as before, so bundles without big patches keep their bytes. A reader that
/// knows only four members refuses the index as malformed instead of misreading it.
public struct PatchSegment: Equatable, Sendable {
    /// Bytes of the base file at `offset`.
    public struct Extent: Equatable, Sendable {
        public var offset: Int64
        public var length: Int64
        public init(offset: Int64, length: Int64) { self.offset = offset; self.length = length }
    }

    public var stored: Int64
    public var size: Int64
    public var extents: [Extent]

    public init(stored: Int64, size: Int64, extents: [Extent]) {
        self.stored = stored
        self.size = size
        self.extents = extents
    }

    /// The most bytes one segment decodes to.
    public static let sizeLimit: Int64 = 32 << 20
    /// The most base bytes one segment is made against, all extents together.
    public static let referenceLimit: Int64 = 64 << 20
    /// The most extents of one segment's reference.
    public static let extentLimit = 4096
    /// The most segments of one patch: 4 TiB of the largest segments, far past any file carried.
    public static let countLimit = 1 << 17

    /// Bytes of the reference: the extents' lengths added up.
    public var reference: Int64 { extents.reduce(0) { $0 + $1.length } }

    /// The window the frame needs, as a power of two: its reference and its own bytes. A decoder
    /// refuses a frame that asks for more; at the limits above it is 2^27 (128 MiB).
    public var windowLog: Int32 {
        let span = max(reference + size, 1)
        return Int32(max(10, 64 - (span - 1).leadingZeroBitCount))
    }

    var json: JSON { .array([.int(stored), .int(size), .array(extents.map { .array([.int($0.offset), .int($0.length)]) })]) }

    /// The segments of patch `i`, which must add up to its `stored` and `size` bytes.
    static func parse(_ v: JSON, patch i: Int, stored: Int64, size: Int64) throws -> [PatchSegment] {
        guard case .array(let items) = v, !items.isEmpty, items.count <= countLimit else {
            throw ToolError.refused("INDEX patch \(i) has a malformed segment list")
        }
        var storedSum: Int64 = 0, sizeSum: Int64 = 0
        let segments = try items.enumerated().map { j, item in
            let s = try segment(item, "INDEX patch \(i) segment \(j)")
            try BundleIndex.add(&storedSum, s.stored, "segments of patch \(i)")
            try BundleIndex.add(&sizeSum, s.size, "segments of patch \(i)")
            return s
        }
        guard storedSum == stored, sizeSum == size else {
            throw ToolError.refused("INDEX patch \(i): its segments hold \(storedSum) bytes decoding to \(sizeSum); the patch says \(stored) decoding to \(size)")
        }
        return segments
    }

    private static func segment(_ v: JSON, _ what: String) throws -> PatchSegment {
        guard case .array(let a) = v, a.count == 3, case .int(let stored) = a[0], case .int(let size) = a[1],
              case .array(let list) = a[2], list.count <= extentLimit else {
            throw ToolError.refused("\(what) is malformed")
        }
        guard stored > 0, size > 0, size <= sizeLimit else {
            throw ToolError.refused("\(what) is \(stored) bytes decoding to \(size); a segment is 1 to \(sizeLimit) bytes")
        }
        var total: Int64 = 0
        let extents = try list.enumerated().map { k, e in
            let x = try extent(e, "\(what) extent \(k)")
            let (sum, overflow) = total.addingReportingOverflow(x.length)
            guard !overflow, sum <= referenceLimit else {
                throw ToolError.refused("\(what) refers to more than \(referenceLimit) base bytes")
            }
            total = sum
            return x
        }
        return PatchSegment(stored: stored, size: size, extents: extents)
    }

    private static func extent(_ v: JSON, _ what: String) throws -> Extent {
        guard case .array(let a) = v, a.count == 2, case .int(let offset) = a[0], case .int(let length) = a[1] else {
            throw ToolError.refused("\(what) is malformed")
        }
        guard offset >= 0, length > 0, length <= referenceLimit else {
            throw ToolError.refused("\(what) names \(length) base bytes at \(offset); an extent is 1 to \(referenceLimit) bytes")
        }
        let (end, overflow) = offset.addingReportingOverflow(length)
        guard !overflow, end <= Manifest.maxPartSize else {
            throw ToolError.refused("\(what) names base bytes past \(Manifest.maxPartSize)")
        }
        return Extent(offset: offset, length: length)
    }
}

extension BundleIndex.Patch {
    var json: JSON {
        var members: [JSON] = [.int(Int64(pack)), .int(stored), .int(size), .string(base.hex)]
        if let segments { members.append(.array(segments.map(\.json))) }
        return .array(members)
    }
}
