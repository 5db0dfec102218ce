import BundleFormat
import Collect
import Support
import SystemIO
import Zstd

/// Makes the segmented patch of a big file: the new file cut into segments of `segmentSize`,
/// each compressed against the region of the base that shares the most content with it
/// (`SegmentMatcher`), as its zstd prefix. Each frame is what `zstd --patch-from=REGION` would
/// make, and stock `zstd -d --patch-from=REGION` decodes it.
///
/// Memory is one segment, one reference and zstd's tables, whatever the file's size. On a 380 MB
/// SQLite database rebuilt between two days the patch is smaller than `zstd -19 --long=31
/// --patch-from` of the whole file, whose window must hold both files (README, Performance).
enum SegmentedPatcher {
    static let segmentSize: Int64 = 16 << 20
    /// Half a segment more than the segment: room for the drift of moved pages either side.
    static let referenceSize: Int64 = 24 << 20
    /// Every segment is first made at level 3 (dfast, ~100 MB/s with its reference loaded). A
    /// near copy of its reference (under 1/1024 of the segment) or mostly new bytes (over half)
    /// keeps that frame: a stronger level gains next to nothing there.
    static let quickLevel: Int32 = 3
    /// The rest is made again at level 12 (btlazy2, ~10 MB/s): on a rebuilt database half the size
    /// of level 3, and as small as levels 13-19, whose optimal parsers take 40x the time there.
    static let level: Int32 = 12

    /// The patch, written to `output`, or nil (and no file) when no segment shares content with
    /// the base: the file is new, and travels whole.
    static func make(_ f: CollectedFile, digest: SHA256Digest, baseFile: String, output: String) throws -> PatchBody? {
        let base = try FileDescriptor.open(baseFile)
        defer { try? base.close() }
        let matcher = try SegmentMatcher(base: base)
        let input = try FileDescriptor.open(f.sourcePath)
        defer { try? input.close() }
        if f.offset > 0 { try input.seek(to: f.offset) }
        let out = try FileDescriptor.create(output, mode: 0o600)
        var made = try Made(base: base, out: out)
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: Int(min(segmentSize, max(f.size, 1))), alignment: 64)
        defer { buffer.deallocate() }
        while made.check.count < f.size {
            let want = Int(min(Int64(buffer.count), f.size - made.check.count))
            let n = try input.readFully(into: UnsafeMutableRawBufferPointer(rebasing: buffer[..<want]))
            guard n == want else { break }
            let segment = UnsafeRawBufferPointer(rebasing: buffer[..<n])
            made.check.update(segment)
            // Half the segment again for drift, up to the limit: a short last segment needs less.
            let limit = min(referenceSize, max(Int64(n) + Int64(n) / 2, 1 << 20))
            try made.add(segment, region: matcher.region(for: segment, limit: limit))
        }
        try out.close()
        guard made.check.count == f.size, made.check.finalize() == digest else {
            try? FS.remove(output)
            throw ToolError.environment("'\(f.sourcePath)' changed while the bundle was being built")
        }
        guard made.referenced else {
            try FS.remove(output)
            return nil
        }
        return .segmented(file: output, stored: made.stored, segments: made.segments)
    }

    /// The segments made so far, their frames in `out`.
    private struct Made {
        let base: FileDescriptor
        let out: FileDescriptor
        var segments: [PatchSegment] = []
        var stored: Int64 = 0
        var referenced = false
        var check = SHA256Stream()
        /// One buffer for every segment's reference: allocated once, it does not scatter the heap
        /// (new buffers and contexts for each segment cost ~50 MB of peak RSS, measured).
        private var reference: [UInt8] = []
        /// One zstd context for every frame, for the same reason.
        private let context: ZstdContext

        init(base: FileDescriptor, out: FileDescriptor) throws {
            self.base = base
            self.out = out
            context = try ZstdContext()
            reference.reserveCapacity(Int(SegmentedPatcher.referenceSize))
        }

        /// Compresses one segment against its region of the base (none: alone) onto the end of `out`.
        mutating func add(_ segment: UnsafeRawBufferPointer, region: (offset: Int64, length: Int64)?) throws {
            if let region { try read(region.offset, region.length) }
            let reference = region == nil ? nil : self.reference
            var s = PatchSegment(stored: 0, size: Int64(segment.count), offset: region?.offset ?? 0, reference: region?.length ?? 0)
            s.stored = try frame(segment, level: quickLevel, windowLog: s.windowLog, reference: reference)
            if s.stored * 1024 > s.size && s.stored * 2 < s.size {
                try out.truncate(to: stored)
                try out.seek(to: stored)
                s.stored = try frame(segment, level: level, windowLog: s.windowLog, reference: reference)
            }
            segments.append(s)
            stored += s.stored
            referenced = referenced || region != nil
        }

        /// Writes one frame of `segment` to `out`; returns its size.
        private func frame(_ segment: UnsafeRawBufferPointer, level: Int32, windowLog: Int32, reference: [UInt8]?) throws -> Int64 {
            var n: Int64 = 0
            let settings = ZstdSettings(level: level, windowLog: windowLog, longDistanceMatching: true)
            let z = try ZstdCompressor(settings, pledgedSize: Int64(segment.count), prefix: reference, context: context) { [out] chunk in
                n += Int64(chunk.count)
                try out.write(chunk)
            }
            try z.write(segment)
            try z.finish()
            return n
        }

        /// Reads the region into `reference`, within the capacity it already has.
        private mutating func read(_ offset: Int64, _ length: Int64) throws {
            reference.removeAll(keepingCapacity: true)
            reference.append(contentsOf: repeatElement(0, count: Int(length)))
            let n = try reference.withUnsafeMutableBytes { [base] in try base.readFully(into: $0, fromOffset: offset) }
            guard n == Int(length) else { throw ToolError.environment("the base's copy changed while the bundle was being built") }
        }
    }
}
