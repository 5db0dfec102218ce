import BundleFormat
import Collect
import Support
import SystemIO
import Zstd

/// Makes the segmented patch of a big file: the new file cut into segments of `segmentSize`,
/// each compressed against the parts of the base that share the most content with it
/// (`SegmentMatcher`), concatenated as its zstd prefix. Each frame is what `zstd
/// --patch-from=REFERENCE` would make, and stock `zstd -d --patch-from=REFERENCE` decodes it.
///
/// Memory is one segment, one reference and zstd's tables, whatever the file's size. On a 380 MB
/// SQLite database rebuilt between two days the patch is smaller than `zstd -19 --long=31
/// --patch-from` of the whole file, whose window must hold both files (README, Performance).
enum SegmentedPatcher {
    static let segmentSize: Int64 = 16 << 20
    /// The most base bytes a segment is made against: a window a quarter larger than the segment
    /// (moved rows drift either side), and granules elsewhere. 24 MiB to 44 MiB took a WITHOUT ROWID
    /// database's patch from 7.5 to 5.9 MB (index pages a rebuild places anywhere) for ~20 MB more
    /// peak RSS and no more time; a database whose rows are renumbered gained nothing (measured).
    static let referenceSize: Int64 = 44 << 20
    /// Every segment is first made at level 3 (dfast, ~100 MB/s with its reference loaded). A
    /// near copy of its reference (under 1/1024 of the segment) or mostly new bytes (over half)
    /// keeps that frame: a stronger level gains next to nothing there.
    static let quickLevel: Int32 = 3
    /// The rest is made again at level 12 (btlazy2, ~10 MB/s): on a rebuilt database half the size
    /// of level 3, and smaller than levels 13-17, whose optimal parsers took 10-45x the time there.
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
        // Tens of seconds for a file of hundreds of MB: say so on a terminal.
        let progress = Progress("patching", total: f.size)
        defer { progress.finish() }
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: Int(min(segmentSize, max(f.size, 1))), alignment: 64)
        defer { buffer.deallocate() }
        while made.check.count < f.size {
            let want = Int(min(Int64(buffer.count), f.size - made.check.count))
            let n = try input.readFully(into: UnsafeMutableRawBufferPointer(rebasing: buffer[..<want]))
            guard n == want else { break }
            let segment = UnsafeRawBufferPointer(rebasing: buffer[..<n])
            made.check.update(segment)
            // Up to three times the segment: a short last segment needs less.
            let budget = min(referenceSize, max(3 * Int64(n), 1 << 20))
            try made.add(segment, extents: matcher.extents(for: segment, budget: budget))
            progress.advance(Int64(n))
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
        private let reference = ZstdReference(capacity: Int(SegmentedPatcher.referenceSize))
        /// One zstd context for every frame, for the same reason.
        private let context: ZstdContext

        init(base: FileDescriptor, out: FileDescriptor) throws {
            self.base = base
            self.out = out
            context = try ZstdContext()
        }

        /// Compresses one segment against its extents of the base (none: alone) onto the end of `out`.
        mutating func add(_ segment: UnsafeRawBufferPointer, extents: [PatchSegment.Extent]?) throws {
            if let extents { try read(extents) }
            let reference = extents == nil ? nil : self.reference
            var s = PatchSegment(stored: 0, size: Int64(segment.count), extents: extents ?? [])
            s.stored = try frame(segment, level: quickLevel, windowLog: s.windowLog, reference: reference)
            if s.stored * 1024 > s.size && s.stored * 2 < s.size {
                try out.truncate(to: stored)
                try out.seek(to: stored)
                s.stored = try frame(segment, level: level, windowLog: s.windowLog, reference: reference)
            }
            segments.append(s)
            stored += s.stored
            referenced = referenced || extents != nil
        }

        /// Writes one frame of `segment` to `out`; returns its size.
        private func frame(_ segment: UnsafeRawBufferPointer, level: Int32, windowLog: Int32, reference: ZstdReference?) throws -> Int64 {
            var n: Int64 = 0
            let settings = ZstdSettings(level: level, windowLog: windowLog, longDistanceMatching: true)
            let z = try ZstdCompressor(settings, pledgedSize: Int64(segment.count), reference: reference, context: context) { [out] chunk in
                n += Int64(chunk.count)
                try out.write(chunk)
            }
            try z.write(segment)
            try z.finish()
            return n
        }

        /// Reads the extents, one after another, into `reference` (their sum is within its capacity).
        private func read(_ extents: [PatchSegment.Extent]) throws {
            reference.removeAll()
            for x in extents {
                let n = try reference.append(Int(x.length)) { [base] in try base.readFully(into: $0, fromOffset: x.offset) }
                guard n == Int(x.length) else { throw ToolError.environment("the base's copy changed while the bundle was being built") }
            }
        }
    }
}
