import BundleFormat
import Support
import Zstd

/// The zstd frames of one patch, in order, and the base bytes each is decoded against: the whole
/// base for a patch of one frame, extents of it for each segment of a segmented patch. The
/// index bounded every segment when it was read; the base's own size is checked here.
struct PatchFrames {
    struct Frame {
        var name: String
        var stored: Int64
        var size: Int64
        /// nil: the whole base. Otherwise the extents (possibly none) of the base.
        var extents: [PatchSegment.Extent]?
        var windowLog: Int32
    }

    private let frames: [Frame]
    private var position = 0

    init(_ p: BundleIndex.Patch, name: String) {
        guard let segments = p.segments else {
            // zstd's default cap (128 MiB), as patches of one frame have always been decoded.
            frames = [Frame(name: name, stored: p.stored, size: p.size, extents: nil, windowLog: 27)]
            return
        }
        frames = segments.enumerated().map { j, s in
            Frame(name: "\(name), segment \(j)", stored: s.stored, size: s.size, extents: s.extents, windowLog: s.windowLog)
        }
    }

    var current: Frame { frames[position] }

    /// Moves to the next frame; false when the patch has no more.
    mutating func advance() -> Bool {
        position += 1
        return position < frames.count
    }

    /// What the current frame is decoded against: the whole base (`prefix`), or its extents
    /// read into `buffer` (`reference`); neither when it has no extents.
    func reference(in base: BaseContent, buffer: () -> ZstdReference) throws -> (prefix: [UInt8]?, reference: ZstdReference?) {
        let f = current
        guard let extents = f.extents else { return (try base.whole(for: f.name), nil) }
        guard !extents.isEmpty else { return (nil, nil) }
        let r = buffer()
        try base.fill(r, with: extents, for: f.name)
        return (nil, r)
    }
}
