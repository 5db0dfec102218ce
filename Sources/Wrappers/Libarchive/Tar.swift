internal import CArchive
import Support
import SystemIO

/// libarchive's entry types (`AE_IFREG` and the others are cast macros Swift does not import).
enum EntryType {
    static let regular: UInt32 = 0o100000
    static let directory: UInt32 = 0o040000
    static let symlink: UInt32 = 0o120000
}

private func archiveMessage(_ a: OpaquePointer?) -> String {
    guard let a, let s = archive_error_string(a) else { return "unknown libarchive error" }
    return String(cString: s)
}

/// Writes a tar archive (POSIX pax, with extended headers only where ustar cannot say a thing)
/// to a file descriptor. Headers carry fixed owner, group and time, so the same entries give the
/// same bytes. The corresponding C functions are `archive_write_*`.
public final class TarWriter {
    /// Where the archive's bytes go: the file, and their SHA-256 as they pass (so the caller
    /// need not read a finished bundle back to name it).
    private final class Output {
        let fd: FileDescriptor
        var digest = SHA256Stream()
        var error: ToolError?
        init(_ fd: FileDescriptor) { self.fd = fd }
    }

    private let a: OpaquePointer
    private let path: String
    private let output: Output
    private var finished = false

    /// - Parameter zstdLevel: compress the whole archive (a .tar.zst) at this level; nil writes a
    ///   plain tar. GNU tar and bsdtar read either without being told which.
    public init(fd: FileDescriptor, zstdLevel: Int? = nil) throws {
        guard let a = archive_write_new() else { throw ToolError.environment("out of memory creating an archive writer") }
        self.a = a
        self.path = fd.path
        output = Output(fd)
        let filter: Int32
        if let zstdLevel {
            filter = archive_write_add_filter_zstd(a) == ARCHIVE_OK
                ? archive_write_set_filter_option(a, "zstd", "compression-level", String(zstdLevel)) : ARCHIVE_FATAL
        } else {
            filter = archive_write_add_filter_none(a)
        }
        guard archive_write_set_format_pax_restricted(a) == ARCHIVE_OK,
              filter == ARCHIVE_OK,
              // End after the last 512-byte record instead of padding to tar's 10 KiB block:
              // stock tar reads it the same, and a small update bundle stays small.
              archive_write_set_bytes_per_block(a, 10240) == ARCHIVE_OK,
              archive_write_set_bytes_in_last_block(a, 1) == ARCHIVE_OK,
              archive_write_open2(a, Unmanaged.passUnretained(output).toOpaque(), nil, { _, client, buffer, length in
                  let out = Unmanaged<Output>.fromOpaque(client!).takeUnretainedValue()
                  let bytes = UnsafeRawBufferPointer(start: buffer, count: length)
                  do {
                      try out.fd.write(bytes)
                      out.digest.update(bytes)
                      return length
                  } catch let e as ToolError {
                      out.error = e
                  } catch {
                      out.error = ToolError.environment("cannot write '\(out.fd.path)': \(error)")
                  }
                  return -1
              }, nil, nil) == ARCHIVE_OK else {
            // deinit frees the handle: every stored property is set, so it runs on this throw too.
            throw ToolError.environment("cannot start archive '\(fd.path)': \(archiveMessage(a))")
        }
    }

    deinit { archive_write_free(a) }

    /// Adds a regular file whose bytes come from `body`, which must write exactly `size` bytes.
    public func addFile(_ name: String, size: Int64, mode: UInt32 = 0o644, mtime: Int64, body: ((UnsafeRawBufferPointer) throws -> Void) throws -> Void) throws {
        guard let e = archive_entry_new() else { throw ToolError.environment("out of memory creating an archive entry") }
        defer { archive_entry_free(e) }
        archive_entry_set_pathname_utf8(e, name)
        archive_entry_set_filetype(e, EntryType.regular)
        archive_entry_set_perm(e, mode_t(mode))
        archive_entry_set_size(e, size)
        archive_entry_set_mtime(e, time_t(mtime), 0)
        archive_entry_set_uid(e, 0)
        archive_entry_set_gid(e, 0)
        guard archive_write_header(a, e) == ARCHIVE_OK else {
            throw output.error ?? ToolError.environment("cannot write '\(name)' into '\(path)': \(archiveMessage(a))")
        }
        var written: Int64 = 0
        try body { chunk in
            var off = 0
            // archive_write_data may take fewer bytes than offered; loop until it took them all.
            while off < chunk.count {
                let n = archive_write_data(a, chunk.baseAddress! + off, chunk.count - off)
                if n < 0 { throw output.error ?? ToolError.environment("cannot write '\(name)' into '\(path)': \(archiveMessage(a))") }
                off += n
            }
            written += Int64(chunk.count)
        }
        guard written == size else {
            throw ToolError.environment("'\(name)' changed size while being archived (\(written) of \(size) bytes)")
        }
        guard archive_write_finish_entry(a) == ARCHIVE_OK else {
            throw output.error ?? ToolError.environment("cannot finish '\(name)' in '\(path)': \(archiveMessage(a))")
        }
    }

    public func addFile(_ name: String, bytes: [UInt8], mode: UInt32 = 0o644, mtime: Int64) throws {
        try addFile(name, size: Int64(bytes.count), mode: mode, mtime: mtime) { put in
            try bytes.withUnsafeBytes { try put($0) }
        }
    }

    /// Writes the end-of-archive blocks (without them the archive is truncated). Returns the
    /// SHA-256 and size of every byte written.
    @discardableResult
    public func finish() throws -> (sha256: SHA256Digest, size: Int64) {
        if !finished {
            finished = true
            guard archive_write_close(a) == ARCHIVE_OK else {
                throw output.error ?? ToolError.environment("cannot finish archive '\(path)': \(archiveMessage(a))")
            }
        }
        return (output.digest.finalize(), output.digest.count)
    }
}

/// One entry header, as read.
public struct TarEntry: Sendable {
    public enum Kind: Sendable { case regular, directory, symlink, hardlink, other }
    public var name: String
    public var size: Int64
    public var kind: Kind
    public var mode: UInt32
    /// For links: the path the entry points to, as stored.
    public var linkTarget: String?
}

/// Reads a tar archive, entry by entry, streaming each entry's bytes. Only tar is enabled (and
/// zip for `.unpack`): the fewer formats libarchive will parse, the less hostile input can reach.
public final class TarReader {
    private let a: OpaquePointer
    private let fd: FileDescriptor
    public let path: String
    /// How messages name the archive: `path`, or what the caller knows it as (a URL fetched to a scratch file).
    private let shown: String

    /// True once `next()` returned nil after the archive's end marker (two zero blocks) rather
    /// than at a bare end of file. Meaningful when the last entry was read to its end.
    public private(set) var endedWithMarker = false
    /// Which compression filters to accept around the tar.
    public enum Filters: Sendable {
        /// A bundle: plain or zstd only.
        case bundle
        /// An image tarball as users have it (gzip, xz, bzip2 or zstd), read on the low side.
        case any
        /// A feed archive a spec asks to unpack: a tar (plain, gzip or zstd) or a zip, and no
        /// other format or filter.
        case unpack
    }

    public init(path: String, filters: Filters = .bundle, name: String? = nil) throws {
        fd = try FileDescriptor.open(path)
        self.path = path
        shown = name ?? path
        guard let a = archive_read_new() else { throw ToolError.environment("out of memory creating an archive reader") }
        self.a = a
        archive_read_support_format_tar(a)
        switch filters {
        // Small bundles are a .tar.zst; no other compression is read.
        case .bundle: archive_read_support_filter_zstd(a)
        case .any: archive_read_support_filter_all(a)
        case .unpack:
            // A zip is read through its central directory (the file descriptor seeks), as bsdtar reads it.
            archive_read_support_format_zip(a)
            archive_read_support_filter_gzip(a)
            archive_read_support_filter_zstd(a)
        }
        guard fd.withUnsafeDescriptor({ archive_read_open_fd(a, $0, 1 << 20) }) == ARCHIVE_OK else {
            // deinit frees the handle: every stored property is set, so it runs on this throw too.
            let what = switch filters { case .bundle: "bundle archive"; case .any: "tar archive"; case .unpack: "tar or zip archive" }
            throw ToolError.refused("'\(shown)' is not a readable \(what): \(archiveMessage(a))")
        }
    }

    /// True when the tar is wrapped in a compression filter, so offsets are not file offsets.
    public var isCompressed: Bool { archive_filter_count(a) > 1 }

    /// Where the current entry's header (including any extended headers) starts in the
    /// uncompressed stream. After `next()` returned nil, where the end marker starts.
    public var headerPosition: Int64 { archive_read_header_position(a) }

    deinit { archive_read_free(a) }

    /// The next entry, or nil at the end of the archive.
    public func next() throws -> TarEntry? {
        // A zip's names are converted to the locale's character set as they are read: UTF-8, not the "C" locale's ASCII.
        try ThreadLocale.withUTF8Characters { try nextEntry() }
    }

    private func nextEntry() throws -> TarEntry? {
        var e: OpaquePointer?
        // libarchive ends an archive quietly at a bare end of file on a block boundary, and after
        // the marker consumes both zero blocks: the position tells the two apart.
        let before = archive_filter_bytes(a, 0)
        let r = archive_read_next_header(a, &e)
        if r == ARCHIVE_EOF {
            endedWithMarker = archive_filter_bytes(a, 0) - before >= 1024
            return nil
        }
        guard r == ARCHIVE_OK || r == ARCHIVE_WARN, let e else {
            throw ToolError.refused("'\(shown)' is damaged or truncated: \(archiveMessage(a))")
        }
        let name: String
        if let p = archive_entry_pathname_utf8(e) {
            name = String(cString: p)
        } else if let p = archive_entry_pathname(e) {
            // Not UTF-8 by libarchive's reading: decoded with U+FFFD for bad bytes, like String(decoding:).
            name = String(cString: p)
        } else {
            name = ""
        }
        let kind: TarEntry.Kind
        if archive_entry_hardlink(e) != nil {
            kind = .hardlink
        } else {
            switch Int32(archive_entry_filetype(e)) {
            case Int32(EntryType.regular): kind = .regular
            case Int32(EntryType.directory): kind = .directory
            case Int32(EntryType.symlink): kind = .symlink
            default: kind = .other
            }
        }
        var target: String?
        if let p = archive_entry_hardlink_utf8(e) ?? archive_entry_symlink_utf8(e) { target = String(cString: p) }
        return TarEntry(name: name, size: archive_entry_size(e), kind: kind, mode: UInt32(archive_entry_perm(e)), linkTarget: target)
    }

    /// Reads the current entry's next bytes; 0 at its end.
    public func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        let n = archive_read_data(a, buffer.baseAddress, buffer.count)
        if n < 0 { throw ToolError.refused("'\(shown)' is damaged or truncated: \(archiveMessage(a))") }
        return n
    }

    /// Reads the whole current entry into memory, refusing more than `limit` bytes.
    public func readAll(limit: Int, what: String) throws -> [UInt8] {
        var out: [UInt8] = []
        var buf = [UInt8](repeating: 0, count: 64 << 10)
        while true {
            let n = try buf.withUnsafeMutableBytes { try read(into: $0) }
            if n == 0 { break }
            guard out.count + n <= limit else { throw ToolError.refused("\(what) in '\(shown)' is larger than \(limit) bytes") }
            out.append(contentsOf: buf[0..<n])
        }
        return out
    }
}
