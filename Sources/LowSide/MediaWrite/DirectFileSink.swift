import Media
import Support
import SystemIO

/// Writes each tag's chunks to its volume file (tag n to `paths[n]`), on a pipeline thread.
/// The first failure stops the writing; the reading thread sees it and gives up.
final class VolumeFilesWriter: ChunkConsumer, @unchecked Sendable {
    private let paths: [String]
    private var file: DirectFile?
    private var tag = -1
    private let lock = Mutex()
    private var error: ToolError?

    init(paths: [String]) { self.paths = paths }

    var failure: ToolError? { lock.locked { error } }

    func consume(_ chunk: UnsafeRawBufferPointer, tag: Int) {
        guard failure == nil else { return }
        do {
            if tag != self.tag {
                try file?.fd.close()
                file = try DirectFile.create(paths[tag])
                self.tag = tag
            }
            if chunk.count % 4096 != 0 { try file!.leaveDirectMode() }
            try file!.fd.write(chunk)
        } catch let e as ToolError {
            // EFBIG: the medium's file system takes smaller files than --volume-size allows.
            // EFBIG: the file grew past what the destination file system holds.
            let hint = e.errno == .fileTooLarge ? " (the destination's file system holds smaller files; FAT32: --volume-size fat32)" : ""
            lock.locked { error = e.appending(hint) }
        } catch {
            lock.locked { self.error = ToolError.environment("cannot write '\(paths[tag])': \(error)") }
        }
    }

    /// Closes the last file, flushed to the medium first if `sync`; call after the pipeline finished.
    func close(sync: Bool = false) throws {
        if let e = failure { throw e }
        if sync { try file?.fd.sync() }
        try file?.fd.close()
        file = nil
    }
}

/// An ISO image file: takes libarchive's output in any slicing and writes it as the plain
/// volumes are written (4 MiB O_DIRECT writes on one thread), with its SHA-256 (to compare with
/// what a burned disc reads back) on another, instead of through the page cache on libarchive's.
final class ImageFile {
    private let writer: VolumeFilesWriter
    private let digest = DigestConsumer()
    private let pipe: ChunkPipeline
    private var buffer: UnsafeMutableRawBufferPointer
    private var filled = 0

    init(path: String) throws {
        writer = VolumeFilesWriter(paths: [path])
        pipe = try ChunkPipeline(consumers: [writer, digest], slots: 4, chunkSize: 4 * VolumeLabel.pieceSize)
        buffer = pipe.acquire()
    }

    func write(_ bytes: UnsafeRawBufferPointer) throws {
        var rest = bytes
        while !rest.isEmpty {
            if let e = writer.failure { throw e }
            let n = min(rest.count, buffer.count - filled)
            UnsafeMutableRawBufferPointer(rebasing: buffer[filled..<filled + n]).copyMemory(from: UnsafeRawBufferPointer(rebasing: rest[..<n]))
            filled += n
            rest = UnsafeRawBufferPointer(rebasing: rest[n...])
            if filled == buffer.count {
                pipe.publish(filled, tag: 0)
                buffer = pipe.acquire()
                filled = 0
            }
        }
    }

    /// Writes the rest, flushes the file to the medium and returns the image's SHA-256.
    func finish() throws -> SHA256Digest {
        if filled > 0 { pipe.publish(filled, tag: 0) }
        filled = 0
        pipe.finish()
        try writer.close(sync: true)
        return digest.stream.finalize()
    }
}

/// A file being written with O_DIRECT until an unaligned write needs the page cache.
struct DirectFile {
    /// A new file opened for O_DIRECT writes where the file system supports them (not tmpfs).
    static func create(_ path: String) throws -> DirectFile {
        if let fd = try FileDescriptor.createDirect(path) { return DirectFile(fd: fd, direct: true) }
        return DirectFile(fd: try FileDescriptor.create(path), direct: false)
    }

    /// Writes a volume's label after its payload, at `offset`, and flushes the file.
    static func appendLabel(_ bytes: [UInt8], to path: String, at offset: Int64) throws {
        let fd = try FileDescriptor.open(path, .writeOnly)
        try bytes.withUnsafeBytes { try fd.write($0, toOffset: offset) }
        try fd.sync()
        try fd.close()
    }

    let fd: FileDescriptor
    var direct: Bool

    /// O_DIRECT needs lengths in whole blocks; the bundle's last bytes go through the page cache.
    mutating func leaveDirectMode() throws {
        guard direct else { return }
        try fd.setDirectIO(false)
        direct = false
    }
}
