import Foundation
import Support
import SystemIO

/// Reads a blob from the layout in order and hashes every byte; refuses it once the hashed bytes
/// reach the end of the blob and do not match the digest it is stored under.
///
/// Reading and hashing are separate steps so a chunk can be hashed while it is being sent; the
/// caller hashes the last chunk before sending it, so no bytes that fail the check complete
/// an upload.
final class BlobReader: @unchecked Sendable {
    let blob: BlobRef
    private let fd: FileDescriptor
    private var hash = SHA256Stream()
    /// Bytes read so far.
    private(set) var offset: Int64 = 0
    /// Bytes hashed so far.
    private(set) var hashed: Int64 = 0

    init(path: String, blob: BlobRef) throws {
        self.blob = blob
        fd = try FileDescriptor.open(path)
        let size = try fd.size()
        guard size == blob.size else {
            throw ToolError.refused("blob \(blob.name) is \(size) bytes on disk; its descriptor says \(blob.size); it was not pushed")
        }
    }

    /// Reads and hashes, without keeping, the bytes up to `target`: the part a registry already holds.
    func skip(to target: Int64) throws {
        while offset < target {
            try absorb(read(Int(min(target - offset, 1 << 20))))
        }
    }

    /// The next `count` bytes (fewer at the end of the blob), not yet hashed.
    func read(_ count: Int) throws -> Data {
        var d = Data()
        try read(count, into: &d)
        return d
    }

    /// The same into `d`, reusing its storage when nothing else holds it.
    func read(_ count: Int, into d: inout Data) throws {
        let n = Int(min(Int64(count), blob.size - offset))
        if d.count != n { d.count = n }
        let got = try d.withUnsafeMutableBytes { try fd.readFully(into: $0) }
        guard got == n else {
            throw ToolError.refused("blob \(blob.name) ended after \(offset + Int64(got)) of \(blob.size) bytes while it was read; it was not pushed")
        }
        offset += Int64(n)
    }

    /// Hashes the bytes `read` returned, in order; at the end of the blob, checks the digest.
    func absorb(_ d: Data) throws {
        d.withUnsafeBytes { hash.update($0) }
        hashed += Int64(d.count)
        if hashed == blob.size {
            let actual = hash.finalize()
            guard actual == blob.digest else {
                throw ToolError.refused("blob \(blob.name) in the layout does not match its digest (its bytes hash to sha256:\(actual.hex)); it was not pushed")
            }
        }
    }
}
