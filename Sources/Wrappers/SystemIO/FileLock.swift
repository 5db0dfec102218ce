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
    public static func acquire(_ path: String, mode: UInt32 = 0o644) throws -> FileLock? {
        let fd = try FileDescriptor.open(path, .readWrite, options: [.create], mode: mode)
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
