import BundleFormat
import BundleVerify
import Support
import SystemIO

/// Writes a bundle's verified objects into a staging tree. A file whose bytes and mode the
/// current version already has is hard-linked from it (after re-hashing it and checking its real
/// mode through the descriptor, and that the name still holds that file) instead of written,
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
        current?.path(holding: digest, mode: mode)
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
            if try linkShared(e.sha256, mode: e.mode, to: target) {
                linked += 1
            } else if try !copyIntact(e.sha256, to: target, mode: e.mode) {  // the same bytes, under another mode or changed mode
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
            if try linkShared(sha256, mode: mode, to: first) {
                linked += 1
            } else if let source = materialized {
                try copy(source, to: first, mode: mode)
            } else if scratch != nil {
                try FS.rename(scratchPath, first)
                try FS.chmod(first, StoredMode.of(UInt32(mode)))
                written += index.itemSize(object)
            } else {
                let fd = try FileDescriptor.create(first, mode: StoredMode.of(UInt32(mode)))
                try fd.write(buffer)
                try fd.close()
                try FS.chmod(first, StoredMode.of(UInt32(mode)))  // exact mode, whatever the umask
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

    /// The current version's file at `path`, opened without following a link, if it is a plain
    /// file with the signed bytes and, when `mode` is given, exactly that mode as stored
    /// (`StoredMode`): a link planted, a file chmod-ed (0666, setuid) or altered in the live tree
    /// is never carried into the next version. The bytes are known without reading them when
    /// the file is exactly as stamped (`FileStamps`), or is a file this run already hashed and
    /// has since only linked; else they are hashed through this descriptor.
    func openIntact(_ path: String, _ digest: SHA256Digest, mode: UInt32?) -> FileDescriptor? {
        guard let fd = try? FileDescriptor.open(path, options: .noFollow), let info = try? fd.status(), info.kind == .regular,
              mode.map({ StoredMode.matches(info.mode, listed: $0) }) ?? true else { return nil }
        let key = Inode(device: info.device, inode: info.inode)
        if current?.stamps.stamp(at: path)?.holds(info) == true || hashedHere[key] == Stamp(size: info.size, modified: info.modified) {
            hashedHere[key] = Stamp(size: info.size, modified: info.modified)
            return fd
        }
        var stream = SHA256Stream()
        guard (try? fd.forEachChunk { stream.update($0) }) != nil, stream.finalize() == digest else { return nil }
        hashedHere[key] = Stamp(size: info.size, modified: info.modified)
        return fd
    }

    /// Files of the current version this run hashed: linking one changes its change time, so its
    /// stamp no longer holds, but its size and modification time still say it was not written.
    private struct Inode: Hashable { var device: UInt64, inode: UInt64 }
    private struct Stamp: Equatable { var size: Int64, modified: Int64 }
    private var hashedHere: [Inode: Stamp] = [:]

    /// Links `target` to the current version's file holding (digest, mode), if it is intact and
    /// is still, when linked, the very file that was checked (same device and inode). A file a
    /// mirror made before `StoredMode` loses its write bits here, through the checked descriptor.
    private func linkShared(_ digest: SHA256Digest, mode: UInt32, to target: String) throws -> Bool {
        guard let existing = reusable(digest, mode: mode), let fd = openIntact(existing, digest, mode: mode),
              (try? FS.link(fd, named: existing, as: target)) == true else { return false }
        let stored = StoredMode.of(mode)
        if (try? fd.status().mode) == mode { try? fd.setMode(stored) }
        // A chmod between the check and the link would be shared with the new version: not then.
        guard (try? fd.status().mode) == stored else {
            try FS.remove(target)
            return false
        }
        return true
    }

    /// Copies the current version's file holding `digest` into `target` in `mode`, hashing what
    /// passes through the one descriptor; false (and no `target`) unless it was the signed bytes.
    private func copyIntact(_ digest: SHA256Digest, to target: String, mode: UInt32) throws -> Bool {
        guard let other = current?.path(holding: digest), let input = try? FileDescriptor.open(other, options: .noFollow),
              (try? input.status().kind) == .regular else { return false }
        var stream = SHA256Stream()
        try copy(input, to: target, mode: mode) { stream.update($0) }
        guard stream.finalize() == digest else {
            try FS.remove(target)
            return false
        }
        return true
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
        try copy(FileDescriptor.open(from, options: .noFollow), to: to, mode: mode)
    }

    private func copy(_ input: FileDescriptor, to: String, mode: UInt32, observe: (UnsafeRawBufferPointer) -> Void = { _ in }) throws {
        let out = try FileDescriptor.create(to, mode: StoredMode.of(mode))
        try input.forEachChunk { chunk in
            observe(chunk)
            try out.write(chunk)
            written += Int64(chunk.count)
        }
        try out.close()
        try FS.chmod(to, StoredMode.of(mode))
    }
}
