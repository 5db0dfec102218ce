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
    /// Files handed to a hashing thread at a time: enough that taking the next batch costs
    /// nothing next to hashing it, few enough that the cores finish together.
    static let batch = 64

    /// Takes the list, leaving `collected` empty: a copy of it would be the build's largest cost.
    /// Files are hashed on every core (their digests do not depend on the order).
    static func hash(taking collected: inout [CollectedFile]) throws -> HashedInputs {
        var files: [CollectedFile] = []
        swap(&files, &collected)
        let hashing = Progress("hashing", total: files.reduce(Int64(0)) { $0 + $1.size })
        var digests = [SHA256Digest](repeating: SHA256Digest.of([]), count: files.count)
        try files.withUnsafeMutableBufferPointer { f in
            try digests.withUnsafeMutableBufferPointer { d in
                let shared = Shared(files: f, digests: d)
                try concurrentForEach((f.count + batch - 1) / batch, workers: CurrentProcess.processorCount, what: "a hashing thread") { b in
                    for i in (b * batch)..<min(shared.files.count, (b + 1) * batch) { try shared.hash(i, progress: hashing) }
                }
            }
        }
        hashing.finish()
        return HashedInputs(files: files, digests: digests)
    }
}

/// The file list and the digests, shared with the hashing threads while `hash` holds both:
/// index i of each is written by the one thread that hashes file i.
private struct Shared: @unchecked Sendable {
    let files: UnsafeMutableBufferPointer<CollectedFile>
    let digests: UnsafeMutableBufferPointer<SHA256Digest>

    /// Hashes file `i`, noting whether it is compressed already.
    func hash(_ i: Int, progress: Progress) throws {
        // Image blobs were hashed as their tarball was read; the packer checks them again.
        if let known = files[i].digest {
            digests[i] = known
            progress.advance(files[i].size)
            return
        }
        let (digest, size, head) = try SHA256Stream.file(files[i].sourcePath, progress: progress, keepingHead: Compression.headLength)
        guard size == files[i].size else { throw ToolError.environment("'\(files[i].sourcePath)' changed while the bundle was being built") }
        digests[i] = digest
        files[i].compressed = Compression.detect(head) != nil
    }
}
