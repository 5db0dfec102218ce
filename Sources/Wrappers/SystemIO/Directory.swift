import Support
#if canImport(Glibc)
import Glibc
#endif

/// An open directory, for calls relative to it: a name inside it is resolved from the handle,
/// not from a path that could be replaced between two calls, and a tree of many files is
/// written without resolving its whole path for each one.
///
/// Only the path given to `init` may pass through symbolic links (the admin's choice of where a
/// folder lives); every name below it is opened, created, inspected and removed without
/// following a link (`O_NOFOLLOW`, `AT_SYMLINK_NOFOLLOW`), so a link planted inside is never
/// a way out. The corresponding C functions are `openat`, `mkdirat`, `fstatat`, `unlinkat`,
/// `readlinkat` and `linkat`.
public final class Directory {
    private let fd: FileDescriptor
    public var path: String { fd.path }

    public init(_ path: String) throws {
        fd = try FileDescriptor.open(path, options: .directory)
    }

    private init(adopting fd: FileDescriptor) { self.fd = fd }

    /// Opens (or with `.create`, creates) the file `name` in this directory; a link there is refused.
    public func open(_ name: String, _ access: FileDescriptor.AccessMode = .readOnly,
                     options: FileDescriptor.OpenOptions = [], mode: UInt32 = 0o644) throws -> FileDescriptor {
        let full = path + "/" + name
        let n = openat(fd.descriptor, name, access.flags | options.rawValue | O_NOFOLLOW | O_CLOEXEC, mode_t(mode))
        guard n >= 0 else { throw systemError("open", full) }
        return FileDescriptor(adopting: n, path: full)
    }

    /// Creates the directory `name` here with exactly `mode`, whatever the umask; one that exists
    /// already is fine and left as it is, as with `FS.makeDirectory`.
    public func makeDirectory(_ name: String, mode: UInt32 = 0o755) throws {
        if mkdirat(fd.descriptor, name, mode_t(mode)) != 0 {
            if errno == EEXIST { return }
            throw systemError("create directory", path + "/" + name)
        }
        try open(name, options: .directory).setMode(mode)
    }

    /// Opens the directory `name` inside this one; a link there is refused (ELOOP), not followed.
    public func directory(_ name: String) throws -> Directory {
        Directory(adopting: try open(name, options: .directory))
    }

    /// What `name` here is, without following a link; nil when there is nothing by that name.
    public func info(_ name: String) throws -> FileInfo? {
        var st = stat()
        if fstatat(fd.descriptor, name, &st, AT_SYMLINK_NOFOLLOW) != 0 {
            if errno == ENOENT { return nil }
            throw systemError("inspect", path + "/" + name)
        }
        return FileInfo(st)
    }

    /// What this directory itself is (the one opened, whatever its path names now).
    public func status() throws -> FileInfo { try fd.status() }

    /// The names in this directory, sorted by their bytes, as `FS.list` gives them.
    public func list() throws -> [String] {
        let copy = dup(fd.descriptor)
        guard copy >= 0, let dir = fdopendir(copy) else {
            if copy >= 0 { _ = Glibc.close(copy) }
            throw systemError("list", path)
        }
        defer { closedir(dir) }
        return FS.names(in: dir)
    }

    /// The target of the symbolic link `name`; nil when `name` is missing or not a link.
    public func readLink(_ name: String) throws -> String? {
        var buf = [CChar](repeating: 0, count: 4096)
        let n = readlinkat(fd.descriptor, name, &buf, buf.count - 1)
        if n < 0 {
            if errno == ENOENT || errno == EINVAL { return nil }
            throw systemError("read link", path + "/" + name)
        }
        return String(decoding: buf[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// Removes `name` (a file or a link, never what a link points at) or everything below the
    /// folder `name` and the folder; nothing there is fine.
    public func removeTree(_ name: String) throws {
        guard let info = try info(name) else { return }
        if info.kind == .directory {
            let sub = try directory(name)
            for entry in try sub.list() { try sub.removeTree(entry) }
            if unlinkat(fd.descriptor, name, AT_REMOVEDIR) != 0 && errno != ENOENT { throw systemError("remove directory", path + "/" + name) }
        } else if unlinkat(fd.descriptor, name, 0) != 0 && errno != ENOENT {
            throw systemError("remove", path + "/" + name)
        }
    }

    /// Makes `newName` in `other` a second name for the file `name` here.
    public func link(_ name: String, into other: Directory, as newName: String) throws {
        if linkat(fd.descriptor, name, other.fd.descriptor, newName, 0) != 0 {
            throw systemError("hard-link '\(path)/\(name)' as", other.path + "/" + newName)
        }
    }

    /// Makes the names in this directory (creations, renames, links) durable.
    public func sync() throws { try fd.sync() }
}
