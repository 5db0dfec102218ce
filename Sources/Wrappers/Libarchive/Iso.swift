internal import CArchive
import Support
import SystemIO

/// Writes an ISO 9660 image with Rock Ridge and Joliet names (so Linux, macOS and Windows show
/// the real file names), handing the image's bytes, in order, to `output`.
///
/// libarchive puts the directory first and so keeps every file's data in a temporary file until
/// `finish()`; that file is made in `TMPDIR`, which `temporaryDirectory` sets for the duration
/// (give the destination, so a 25 GB image does not fill /tmp). The corresponding C functions
/// are `archive_write_set_format_iso9660` and `archive_write_*`.
public final class IsoWriter {
    /// Where the image bytes go, and the first error the sink threw.
    private final class Output {
        let sink: (UnsafeRawBufferPointer) throws -> Void
        var count: Int64 = 0
        var error: ToolError?
        init(_ sink: @escaping (UnsafeRawBufferPointer) throws -> Void) { self.sink = sink }
    }

    private let a: OpaquePointer
    private let output: Output
    private let name: String
    private let temporaryDirectory: String
    private var finished = false

    /// - Parameters:
    ///   - volumeID: the disc's label, as shown when mounted (at most 32 characters A-Z 0-9 _).
    ///   - largeFiles: a file of 4 GiB or more needs ISO level 3 (several extents).
    ///   - name: the image, as errors name it.
    ///   - output: takes the image's bytes in blocks of 1 MiB (the last may be shorter).
    public init(name: String, volumeID: String, largeFiles: Bool, temporaryDirectory: String,
                output: @escaping (UnsafeRawBufferPointer) throws -> Void) throws {
        guard let a = archive_write_new() else { throw ToolError.environment("out of memory creating an ISO writer") }
        self.a = a
        self.output = Output(output)
        self.name = name
        self.temporaryDirectory = temporaryDirectory
        let options = [("iso-level", largeFiles ? "3" : "2"), ("volume-id", volumeID),
                       // No 300 KiB of zeros at the end: the image must fit its medium exactly as planned.
                       ("pad", nil), ("rockridge", "1"), ("joliet", "1")]
        guard archive_write_set_format_iso9660(a) == ARCHIVE_OK else {
            throw ToolError.environment("libarchive cannot write ISO 9660 here: \(archiveMessage(a))")
        }
        for (key, value) in options where archive_write_set_format_option(a, "iso9660", key, value) != ARCHIVE_OK {
            throw ToolError.environment("cannot set ISO 9660 option \(key): \(archiveMessage(a))")
        }
        let client = Unmanaged.passUnretained(self.output).toOpaque()
        // 1 MiB writes instead of tar's 10 KiB blocks (a 4.7 GB image was 460,000 writes), and
        // the last block unpadded.
        guard archive_write_set_bytes_per_block(a, 1 << 20) == ARCHIVE_OK,
              archive_write_set_bytes_in_last_block(a, 1) == ARCHIVE_OK,
              archive_write_open2(a, client, nil, { _, client, buffer, length in
                  let out = Unmanaged<Output>.fromOpaque(client!).takeUnretainedValue()
                  let bytes = UnsafeRawBufferPointer(start: buffer, count: length)
                  do {
                      try out.sink(bytes)
                      out.count += Int64(length)
                      return length
                  } catch let e as ToolError {
                      out.error = e
                      return -1
                  } catch {
                      out.error = ToolError.environment("\(error)")
                      return -1
                  }
              }, nil, nil) == ARCHIVE_OK else {
            throw ToolError.environment("cannot start ISO image '\(name)': \(archiveMessage(a))")
        }
    }

    deinit { archive_write_free(a) }

    private func failure(_ what: String) -> ToolError {
        output.error ?? ToolError.environment("cannot \(what) ISO image '\(name)': \(archiveMessage(a))")
    }

    /// Adds a regular file whose bytes come from `body`, which must write exactly `size` bytes.
    public func addFile(_ name: String, size: Int64, mtime: Int64, body: ((UnsafeRawBufferPointer) throws -> Void) throws -> Void) throws {
        guard let e = archive_entry_new() else { throw ToolError.environment("out of memory creating an archive entry") }
        defer { archive_entry_free(e) }
        archive_entry_set_pathname_utf8(e, name)
        archive_entry_set_filetype(e, EntryType.regular)
        archive_entry_set_perm(e, 0o444)
        archive_entry_set_size(e, size)
        archive_entry_set_mtime(e, time_t(mtime), 0)
        archive_entry_set_uid(e, 0)
        archive_entry_set_gid(e, 0)
        // libarchive opens its temporary file on the first file's header, reading TMPDIR then.
        let previous = CurrentProcess.environment("TMPDIR")
        CurrentProcess.setEnvironment("TMPDIR", temporaryDirectory)
        let r = archive_write_header(a, e)
        CurrentProcess.setEnvironment("TMPDIR", previous)
        guard r == ARCHIVE_OK else { throw failure("add '\(name)' to") }
        var written: Int64 = 0
        try body { chunk in
            var off = 0
            while off < chunk.count {
                let n = archive_write_data(a, chunk.baseAddress! + off, chunk.count - off)
                if n < 0 { throw failure("write '\(name)' into") }
                off += n
            }
            written += Int64(chunk.count)
        }
        guard written == size else { throw ToolError.environment("'\(name)' changed size while being written (\(written) of \(size) bytes)") }
        guard archive_write_finish_entry(a) == ARCHIVE_OK else { throw failure("finish '\(name)' in") }
    }

    /// Writes the directory and every file's data. Returns the image's size.
    public func finish() throws -> Int64 {
        precondition(!finished)
        finished = true
        guard archive_write_close(a) == ARCHIVE_OK else { throw failure("finish") }
        return output.count
    }
}

/// Reads the files of an ISO 9660 image, streaming each one. Only ISO 9660 is enabled.
/// The low side uses it to check volumes inside images before they are burned; the high side
/// reads mounted discs and never parses an image.
public final class IsoReader {
    private let a: OpaquePointer
    private let fd: FileDescriptor
    public let path: String

    public init(path: String) throws {
        fd = try FileDescriptor.open(path)
        self.path = path
        guard let a = archive_read_new() else { throw ToolError.environment("out of memory creating an archive reader") }
        self.a = a
        archive_read_support_format_iso9660(a)
        guard fd.withUnsafeDescriptor({ archive_read_open_fd(a, $0, 1 << 20) }) == ARCHIVE_OK else {
            throw ToolError.refused("'\(path)' is not a readable ISO 9660 image: \(archiveMessage(a))")
        }
    }

    deinit { archive_read_free(a) }

    /// The next entry, or nil at the end of the image.
    public func next() throws -> TarEntry? {
        var e: OpaquePointer?
        let r = archive_read_next_header(a, &e)
        if r == ARCHIVE_EOF { return nil }
        guard r == ARCHIVE_OK || r == ARCHIVE_WARN, let e else {
            throw ToolError.refused("'\(path)' is damaged: \(archiveMessage(a))")
        }
        let name = archive_entry_pathname_utf8(e).map { String(cString: $0) } ?? archive_entry_pathname(e).map { String(cString: $0) } ?? ""
        let kind: TarEntry.Kind
        switch Int32(archive_entry_filetype(e)) {
        case Int32(EntryType.regular): kind = .regular
        case Int32(EntryType.directory): kind = .directory
        case Int32(EntryType.symlink): kind = .symlink
        default: kind = .other
        }
        return TarEntry(name: name, size: archive_entry_size(e), kind: kind, mode: UInt32(archive_entry_perm(e)))
    }

    /// Reads the current entry's next bytes; 0 at its end.
    public func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        let n = archive_read_data(a, buffer.baseAddress, buffer.count)
        if n < 0 { throw ToolError.refused("'\(path)' is damaged: \(archiveMessage(a))") }
        return n
    }
}

private func archiveMessage(_ a: OpaquePointer?) -> String {
    guard let a, let s = archive_error_string(a) else { return "unknown libarchive error" }
    return String(cString: s)
}
