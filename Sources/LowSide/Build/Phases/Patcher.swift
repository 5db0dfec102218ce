import BundleFormat
import Collect
import Support
import Zstd
import SystemIO

/// Makes the patches of a delta: zstd frames of a new file made against its base file.
enum Patcher {
    /// The patch of a new file against its base file, or nil when carrying the file whole would
    /// be no larger. A small file against a base up to `BundleIndex.patchBaseLimit` is one frame
    /// made against the whole base, as bundles have always carried them; any other is a segmented
    /// patch (`SegmentedPatcher`), in memory bounded whatever the sizes.
    static func make(_ f: CollectedFile, digest: SHA256Digest, baseFile: String, scratch: String) throws -> PatchBody? {
        guard let base = try FS.info(baseFile) else { throw ToolError.environment("the base's copy '\(baseFile)' is gone") }
        if f.size < PackLayout.largeObject && base.size <= BundleIndex.patchBaseLimit {
            return try frame(newFile: f, digest: digest, baseFile: baseFile).map { .frame($0) }
        }
        return try SegmentedPatcher.make(f, digest: digest, baseFile: baseFile, output: "\(scratch)/patch-\(digest.hex)")
    }

    /// A zstd frame of a small new file made against the whole base file, or nil when carrying
    /// the file whole (compressed alone) would be no larger.
    static func frame(newFile f: CollectedFile, digest: SHA256Digest, baseFile: String) throws -> [UInt8]? {
        let size = f.size
        let new = try read(f, limit: Int(PackLayout.largeObject))
        guard Int64(new.count) == size, SHA256Digest.of(new) == digest else {
            throw ToolError.environment("'\(f.sourcePath)' changed while the bundle was being built")
        }
        let base = try FS.readFile(baseFile, limit: Int(BundleIndex.patchBaseLimit))
        // The window must reach back over the whole base, as `zstd --patch-from` sets it.
        let window = Int32(max(10, min(27, 64 - (max(base.count + new.count, 1) - 1).leadingZeroBitCount)))
        // Level 19: for small files ratio is cheap.
        let settings = ZstdSettings(level: 19, windowLog: window)
        func compress(_ prefix: [UInt8]?) throws -> [UInt8] {
            var out: [UInt8] = []
            let z = try ZstdCompressor(settings, pledgedSize: size, prefix: prefix) { out.append(contentsOf: $0) }
            try z.write(new)
            try z.finish()
            return out
        }
        let patch = try compress(base)
        return patch.count < (try compress(nil)).count ? patch : nil
    }

    /// A collected file's bytes, which may be a slice of an image tarball.
    static func read(_ f: CollectedFile, limit: Int) throws -> [UInt8] {
        guard f.size <= Int64(limit) else { throw ToolError.environment("'\(f.sourcePath)' is larger than \(limit) bytes") }
        let fd = try FileDescriptor.open(f.sourcePath)
        defer { try? fd.close() }
        if f.offset > 0 { try fd.seek(to: f.offset) }
        var out = [UInt8](repeating: 0, count: Int(f.size))
        let n = try out.withUnsafeMutableBytes { try fd.readFully(into: $0) }
        return Array(out.prefix(n))
    }
}

extension PatchBody {
    /// Hands `body` the stored bytes: the frame, or the scratch file in 1 MiB chunks.
    func forEachChunk(_ body: (UnsafeRawBufferPointer) throws -> Void) throws {
        switch self {
        case .frame(let f): try f.withUnsafeBytes { try body($0) }
        case .segmented(let file, _, _):
            let fd = try FileDescriptor.open(file)
            defer { try? fd.close() }
            try fd.forEachChunk(body)
        }
    }
}
