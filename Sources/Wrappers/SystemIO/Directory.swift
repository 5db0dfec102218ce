import Support
#if canImport(Glibc)
import Glibc
#endif

/// An open directory, for calls relative to it: a name inside it is resolved from the handle,
/// not from a path that could be replaced between two calls, and a tree of many files is
/// written without resolving its whole path for each one.
/// The corresponding C functions are `openat`, `mkdirat` and `linkat`.
public final class Directory {
    private let fd: FileDescriptor
    public var path: String { fd.path }

    public init(_ path: String) throws {
        fd = try FileDescriptor.open(path, options: .directory)
    }

    /// Opens (or with `.create`, creates) the file `name` in this directory.
    public func open(_ name: String, _ access: FileDescriptor.AccessMode = .readOnly,
                     options: FileDescriptor.OpenOptions = [], mode: UInt32 = 0o644) throws -> FileDescriptor {
        let full = path + "/" + name
        let n = openat(fd.descriptor, name, access.flags | options.rawValue | O_CLOEXEC, mode_t(mode))
        guard n >= 0 else { throw systemError("open", full) }
        return FileDescriptor(adopting: n, path: full)
    }

    /// Creates the directory `name` here; one that exists already is fine, as with `FS.makeDirectory`.
    public func makeDirectory(_ name: String, mode: UInt32 = 0o755) throws {
        if mkdirat(fd.descriptor, name, mode_t(mode)) != 0 && errno != EEXIST {
            throw systemError("create directory", path + "/" + name)
        }
    }

    /// Opens the directory `name` inside this one.
    public func directory(_ name: String) throws -> Directory {
        try Directory(path + "/" + name)
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
