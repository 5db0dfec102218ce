import BundleFormat
import Collect
import Support
import SystemIO

/// The collected files with their SHA-256s: digests decide what is stored once.
struct HashedInputs {
    var files: [CollectedFile]
    /// `digests[i]` is the SHA-256 of `files[i]`.
    var digests: [SHA256Digest]

    /// The bytes of the whole tree, counting a file carried twice twice.
    var totalSize: Int64 { files.reduce(0) { $0 + $1.size } }

    /// The digest of the file at `path`: a binary search, as the collector sorts files by path.
    func digest(at path: String) -> SHA256Digest? {
        let lo = files.lowerBound { LogicalPath.bytewiseLess($0.logicalPath, path) }
        return lo < files.count && files[lo].logicalPath == path ? digests[lo] : nil
    }
}

/// Phase 1 of a build: hashes every collected file, and notes which are compressed already.
enum InputHasher {
    /// Takes the list, leaving `collected` empty: a copy of it would be the build's largest cost.
    static func hash(taking collected: inout [CollectedFile]) throws -> HashedInputs {
        var files: [CollectedFile] = []
        swap(&files, &collected)
        let hashing = Progress("hashing", total: files.reduce(Int64(0)) { $0 + $1.size })
        var digests: [SHA256Digest] = []
        digests.reserveCapacity(files.count)
        for i in files.indices {
            // Image blobs were hashed as their tarball was read; the packer checks them again.
            if let known = files[i].digest {
                digests.append(known)
                hashing.advance(files[i].size)
                continue
            }
            let (digest, size, head) = try SHA256Stream.file(files[i].sourcePath, progress: hashing, keepingHead: Compression.headLength)
            guard size == files[i].size else { throw ToolError.environment("'\(files[i].sourcePath)' changed while the bundle was being built") }
            digests.append(digest)
            files[i].compressed = Compression.detect(head) != nil
        }
        hashing.finish()
        return HashedInputs(files: files, digests: digests)
    }
}
