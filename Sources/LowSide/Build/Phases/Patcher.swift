import BundleFormat
import Collect
import Support
import Zstd
import SystemIO

/// Makes the patches of a delta: zstd frames of a new file made against its base file.
enum Patcher {
    /// A zstd frame of the new file made against the base file, or nil when carrying the file
    /// whole (compressed alone) would be no larger.
    static func frame(newFile f: CollectedFile, digest: SHA256Digest, baseFile: String) throws -> [UInt8]? {
        let size = f.size
        let new = try read(f, limit: Int(DeltaBase.patchLimit))
        guard Int64(new.count) == size, SHA256Digest.of(new) == digest else {
            throw ToolError.environment("'\(f.sourcePath)' changed while the bundle was being built")
        }
        let base = try FS.readFile(baseFile, limit: Int(DeltaBase.patchLimit))
        // The window must reach back over the whole base, as `zstd --patch-from` sets it.
        let window = Int32(max(10, min(27, 64 - (max(base.count + new.count, 1) - 1).leadingZeroBitCount)))
        // Small files: -19, where ratio is cheap. Large ones: a fast level with long-distance
        // matching, which finds the unchanged runs of a big file at a fraction of the cost.
        let large = size >= PackLayout.largeObject
        let settings = large ? ZstdSettings(level: 3, windowLog: window, longDistanceMatching: true) : ZstdSettings(level: 19, windowLog: window)
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
