import BundleFormat
import Support
import Zstd

/// A patch pack: the index's `patches`, in order, each one zstd frame made against its whole base
/// file, or (a segmented patch, for big files) one frame per segment, each made against extents
/// of the base (`PatchFrames`). Memory is bounded by the largest single-frame base a builder
/// makes (`BundleIndex.patchBaseLimit`) and by one segment and its reference (`PatchSegment`'s
/// limits), whatever the file's size.
final class PatchPack: PackDecoder {
    private let index: BundleIndex
    private let patches: Range<Int>
    private let sink: ObjectSink
    private let base: BaseProvider
    private let what: String
    private var next: Int
    /// The patch being decoded: its frames and base, and the digest of what it has given so far.
    private var frames: PatchFrames?
    private var content: BaseContent?
    private var hash = SHA256Stream()
    private var digests: [SHA256Digest] = []
    /// The frame being decoded, and its stored bytes still to come.
    private var decoder: ZstdDecompressor?
    private var remaining: Int64 = 0
    /// The buffer segments' references are read into: made on the first, reused for the rest.
    private var buffer: ZstdReference?

    init(_ pack: PartRef, patches: Range<Int>, index: BundleIndex, sink: ObjectSink, base: @escaping BaseProvider) {
        self.index = index
        self.patches = patches
        self.sink = sink
        self.base = base
        self.what = pack.path
        self.next = patches.lowerBound
    }

    private var item: Int { index.number(of: .patch(next)) }

    func feed(_ bytes: UnsafeRawBufferPointer) throws {
        var rest = bytes
        while !rest.isEmpty {
            if decoder == nil { try beginFrame() }
            let n = Int(min(Int64(rest.count), remaining))
            try decoder!.write(UnsafeRawBufferPointer(rebasing: rest[..<n]))
            remaining -= Int64(n)
            rest = UnsafeRawBufferPointer(rebasing: rest[n...])
            if remaining == 0 { try endFrame() }
        }
    }

    /// Starts the next frame: of the current patch, or the first of patch `next`.
    private func beginFrame() throws {
        if frames == nil {
            guard next < patches.upperBound else { throw ToolError.refused("\(what) holds more bytes than its patches") }
            let p = index.patches[next]
            frames = PatchFrames(p, name: "patch \(next) in \(what)")
            content = try base(p.base)
            try sink.begin(object: item, size: p.size)
            hash = SHA256Stream()
        }
        let frame = frames!.current
        let (prefix, reference) = try frames!.reference(in: content!) { [unowned self] in
            if buffer == nil { buffer = ZstdReference(capacity: Int(PatchSegment.referenceLimit)) }
            return buffer!
        }
        remaining = frame.stored
        decoder = try ZstdDecompressor(frame.name, limit: frame.size, maxWindowLog: frame.windowLog, prefix: prefix,
                                       reference: reference) { [unowned self] out in
            self.hash.update(out)
            try self.sink.write(out)
        }
    }

    private func endFrame() throws {
        guard let d = decoder, var f = frames else { return }
        try d.finish()
        let frame = f.current
        guard d.produced == frame.size else { throw ToolError.refused("\(frame.name) gives \(d.produced) bytes, the index says \(frame.size)") }
        decoder = nil
        if f.advance() {
            frames = f
            return
        }
        let digest = hash.finalize()
        try sink.end(object: item, sha256: digest)
        digests.append(digest)
        (frames, content) = (nil, nil)
        next += 1
    }

    func finish() throws -> [SHA256Digest] {
        guard decoder == nil, frames == nil, next == patches.upperBound else { throw ToolError.refused("\(what) ends inside a patch") }
        return digests
    }
}
