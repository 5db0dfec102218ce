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
/// Memory is one segment, one reference and zstd's tables, whatever the file's size: on a 380 MB
/// SQLite database rebuilt between two days, smaller than `zstd -19 --long=31 --patch-from` of the
/// whole file, which holds both files (see README, Performance).
enum SegmentedPatcher {
    static let segmentSize: Int64 = 16 << 20
    /// Half a segment more than the segment: room for the drift of moved pages either side.
    static let referenceSize: Int64 = 24 << 20
    /// btlazy2: on rebuilt databases as small as levels 13-19 (their optimal parsers spend 40x the
    /// time there for nothing), and ~10 MB/s with the reference loaded.
    static let level: Int32 = 12

    /// The patch, written to `output`, or nil (and no file) when carrying the file whole,
    /// compressed alone as a pack would, is no larger.
    static func make(_ f: CollectedFile, digest: SHA256Digest, baseFile: String, output: String) throws -> PatchBody? {
        let base = try FileDescriptor.open(baseFile)
        defer { try? base.close() }
        let matcher = try SegmentMatcher(base: base)
        let input = try FileDescriptor.open(f.sourcePath)
        defer { try? input.close() }
        if f.offset > 0 { try input.seek(to: f.offset) }
        let out = try FileDescriptor.create(output, mode: 0o600)
        var made = Made()
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
            try made.add(segment, region: matcher.region(for: segment, limit: limit), base: base, out: out)
        }
        try out.close()
        guard made.check.count == f.size, made.check.finalize() == digest else {
            try? FS.remove(output)
            throw ToolError.environment("'\(f.sourcePath)' changed while the bundle was being built")
        }
        guard made.referenced, made.stored < made.alone else {
            try FS.remove(output)
            return nil
        }
        return .segmented(file: output, stored: made.stored, segments: made.segments)
    }

    /// The segments made so far, and what the file would take compressed alone.
    private struct Made {
        var segments: [PatchSegment] = []
        var stored: Int64 = 0
        var alone: Int64 = 0
        var referenced = false
        var check = SHA256Stream()

        /// Compresses one segment against its region of the base (none: alone) into `out`.
        mutating func add(_ segment: UnsafeRawBufferPointer, region: (offset: Int64, length: Int64)?, base: FileDescriptor,
                          out: FileDescriptor) throws {
            let reference = try region.map { try read(base, $0.offset, $0.length) }
            var s = PatchSegment(stored: 0, size: Int64(segment.count), offset: region?.offset ?? 0, reference: region?.length ?? 0)
            let settings = ZstdSettings(level: level, windowLog: s.windowLog, longDistanceMatching: true)
            var frame: Int64 = 0
            let z = try ZstdCompressor(settings, pledgedSize: s.size, prefix: reference) { chunk in
                frame += Int64(chunk.count)
                try out.write(chunk)
            }
            try z.write(segment)
            try z.finish()
            s.stored = frame
            segments.append(s)
            stored += frame
            referenced = referenced || region != nil
            alone += try SegmentedPatcher.aloneSize(segment)
        }

        private func read(_ base: FileDescriptor, _ offset: Int64, _ length: Int64) throws -> [UInt8] {
            var bytes = [UInt8](repeating: 0, count: Int(length))
            let n = try bytes.withUnsafeMutableBytes { try base.readFully(into: $0, fromOffset: offset) }
            guard n == Int(length) else { throw ToolError.environment("the base's copy changed while the bundle was being built") }
            return bytes
        }
    }

    /// The bytes of `segment` compressed alone at level 3, as a pack of large objects is.
    private static func aloneSize(_ segment: UnsafeRawBufferPointer) throws -> Int64 {
        var n: Int64 = 0
        let z = try ZstdCompressor(ZstdSettings(level: 3), pledgedSize: Int64(segment.count)) { n += Int64($0.count) }
        try z.write(segment)
        try z.finish()
        return n
    }
}
