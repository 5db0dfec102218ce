#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The text of an errno value, for messages.
public func errnoText(_ code: Int32) -> String {
    String(cString: strerror(code))
}

/// Maps a failed system call on a path to a ToolError with the right exit status.
public func systemError(_ what: String, _ path: String, errno code: Int32 = errno) -> ToolError {
    let reason = code == ENOSPC ? "no space left on device" : errnoText(code)
    return ToolError.environment("cannot \(what) '\(path)': \(reason)")
}

/// An owned file descriptor: closed exactly once, on `close()` or in `deinit`.
public final class FileDescriptor {
    public private(set) var raw: Int32
    public let path: String

    public init(adopting raw: Int32, path: String) {
        self.raw = raw
        self.path = path
    }

    deinit { if raw >= 0 { _ = Glibc.close(raw) } }

    public static func open(_ path: String, flags: Int32 = O_RDONLY, mode: mode_t = 0o644) throws -> FileDescriptor {
        let fd = Glibc.open(path, flags | O_CLOEXEC, mode)
        guard fd >= 0 else { throw systemError("open", path) }
        return FileDescriptor(adopting: fd, path: path)
    }

    /// Creates a new file; fails if it exists, so a stale or hostile file is never reused.
    public static func create(_ path: String, mode: mode_t = 0o644) throws -> FileDescriptor {
        try open(path, flags: O_WRONLY | O_CREAT | O_EXCL, mode: mode)
    }

    public func close() throws {
        guard raw >= 0 else { return }
        let r = Glibc.close(raw)
        raw = -1
        if r != 0 { throw systemError("close", path) }
    }

    /// Reads up to `buffer.count` bytes; 0 means end of file.
    public func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        while true {
            let n = Glibc.read(raw, buffer.baseAddress, buffer.count)
            if n >= 0 { return n }
            if errno == EINTR { continue }
            throw systemError("read", path)
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
            let n = Glibc.write(raw, bytes.baseAddress! + done, bytes.count - done)
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

    public func sync() throws {
        if fsync(raw) != 0 { throw systemError("sync", path) }
    }

    public func size() throws -> Int64 {
        var st = stat()
        if fstat(raw, &st) != 0 { throw systemError("stat", path) }
        return Int64(st.st_size)
    }

    public func seek(to offset: Int64) throws {
        if lseek(raw, off_t(offset), SEEK_SET) < 0 { throw systemError("seek in", path) }
    }
}
