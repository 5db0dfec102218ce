import Support
#if canImport(Glibc)
import Glibc
#endif
internal import CSystem

/// What a path is, without following a final symbolic link.
public enum FileKind: Sendable, Equatable {
    case regular, directory, symlink, other
}

public struct FileInfo: Sendable {
    public var kind: FileKind
    public var size: Int64
    public var mode: UInt32
    public var device: UInt64
    public var inode: UInt64
    public var links: UInt64
    /// The owning user id.
    public var owner: UInt32
    /// Last modification and last status change, in nanoseconds since 1970. A write changes
    /// both; only the second cannot be set back by anyone (`utimensat` sets it to now).
    public var modified: Int64
    public var changed: Int64

    init(_ st: stat) {
        switch st.st_mode & S_IFMT {
        case S_IFREG: kind = .regular
        case S_IFDIR: kind = .directory
        case S_IFLNK: kind = .symlink
        default: kind = .other
        }
        size = Int64(st.st_size)
        mode = UInt32(st.st_mode & 0o7777)
        device = UInt64(st.st_dev)
        inode = UInt64(st.st_ino)
        links = UInt64(st.st_nlink)
        owner = UInt32(st.st_uid)
        modified = Int64(st.st_mtim.tv_sec) &* 1_000_000_000 &+ Int64(st.st_mtim.tv_nsec)
        changed = Int64(st.st_ctim.tv_sec) &* 1_000_000_000 &+ Int64(st.st_ctim.tv_nsec)
    }

    /// The same file: device and inode are equal.
    public func isSameFile(as other: FileInfo) -> Bool { device == other.device && inode == other.inode }

    /// Whether a user other than the owner (a group member or anyone) may write it.
    public var isWritableByOthers: Bool { mode & 0o022 != 0 }
}

/// Small, explicit file-system operations that say which path failed and why.
public enum FS {
    public static func info(_ path: String) throws -> FileInfo? {
        var st = stat()
        if lstat(path, &st) != 0 {
            if errno == ENOENT { return nil }
            throw systemError("inspect", path)
        }
        return FileInfo(st)
    }

    /// Entries of a directory, sorted by their bytes so every walk is in the same order.
    public static func list(_ path: String) throws -> [String] {
        guard let dir = opendir(path) else { throw systemError("list", path) }
        defer { closedir(dir) }
        return names(in: dir)
    }

    /// The entries an open directory stream gives, but "." and "..", sorted by their bytes.
    static func names(in dir: OpaquePointer) -> [String] {
        var names: [String] = []
        // The name is read where it is, up to its NUL: a record is only `d_reclen` bytes, often
        // fewer than `struct dirent`, so copying the struct (`ent.pointee`) can read past the end
        // of glibc's buffer, which crashed release builds listing folders of ~1,000 files.
        let nameOffset = MemoryLayout<dirent>.offset(of: \dirent.d_name)!
        while let ent = readdir(dir) {
            let name = String(cString: (UnsafeRawPointer(ent) + nameOffset).assumingMemoryBound(to: CChar.self))
            if name == "." || name == ".." { continue }
            names.append(name)
        }
        return names.sorted { Array($0.utf8).lexicographicallyPrecedes(Array($1.utf8)) }
    }

    /// Creates a directory with exactly `mode`, whatever the umask; one that exists already is
    /// fine and left as it is. The corresponding C functions are `mkdir` and `fchmod`.
    public static func makeDirectory(_ path: String, mode: UInt32 = 0o755) throws {
        if mkdir(path, mode_t(mode)) != 0 {
            if errno == EEXIST { return }
            throw systemError("create directory", path)
        }
        let made = try FileDescriptor.open(path, options: [.directory, .noFollow])
        try made.setMode(mode)
    }

    /// Creates a directory and its missing parents.
    public static func makeDirectories(_ path: String, mode: UInt32 = 0o755) throws {
        var prefix = path.hasPrefix("/") ? "" : "."
        for part in path.split(separator: "/") {
            prefix += "/" + part
            if mkdir(prefix, mode_t(mode)) != 0 && errno != EEXIST { throw systemError("create directory", prefix) }
        }
    }

    public static func rename(_ from: String, _ to: String) throws {
        if Glibc.rename(from, to) != 0 { throw systemError("rename '\(from)' to", to) }
    }

    /// Swaps two names in one step (`renameat2` with RENAME_EXCHANGE): a reader of either name
    /// sees the old entry or the new one, never neither. Returns false, changing nothing, where
    /// the file system cannot exchange (EINVAL); the caller then renames in two steps.
    public static func exchange(_ a: String, _ b: String) throws -> Bool {
        let renameExchange: UInt32 = 1 << 1  // RENAME_EXCHANGE in <linux/fs.h>
        if renameat2(AT_FDCWD, a, AT_FDCWD, b, renameExchange) == 0 { return true }
        if errno == EINVAL { return false }
        throw systemError("exchange '\(a)' with", b)
    }

    public static func link(_ existing: String, _ new: String) throws {
        if Glibc.link(existing, new) != 0 { throw systemError("hard-link '\(existing)' as", new) }
    }

    /// Makes `new` a second name of the file open as `file`, which `existing` names: only if
    /// `existing` is still that file right before the link and `new` is that file right after,
    /// so a file swapped in after it was opened (and checked) is never linked. Returns false,
    /// with `new` removed, when the name no longer holds it. `linkat` does not follow a link.
    public static func link(_ file: FileDescriptor, named existing: String, as new: String) throws -> Bool {
        let opened = try file.status()
        guard let before = try info(existing), before.isSameFile(as: opened) else { return false }
        try link(existing, new)
        guard let after = try info(new), after.isSameFile(as: opened) else {
            try remove(new)
            return false
        }
        return true
    }

    public static func symlink(target: String, at path: String) throws {
        if Glibc.symlink(target, path) != 0 { throw systemError("create symbolic link", path) }
    }

    /// The path with every link resolved. The corresponding C function is `realpath`.
    public static func resolve(_ path: String) throws -> String {
        guard let p = realpath(path, nil) else { throw systemError("resolve", path) }
        defer { free(p) }
        return String(cString: p)
    }

    public static func readLink(_ path: String) throws -> String? {
        var buf = [CChar](repeating: 0, count: 4096)
        let n = readlink(path, &buf, buf.count - 1)
        if n < 0 {
            if errno == ENOENT || errno == EINVAL { return nil }
            throw systemError("read link", path)
        }
        return String(decoding: buf[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    public static func remove(_ path: String) throws {
        if unlink(path) != 0 && errno != ENOENT { throw systemError("remove", path) }
    }

    public static func chmod(_ path: String, _ mode: UInt32) throws {
        if Glibc.chmod(path, mode_t(mode)) != 0 { throw systemError("set mode of", path) }
    }

    /// Removes an empty directory; one that is gone already is fine. The corresponding C function is `rmdir`.
    public static func removeDirectory(_ path: String) throws {
        if rmdir(path) != 0 && errno != ENOENT { throw systemError("remove directory", path) }
    }

    /// Removes a tree without following symbolic links out of it.
    public static func removeTree(_ path: String) throws {
        guard let info = try info(path) else { return }
        if info.kind == .directory {
            for name in try list(path) { try removeTree(path + "/" + name) }
            try removeDirectory(path)
        } else {
            try remove(path)
        }
    }

    /// fsync on a directory makes the names in it (renames, links) durable.
    public static func syncDirectory(_ path: String) throws {
        let fd = try FileDescriptor.open(path, options: .directory)
        try fd.sync()
    }

    /// Flushes the whole file system that holds `path`: one call instead of one fsync per file.
    public static func syncFileSystem(containing path: String) throws {
        let fd = try FileDescriptor.open(path, options: .directory)
        if syncfs(fd.descriptor) != 0 { throw systemError("sync the file system of", path) }
    }

    /// Writes a small file so that readers see the old or the new content, never a mix.
    public static func writeAtomically(_ path: String, _ bytes: [UInt8], mode: UInt32 = 0o644) throws {
        let tmp = path + ".tmp-\(getpid())"
        try? remove(tmp)
        let fd = try FileDescriptor.create(tmp, mode: mode)
        do {
            try fd.write(bytes)
            try fd.sync()
            try fd.close()
            try rename(tmp, path)
        } catch {
            try? remove(tmp)
            throw error
        }
        try syncDirectory(parent(of: path))
    }

    /// Reads a whole file, refusing one larger than `limit` (files named on a command line can be anything).
    /// With `followingLinks: false`, a symbolic link in the final place is refused (ELOOP), not read through.
    public static func readFile(_ path: String, limit: Int = 64 << 20, followingLinks: Bool = true) throws -> [UInt8] {
        let fd = try FileDescriptor.open(path, options: followingLinks ? [] : .noFollow)
        let size = try fd.size()
        guard size <= limit else {
            throw ToolError.usage("'\(path)' is \(size) bytes; at most \(limit) are expected here")
        }
        var out = [UInt8](repeating: 0, count: Int(size))
        let n = try out.withUnsafeMutableBytes { try fd.readFully(into: $0) }
        out.removeSubrange(n...)
        return out
    }

    public static func parent(of path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return "." }
        let p = String(path[..<slash])
        return p.isEmpty ? "/" : p
    }

    public static func baseName(_ path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return path }
        return String(path[path.index(after: slash)...])
    }

    public static func absolute(_ path: String) -> String {
        if path.hasPrefix("/") { return path }
        var buf = [CChar](repeating: 0, count: 4096)
        guard getcwd(&buf, buf.count) != nil else { return path }
        let cwd = String(decoding: buf.prefix(while: { $0 != 0 }).map { UInt8(bitPattern: $0) }, as: UTF8.self)
        return path == "." ? cwd : cwd + "/" + path
    }

    /// Free bytes for an unprivileged writer on the file system holding `path`.
    public static func freeBytes(at path: String) -> Int64? {
        var s = statvfs()
        guard statvfs(path, &s) == 0 else { return nil }
        return Int64(s.f_bavail) * Int64(s.f_frsize)
    }
}
