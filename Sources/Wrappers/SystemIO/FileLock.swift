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

/// The running process: its id, environment and exit.
public enum CurrentProcess {
    /// The corresponding C function is `getpid`.
    public static var id: Int32 { getpid() }

    /// An environment variable's value, or nil when unset. The corresponding C function is `getenv`.
    public static func environment(_ name: String) -> String? {
        getenv(name).map { String(cString: $0) }
    }

    /// Sets (or with nil, removes) an environment variable, for C libraries that read one.
    public static func setEnvironment(_ name: String, _ value: String?) {
        if let value { setenv(name, value, 1) } else { unsetenv(name) }
    }

    /// Processors online now. The corresponding C function is `sysconf(_SC_NPROCESSORS_ONLN)`.
    public static var processorCount: Int { max(1, sysconf(Int32(_SC_NPROCESSORS_ONLN))) }

    /// Ends the process with `status`. The corresponding C function is `exit`.
    public static func exit(_ status: Int32) -> Never { Glibc.exit(status) }
}

extension Timestamp {
    /// Seconds since 1970 now, from the system's clock. The corresponding C function is `time`.
    public static func now() -> Int64 { Int64(time(nil)) }
}
