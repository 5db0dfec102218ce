import Support
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// An owned file descriptor: closed exactly once, on `close()` or in `deinit`.
///
/// Every call on an open file is here, each turning a failed return into a ToolError that names
/// the path and carries the errno. The number itself stays inside this module.
public final class FileDescriptor {
    var descriptor: Int32
    public let path: String

    init(adopting descriptor: Int32, path: String) {
        self.descriptor = descriptor
        self.path = path
    }

    deinit { if descriptor >= 0 { _ = Glibc.close(descriptor) } }

    /// How a file is opened for reading and writing.
    public enum AccessMode: Sendable {
        case readOnly, writeOnly, readWrite
        var flags: Int32 {
            switch self {
            case .readOnly: O_RDONLY
            case .writeOnly: O_WRONLY
            case .readWrite: O_RDWR
            }
        }
    }

    /// What else `open` does: create, refuse an existing file, append, open only a directory.
    public struct OpenOptions: OptionSet, Sendable {
        public let rawValue: Int32
        public init(rawValue: Int32) { self.rawValue = rawValue }
        public static let create = OpenOptions(rawValue: O_CREAT)
        /// With `create`: fails if the file exists, so a stale or hostile file is never reused.
        public static let exclusive = OpenOptions(rawValue: O_EXCL)
        public static let append = OpenOptions(rawValue: O_APPEND)
        public static let directory = OpenOptions(rawValue: O_DIRECTORY)
        /// Refuses (ELOOP) a symbolic link in the final place instead of opening its target.
        public static let noFollow = OpenOptions(rawValue: O_NOFOLLOW)
    }

    /// The corresponding C function is `open` (always with `O_CLOEXEC`).
    public static func open(_ path: String, _ access: AccessMode = .readOnly, options: OpenOptions = [],
                            mode: UInt32 = 0o644) throws -> FileDescriptor {
        let fd = Glibc.open(path, access.flags | options.rawValue | O_CLOEXEC, mode_t(mode))
        guard fd >= 0 else { throw systemError("open", path) }
        return FileDescriptor(adopting: fd, path: path)
    }

    /// Creates a new file; fails if it exists, so a stale or hostile file is never reused.
    public static func create(_ path: String, mode: UInt32 = 0o644) throws -> FileDescriptor {
        try open(path, .writeOnly, options: [.create, .exclusive], mode: mode)
    }

    public func close() throws {
        guard descriptor >= 0 else { return }
        let r = Glibc.close(descriptor)
        descriptor = -1
        if r != 0 { throw systemError("close", path) }
    }

    /// Reads up to `buffer.count` bytes; 0 means end of file.
    public func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        while true {
            let n = Glibc.read(descriptor, buffer.baseAddress, buffer.count)
            if n >= 0 { return n }
            if errno == EINTR { continue }
            throw systemError("read", path)
        }
    }

    /// Reads the rest of the file in 1 MiB chunks, handing each to `body`: the one read loop that
    /// hashing and copying a file share. A chunk is valid only during its call.
    public func forEachChunk(_ body: (UnsafeRawBufferPointer) throws -> Void) throws {
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 1 << 20, alignment: 64)
        defer { buffer.deallocate() }
        while true {
            let n = try read(into: buffer)
            if n == 0 { return }
            try body(UnsafeRawBufferPointer(rebasing: buffer[..<n]))
        }
    }

    /// Fills the buffer unless the file ends first; returns the count read.
    public func readFully(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        var done = 0
        while done < buffer.count {
            let n = try read(into: UnsafeMutableRawBufferPointer(rebasing: buffer[done...]))
            if n == 0 { break }
            done += n
        }
        return done
    }

    /// Writes every byte or throws; short writes are retried.
    public func write(_ bytes: UnsafeRawBufferPointer) throws {
        var done = 0
        while done < bytes.count {
            let n = Glibc.write(descriptor, bytes.baseAddress! + done, bytes.count - done)
            if n < 0 {
                if errno == EINTR { continue }
                throw systemError("write", path)
            }
            done += n
        }
    }

    public func write(_ bytes: [UInt8]) throws {
        try bytes.withUnsafeBytes { try write($0) }
    }

    /// Data and metadata on the device. The corresponding C function is `fsync`.
    public func sync() throws {
        if fsync(descriptor) != 0 { throw systemError("sync", path) }
    }

    /// The data on the device, and only the metadata needed to read it back (not the times):
    /// cheaper than `sync()` for a file rewritten in place. The corresponding C function is `fdatasync`.
    public func syncData() throws {
        if fdatasync(descriptor) != 0 { throw systemError("sync", path) }
    }

    public func size() throws -> Int64 { try status().size }

    /// What the open file is: its kind, mode, owner, device and inode (not what its path names
    /// now). The corresponding C function is `fstat`.
    public func status() throws -> FileInfo {
        var st = stat()
        if fstat(descriptor, &st) != 0 { throw systemError("stat", path) }
        return FileInfo(st)
    }

    /// Sets the file's permission bits exactly. The corresponding C function is `fchmod`.
    public func setMode(_ mode: UInt32) throws {
        if fchmod(descriptor, mode_t(mode)) != 0 { throw systemError("set mode of", path) }
    }

    public func seek(to offset: Int64) throws {
        if lseek(descriptor, off_t(offset), SEEK_SET) < 0 { throw systemError("seek in", path) }
    }

    /// Cuts (or extends with zeros) the file to `size` bytes. The corresponding C function is `ftruncate`.
    public func truncate(to size: Int64) throws {
        if ftruncate(descriptor, off_t(size)) != 0 { throw systemError("truncate", path) }
    }

    /// Sets the file's size and reserves its blocks, so a full disk shows now, not halfway. A file
    /// system that cannot reserve (no `fallocate`) only gets the size.
    /// The corresponding C functions are `ftruncate` and `posix_fallocate`.
    public func preallocate(_ size: Int64) throws {
        if ftruncate(descriptor, off_t(size)) != 0 { throw systemError("set the size of", path) }
        let r = posix_fallocate(descriptor, 0, off_t(size))
        if r != 0 && r != EOPNOTSUPP && r != EINVAL { throw systemError("reserve \(Format.grouped(size)) bytes for", path, errno: r) }
    }

    /// Hands the descriptor number to a C library that reads or writes it itself (libarchive's
    /// `archive_read_open_fd`). The number is valid while this object is alive and not closed.
    public func withUnsafeDescriptor<T>(_ body: (Int32) throws -> T) rethrows -> T {
        try body(descriptor)
    }
}
