import Support
#if canImport(Glibc)
import Glibc
#endif

/// Reads and writes at an offset, as volumes are read (any order, several threads' worth of
/// offsets) and labels are written after their payload.
extension FileDescriptor {
    /// Reads at an offset without moving the file position. An I/O error is reported as damage
    /// (a refusal): on removable media it almost always is. The corresponding C function is `pread`.
    public func read(into buffer: UnsafeMutableRawBufferPointer, fromOffset offset: Int64) throws -> Int {
        while true {
            let n = PositionalCalls.pread(self, buffer, offset)
            if n >= 0 { return n }
            if errno == EINTR { continue }
            if errno == EIO { throw ToolError.refused("cannot read '\(path)' at byte \(offset): input/output error (damaged medium?)") }
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
            let n = PositionalCalls.pwrite(self, UnsafeRawBufferPointer(rebasing: bytes[done...]), offset + Int64(done))
            if n < 0 {
                if errno == EINTR { continue }
                throw systemError("write", path)
            }
            done += n
        }
    }
}

/// The libc calls of this file, in one place for the SystemIO module to take over.
private enum PositionalCalls {
    static func pread(_ fd: FileDescriptor, _ buffer: UnsafeMutableRawBufferPointer, _ offset: Int64) -> Int {
        Glibc.pread(fd.raw, buffer.baseAddress, buffer.count, off_t(offset))
    }

    static func pwrite(_ fd: FileDescriptor, _ bytes: UnsafeRawBufferPointer, _ offset: Int64) -> Int {
        Glibc.pwrite(fd.raw, bytes.baseAddress, bytes.count, off_t(offset))
    }
}
