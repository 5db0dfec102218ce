import Support
#if canImport(Glibc)
import Glibc
#endif

extension FileDescriptor {
    /// Reads at an offset without moving the file position. An I/O error is reported as damage
    /// (a refusal): on removable media it almost always is. The corresponding C function is `pread`.
    public func read(into buffer: UnsafeMutableRawBufferPointer, fromOffset offset: Int64) throws -> Int {
        while true {
            let n = pread(descriptor, buffer.baseAddress, buffer.count, off_t(offset))
            if n >= 0 { return n }
            if errno == EINTR { continue }
            if errno == EIO {
                throw ToolError(.refused, "cannot read '\(path)' at byte \(offset): input/output error (damaged medium?)", cause: .inputOutput)
            }
            throw systemError("read", path)
        }
    }

    /// Fills the buffer from `offset` unless the file ends first; returns the count read.
    public func readFully(into buffer: UnsafeMutableRawBufferPointer, fromOffset offset: Int64) throws -> Int {
        var done = 0
        while done < buffer.count {
            let n = try read(into: UnsafeMutableRawBufferPointer(rebasing: buffer[done...]), fromOffset: offset + Int64(done))
            if n == 0 { break }
            done += n
        }
        return done
    }

    /// Writes every byte at `offset`. The corresponding C function is `pwrite`.
    public func write(_ bytes: UnsafeRawBufferPointer, toOffset offset: Int64) throws {
        var done = 0
        while done < bytes.count {
            let n = pwrite(descriptor, bytes.baseAddress! + done, bytes.count - done, off_t(offset) + off_t(done))
            if n < 0 {
                if errno == EINTR { continue }
                throw systemError("write", path)
            }
            done += n
        }
    }
}

extension FileDescriptor {
    /// A new file opened for O_DIRECT writes (straight to the device, like `dd oflag=direct`), or
    /// nil where the file system refuses them (tmpfs): then create the file with `create`.
    /// O_DIRECT needs buffers, offsets and lengths in whole blocks (4 KiB is safe).
    public static func createDirect(_ path: String, mode: UInt32 = 0o644) throws -> FileDescriptor? {
        let fd = Glibc.open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | __O_DIRECT, mode_t(mode))
        if fd >= 0 { return FileDescriptor(adopting: fd, path: path) }
        guard errno == EINVAL else { throw systemError("create", path) }
        return nil
    }

    /// Turns O_DIRECT off (for a last, unaligned write) or on. The corresponding C function is `fcntl`.
    public func setDirectIO(_ on: Bool) throws {
        let flags = fcntl(descriptor, F_GETFL)
        guard flags >= 0, fcntl(descriptor, F_SETFL, on ? flags | __O_DIRECT : flags & ~__O_DIRECT) == 0 else {
            throw systemError("change the write mode of", path)
        }
    }
}
