import BundleFormat
import BundleVerify
import Support
import SystemIO

/// Writes a bundle's verified objects into a staging tree. A file whose bytes and mode the
/// current version already has is hard-linked from it (after re-hashing it) instead of written,
/// so retained versions share unchanged files on disk.
final class Stager: ObjectSink {
    let tree: String
    let index: BundleIndex
    private var filesByItem: [[Int]]
    /// Where the current version holds each content (nil: no version yet, nothing to share).
    private let current: CurrentVersion?
    private var madeDirectories: Set<String> = [""]

    // The object being received: small ones in memory, large ones in a scratch file.
    private static let memoryLimit: Int64 = 4 << 20
    private var buffer: [UInt8] = []
    private var scratch: FileDescriptor?
    private var scratchPath: String { tree + "/.incoming" }

    private(set) var linked = 0
    private(set) var written: Int64 = 0

    init(tree: String, index: BundleIndex, current: CurrentVersion?) {
        self.tree = tree
        self.index = index
        self.current = current
        filesByItem = Array(repeating: [], count: index.itemCount)
        for (i, f) in index.files.enumerated() {
            switch f.source {
            case .object(let o): filesByItem[o].append(i)
            case .patch(let k): filesByItem[index.number(of: .patch(k))].append(i)
            case .base: break  // carried over from the current version by `carryOver`
            }
        }
    }

    private func reusable(_ digest: SHA256Digest, mode: UInt32) -> String? {
        current?.pathByContent[CurrentVersion.Content(digest: digest, mode: mode)]
    }

    /// Links every file of the final tree that the bundle did not carry (unchanged files, and
    /// files a delta names by digest) from the current version, after checking each is intact.
    func carryOver(_ final: TreeListing) throws {
        let carried = Set(index.files.compactMap { f -> String? in
            if case .base = f.source { return nil }
            return f.path
        })
        for e in final.entries where !carried.contains(e.path) {
            let target = try place(e.path)
            if let existing = reusable(e.sha256, mode: e.mode), Stager.isIntact(existing, e.sha256),
               (try? FS.link(existing, target)) != nil {
                linked += 1
            } else if let other = current?.pathByDigest[e.sha256], Stager.isIntact(other, e.sha256) {
                try copy(other, to: target, mode: e.mode)  // same bytes under another mode
            } else {
                throw ToolError.refused("the current version is damaged: '\(e.path)' no longer has its signed bytes; run `mirrorctl verify`")
            }
        }
    }

    func begin(object: Int, size: Int64) throws {
        buffer.removeAll(keepingCapacity: true)
        if size > Stager.memoryLimit {
            try FS.remove(scratchPath)
            scratch = try FileDescriptor.create(scratchPath, mode: 0o600)
        } else {
            scratch = nil
        }
    }

    func write(_ bytes: UnsafeRawBufferPointer) throws {
        if let scratch { try scratch.write(bytes) } else { buffer.append(contentsOf: bytes) }
    }

    func end(object: Int, sha256: SHA256Digest) throws {
        try scratch?.close()
        defer { scratch = nil }
        var materialized: String?  // a staged path holding these bytes, for copies in another mode
        let files = filesByItem[object].map { index.files[$0] }
        for mode in Set(files.map(\.mode)).sorted() {
            let group = files.filter { $0.mode == mode }
            let first = try place(group[0].path)
            if let existing = reusable(sha256, mode: mode), Stager.isIntact(existing, sha256), (try? FS.link(existing, first)) != nil {
                linked += 1
            } else if let source = materialized {
                try copy(source, to: first, mode: mode)
            } else if scratch != nil {
                try FS.rename(scratchPath, first)
                try FS.chmod(first, UInt32(mode))
                written += index.itemSize(object)
            } else {
                let fd = try FileDescriptor.create(first, mode: UInt32(mode))
                try fd.write(buffer)
                try fd.close()
                try FS.chmod(first, UInt32(mode))  // exact mode, whatever the umask
                written += Int64(buffer.count)
            }
            materialized = first
            for other in group.dropFirst() {
                let path = try place(other.path)
                do {
                    try FS.link(first, path)
                } catch {
                    try copy(first, to: path, mode: mode)  // e.g. the file system's link limit
                }
            }
        }
        try? FS.remove(scratchPath)
    }

    /// A file of the current version may be shared only if it is still a plain file with the
    /// signed bytes: a link planted in the live tree must not be carried into the next version.
    static func isIntact(_ path: String, _ digest: SHA256Digest) -> Bool {
        guard let info = try? FS.info(path), info.kind == .regular else { return false }
        return (try? SHA256Stream.file(path).0) == digest
    }

    /// The staging path for a logical path, with its folders created.
    private func place(_ logical: String) throws -> String {
        var dir = ""
        for part in logical.split(separator: "/").dropLast() {
            dir = dir.isEmpty ? String(part) : dir + "/" + part
            if !madeDirectories.contains(dir) {
                try FS.makeDirectory(tree + "/" + dir)
                madeDirectories.insert(dir)
            }
        }
        return tree + "/" + logical
    }

    private func copy(_ from: String, to: String, mode: UInt32) throws {
        let input = try FileDescriptor.open(from)
        let out = try FileDescriptor.create(to, mode: mode)
        try input.forEachChunk { chunk in
            try out.write(chunk)
            written += Int64(chunk.count)
        }
        try out.close()
        try FS.chmod(to, mode)
    }
}
