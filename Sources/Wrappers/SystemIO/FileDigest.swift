import Support

extension SHA256Stream {
    /// Hashes a whole file in 1 MiB reads.
    public static func file(_ path: String, progress: Progress? = nil) throws -> (SHA256Digest, Int64) {
        let (digest, size, _) = try file(path, progress: progress, keepingHead: 0)
        return (digest, size)
    }

    /// The same, also returning the file's first `keepingHead` bytes (fewer if it is shorter),
    /// so a caller that needs both does not open and read the file twice.
    public static func file(_ path: String, progress: Progress? = nil, keepingHead headLength: Int) throws -> (SHA256Digest, Int64, [UInt8]) {
        let fd = try FileDescriptor.open(path)
        var stream = SHA256Stream()
        var head: [UInt8] = []
        try fd.forEachChunk { chunk in
            if head.count < headLength { head += chunk[..<min(chunk.count, headLength - head.count)] }
            stream.update(chunk)
            progress?.advance(Int64(chunk.count))
        }
        return (stream.finalize(), stream.count, head)
    }
}
