import Support
#if canImport(Glibc)
import Glibc
#endif

/// An exclusive lock on a file, held for the life of the object: closing its descriptor in
/// `deinit` releases it, and the kernel drops it if the process dies, so a crash never leaves a
/// stale lock. Two descriptors exclude each other even in one process.
/// The corresponding C function is `flock(LOCK_EX | LOCK_NB)`.
public final class FileLock {
    private let fd: FileDescriptor
    public var path: String { fd.path }

    private init(_ fd: FileDescriptor) { self.fd = fd }

    /// Takes the lock on `path` (created if missing) without waiting; nil when someone else holds it.
    /// A symbolic link there is refused, never opened (its target would be truncated by `record`).
    public static func acquire(_ path: String, mode: UInt32 = 0o644) throws -> FileLock? {
        let fd = try FileDescriptor.open(path, .readWrite, options: [.create, .noFollow], mode: mode)
        return try lock(fd)
    }

    /// The same for `name` in `directory`.
    public static func acquire(_ name: String, in directory: Directory, mode: UInt32 = 0o644) throws -> FileLock? {
        try lock(directory.open(name, .readWrite, options: [.create], mode: mode))
    }

    private static func lock(_ fd: FileDescriptor) throws -> FileLock? {
        guard try fd.status().kind == .regular else { throw ToolError.environment("'\(fd.path)' is not a plain file; it cannot be a lock") }
        // Any failure means "not ours": the callers' message says who holds it, if it can.
        guard flock(fd.descriptor, LOCK_EX | LOCK_NB) == 0 else { return nil }
        return FileLock(fd)
    }

    /// Replaces the lock file's text (the holder's process id), for the message of whoever finds
    /// it locked. Best effort: the lock holds whether or not this is written.
    public func record(_ text: String) {
        _ = ftruncate(fd.descriptor, 0)
        try? fd.write(Array(text.utf8))
    }
}
