import BundleFormat
import Support
import SystemIO
import Zstd

/// Base content for the patches of a delta, by digest (the mirror's current version, on the high side).
public typealias BaseProvider = (SHA256Digest) throws -> BaseContent

/// A base file a patch is decoded against: its bytes in memory (a patch of one frame needs them
/// all), or an open file that a segmented patch reads extent by extent, so a big base is never
/// held whole.
public final class BaseContent {
    public let size: Int64
    private let bytes: [UInt8]?
    private let file: FileDescriptor?
    private let what: String

    public init(bytes: [UInt8]) {
        self.bytes = bytes
        size = Int64(bytes.count)
        file = nil
        what = "base content"
    }

    private init(file: FileDescriptor, size: Int64, what: String) {
        self.file = file
        self.size = size
        self.what = what
        bytes = nil
    }

    /// Opens `path`, refusing a symbolic link, and checks it holds `digest`: nil when it does not.
    /// A file up to `BundleIndex.patchBaseLimit` is read whole; a larger one is hashed as it
    /// streams, then kept open for `reference`.
    public static func verified(_ path: String, digest: SHA256Digest) throws -> BaseContent? {
        let fd = try FileDescriptor.open(path, options: .noFollow)
        let size = try fd.size()
        if size <= BundleIndex.patchBaseLimit {
            var bytes = [UInt8](repeating: 0, count: Int(size))
            let n = try bytes.withUnsafeMutableBytes { try fd.readFully(into: $0) }
            bytes.removeSubrange(n...)
            return SHA256Digest.of(bytes) == digest ? BaseContent(bytes: bytes) : nil
        }
        var hash = SHA256Stream()
        try fd.forEachChunk { hash.update($0) }
        guard hash.count == size, hash.finalize() == digest else { return nil }
        return BaseContent(file: fd, size: size, what: "'\(path)'")
    }

    /// Every byte, for a patch of one frame made against the whole file. Such a patch is only
    /// made against files up to `BundleIndex.patchBaseLimit`, which bounds the memory.
    func whole(for patch: String) throws -> [UInt8] {
        guard let bytes else {
            throw ToolError.refused("\(patch) is one frame against a base of \(size) bytes; such patches are made only against bases up to \(BundleIndex.patchBaseLimit) bytes")
        }
        return bytes
    }

    /// Fills `reference` with the extents' bytes, concatenated: each must lie inside the file,
    /// and together they fit the buffer (`PatchSegment.referenceLimit`, which the index checked).
    func fill(_ reference: ZstdReference, with extents: [PatchSegment.Extent], for segment: String) throws {
        reference.removeAll()
        for x in extents {
            let (end, overflow) = x.offset.addingReportingOverflow(x.length)
            guard x.offset >= 0, x.length >= 0, !overflow, end <= size, x.length <= Int64(reference.capacity - reference.count) else {
                throw ToolError.refused("\(segment) refers to base bytes \(x.offset) to \(end), past the end of its base file of \(size) bytes")
            }
            let n = try reference.append(Int(x.length)) { room in
                if let bytes {
                    bytes.withUnsafeBytes { room.copyMemory(from: UnsafeRawBufferPointer(rebasing: $0[Int(x.offset) ..< Int(end)])) }
                    return room.count
                }
                return try file!.readFully(into: room, fromOffset: x.offset)
            }
            // The digest held when the file was opened; a file cut short since is damage, not input.
            guard n == Int(x.length) else { throw ToolError.refused("\(what) changed while a patch was decoded against it") }
        }
    }
}
