import BundleFormat
import Collect
import Support
import Zstd
import SystemIO

/// The packs of a bundle, written to scratch files: what the manifest says of each, and where it is.
struct WrittenPacks {
    var refs: [PartRef] = []
    /// `files[p]` holds the bytes of `refs[p]`.
    var files: [String] = []

    /// What the packs take in the bundle.
    var size: Int64 { refs.reduce(0) { $0 + $1.size } }
}

/// Phase 4 of a build: compresses each pack to a scratch file, hashing what is written.
struct PackWriter {
    let scratch: String
    let compression: CompressionChoice

    /// Packs compressed at once, at most: each solid pack at level 19 holds a match finder of
    /// its own (up to ~100 MiB with a 32 MiB window), so more would buy memory, not speed.
    static let maxWorkers = 4

    /// Writes the packs of `layout`, then (for a delta) one pack of the plan's patches, which
    /// `numberingPatches` has given that pack's number. Packs are compressed on as many threads as there
    /// are cores (up to `maxWorkers`), each into its own scratch file: a pack's bytes depend on
    /// its members alone, so the bundle is the same whatever the number of cores.
    func write(_ layout: PackLayout, files: [CollectedFile], plan: DeltaPlan) throws -> WrittenPacks {
        let compressing = Progress("compressing", total: layout.objects.reduce(Int64(0)) { $0 + $1.size })
        let done = try concurrentMap(layout.packs.count, workers: min(CurrentProcess.processorCount, PackWriter.maxWorkers),
                                     what: "a compressing thread") { [self] p in
            let pack = layout.packs[p]
            return try compressPack(Array(layout.objects[pack.members]), files: files, to: "\(scratch)/pack-\(p)", size: pack.size,
                                    settings: pack.stored ? nil : settings(solid: pack.solid, size: pack.size), progress: compressing)
        }
        compressing.finish()
        var written = WrittenPacks()
        for (p, pack) in layout.packs.enumerated() {
            let (digest, size) = done[p]
            written.refs.append(PartRef(path: PartRef.packPath(digest, stored: pack.stored), sha256: digest, size: size,
                                        uncompressed: pack.size, stored: pack.stored))
            written.files.append("\(scratch)/pack-\(p)")
        }
        if !plan.patchBodies.isEmpty { try writePatches(plan, into: &written) }
        return written
    }

    /// Gives the plan's patches the number of the pack they go in, the one after `layout`'s
    /// (`write` puts it there), so the index can be made before any pack is written.
    static func numberingPatches(_ plan: DeltaPlan, after layout: PackLayout) -> DeltaPlan {
        var numbered = plan
        for k in numbered.patches.indices { numbered.patches[k].pack = layout.packs.count }
        return numbered
    }

    /// One pack of concatenated frames, each decodable alone by `zstd -d --patch-from`.
    private func writePatches(_ plan: DeltaPlan, into written: inout WrittenPacks) throws {
        let scratchFile = "\(scratch)/pack-patches"
        let out = try FileDescriptor.create(scratchFile, mode: 0o600)
        var hash = SHA256Stream()
        for body in plan.patchBodies {
            let start = hash.count
            try body.forEachChunk { chunk in
                hash.update(chunk)
                try out.write(chunk)
            }
            guard hash.count - start == body.stored else { throw ToolError.environment("a patch's scratch file changed while the bundle was being built") }
        }
        try out.close()
        let digest = hash.finalize()
        written.refs.append(PartRef(path: PartRef.packPath(digest, stored: false), sha256: digest, size: hash.count,
                                    uncompressed: plan.patches.reduce(0) { $0 + $1.size }))
        written.files.append(scratchFile)
    }

    func settings(solid: Bool, size: Int64) -> ZstdSettings {
        // A window as large as the pack (up to 32 MiB) finds repeats across the whole pack.
        let window = Int32(max(10, min(25, 64 - (max(size, 1) - 1).leadingZeroBitCount)))
        switch compression {
        // A solid pack at a high level stays on one thread: split into jobs it would lose matches
        // across them and hold a match finder per worker. Fast levels use every core.
        case .auto:
            return solid ? ZstdSettings(level: 19, windowLog: window) : ZstdSettings(level: 3, multithreaded: true)
        case .level(let l):
            return ZstdSettings(level: l, multithreaded: !solid || l < 17, windowLog: solid ? window : nil)
        }
    }

    /// Compresses the objects of one pack into `path` (or copies them as they are, when
    /// `settings` is nil), checking each source still has the bytes that were hashed. Returns the
    /// SHA-256 and size of the pack file.
    func compressPack(_ members: [PackLayout.Object], files: [CollectedFile], to path: String, size: Int64,
                      settings: ZstdSettings?, progress: Progress) throws -> (SHA256Digest, Int64) {
        let out = try FileDescriptor.create(path, mode: 0o600)
        var hash = SHA256Stream()
        let z = try settings.map { s in
            try ZstdCompressor(s, pledgedSize: size) { chunk in
                hash.update(chunk)
                try out.write(chunk)
            }
        }
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 1 << 20, alignment: 64)
        defer { buffer.deallocate() }
        for o in members {
            try copyObject(o, from: files[o.file], buffer: buffer, progress: progress) { chunk in
                if let z {
                    try z.write(chunk)
                } else {
                    hash.update(chunk)
                    try out.write(chunk)
                }
            }
        }
        try z?.finish()
        try out.close()
        return (hash.finalize(), hash.count)
    }

    /// Hands `put` the bytes of one object, checking they are still those that were hashed.
    private func copyObject(_ o: PackLayout.Object, from f: CollectedFile, buffer: UnsafeMutableRawBufferPointer, progress: Progress,
                            _ put: (UnsafeRawBufferPointer) throws -> Void) throws {
        let input = try FileDescriptor.open(f.sourcePath)
        if f.offset > 0 { try input.seek(to: f.offset) }
        var check = SHA256Stream()
        while check.count < o.size {
            // Never past the object's end: a blob inside a tarball is followed by other entries.
            let want = Int(min(Int64(buffer.count), o.size - check.count))
            let n = try input.read(into: UnsafeMutableRawBufferPointer(rebasing: buffer[..<want]))
            if n == 0 { break }
            let chunk = UnsafeRawBufferPointer(rebasing: buffer[..<n])
            check.update(chunk)
            try put(chunk)
            progress.advance(Int64(n))
        }
        try input.close()
        guard check.count == o.size, check.finalize() == o.digest else {
            throw ToolError.environment("'\(f.sourcePath)' changed while the bundle was being built")
        }
    }
}
