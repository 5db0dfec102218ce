import Support

extension SHA256Stream {
    /// Hashes a whole file in 1 MiB reads.
    /// With `followingLinks: false`, a symbolic link there is refused (ELOOP), not read through.
    public static func file(_ path: String, progress: Progress? = nil, followingLinks: Bool = true) throws -> (SHA256Digest, Int64) {
        let (digest, size, _) = try file(path, progress: progress, keepingHead: 0, followingLinks: followingLinks)
        return (digest, size)
    }

    /// The same, also returning the file's first `keepingHead` bytes (fewer if it is shorter),
    /// so a caller that needs both does not open and read the file twice.
    public static func file(_ path: String, progress: Progress? = nil, keepingHead headLength: Int,
                            followingLinks: Bool = true) throws -> (SHA256Digest, Int64, [UInt8]) {
        let fd = try FileDescriptor.open(path, options: followingLinks ? [] : .noFollow)
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
