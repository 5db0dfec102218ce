import Libarchive
import Support
import SystemIO

/// An image tarball, read once: every regular entry hashed, its bytes located for later.
///
/// A plain tar keeps each entry's bytes in one run of the file, so a blob is packed later
/// straight from the tarball (no copy). A compressed tarball has no such runs: its entries are
/// extracted into the build's scratch folder while they are hashed. Either way the packer hashes
/// the bytes again as it compresses them, so a wrong offset or a file changed under us is caught.
final class ImageArchive {
    struct Entry {
        var size: Int64
        var sha256: SHA256Digest
        /// The first bytes, to recognise compressed layers.
        var head: [UInt8]
        /// Where the bytes are: a file and the offset of the entry's first byte in it.
        var file: String
        var offset: Int64
    }

    let path: String
    private(set) var entries: [String: Entry] = [:]
    /// Symbolic and hard links, as normalised paths inside the archive.
    private var links: [String: String] = [:]

    private init(path: String) { self.path = path }

    /// Reads the whole archive. `scratch` receives extracted entries of a compressed archive.
    static func scan(_ path: String, scratch: String, progress: Progress) throws -> ImageArchive {
        guard let info = try FS.info(path) else { throw ToolError.usage("image archive '\(path)' does not exist") }
        guard info.kind == .regular || info.kind == .symlink else { throw ToolError.usage("image archive '\(path)' is not a file") }
        let archive = ImageArchive(path: path)
        let reader = try TarReader(path: path, filters: .any)
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 1 << 20, alignment: 64)
        defer { buffer.deallocate() }
        // Entries of a plain tar whose data offset is known once the next header is reached.
        var pending: (name: String, entry: Entry)?
        var extracted = 0
        // The tarball once more, to read the headers of a plain tar's entries.
        var headers: FileDescriptor?
        while true {
            let next = try reader.next()
            if let p = pending {
                // The data ended, padded to 512 bytes, where the next header (or the end) begins.
                var e = p.entry
                e.offset = reader.headerPosition - ((e.size + 511) / 512) * 512
                if headers == nil { headers = try FileDescriptor.open(path) }
                try archive.checkHeader(in: headers!, before: e.offset, size: e.size, name: p.name)
                archive.entries[p.name] = e
                pending = nil
            }
            guard let entry = next else { break }
            let name = normalise(entry.name)
            switch entry.kind {
            case .regular:
                guard archive.entries[name] == nil, archive.links[name] == nil else {
                    throw ToolError.refused("image archive '\(path)' holds '\(name)' twice")
                }
                let file = reader.isCompressed ? "\(scratch)/image-entry-\(extracted + 1)" : path
                if reader.isCompressed { extracted += 1 }
                let e = try archive.hashEntry(reader, size: entry.size, name: name, file: file, extracting: reader.isCompressed,
                                              buffer: buffer, progress: progress)
                if reader.isCompressed { archive.entries[name] = e } else { pending = (name, e) }
            case .symlink, .hardlink:
                guard let target = entry.linkTarget else { continue }
                archive.links[name] = resolve(link: target, symbolic: entry.kind == .symlink, at: name)
            case .directory, .other:
                continue
            }
        }
        return archive
    }

    /// Hashes the current entry's bytes, keeping its first bytes; when `extracting`, also
    /// copies them to `file`, a scratch file.
    private func hashEntry(_ reader: TarReader, size: Int64, name: String, file: String, extracting: Bool,
                           buffer: UnsafeMutableRawBufferPointer, progress: Progress) throws -> Entry {
        var hash = SHA256Stream()
        var head: [UInt8] = []
        let out = extracting ? try FileDescriptor.create(file, mode: 0o600) : nil
        while true {
            let n = try reader.read(into: buffer)
            if n == 0 { break }
            let chunk = UnsafeRawBufferPointer(rebasing: buffer[..<n])
            if head.count < Compression.headLength { head += chunk.prefix(Compression.headLength - head.count) }
            hash.update(chunk)
            try out?.write(chunk)
            progress.advance(Int64(n))
        }
        try out?.close()
        guard hash.count == size else {
            throw ToolError.refused("image archive '\(path)' is truncated inside '\(name)'")
        }
        return Entry(size: size, sha256: hash.finalize(), head: head, file: file, offset: 0)
    }

    /// A link's target as an archive path: a symbolic link is relative to its folder; a hard
    /// link names an archive path.
    private static func resolve(link target: String, symbolic: Bool, at name: String) -> String {
        symbolic && !target.hasPrefix("/") ? normalise(FS.parent(of: "/" + name).dropFirst().description + "/" + target) : normalise(target)
    }

    /// The entry at `name`, following links inside the archive (never outside it).
    func entry(_ name: String) -> Entry? {
        var n = ImageArchive.normalise(name)
        for _ in 0..<16 {
            if let e = entries[n] { return e }
            guard let t = links[n] else { return nil }
            n = t
        }
        return nil
    }

    /// The bytes of a small entry (a manifest, an index, a config).
    func bytes(_ e: Entry, limit: Int, what: String) throws -> [UInt8] {
        guard e.size <= Int64(limit) else { throw ToolError.refused("\(what) in '\(path)' is larger than \(limit) bytes") }
        let fd = try FileDescriptor.open(e.file)
        try fd.seek(to: e.offset)
        var out = [UInt8](repeating: 0, count: Int(e.size))
        let n = try out.withUnsafeMutableBytes { try fd.readFully(into: $0) }
        try fd.close()
        guard n == out.count, SHA256Digest.of(out) == e.sha256 else {
            throw ToolError.environment("'\(path)' changed while the bundle was being built")
        }
        return out
    }

    /// In a plain tar the 512 bytes before an entry's data are its ustar header: check that the
    /// offset worked out from libarchive's positions really lands there.
    private func checkHeader(in fd: FileDescriptor, before offset: Int64, size: Int64, name: String) throws {
        var block = [UInt8](repeating: 0, count: 512)
        if offset >= 512 {
            try fd.seek(to: offset - 512)
            let n = try block.withUnsafeMutableBytes { try fd.readFully(into: $0) }
            if n == 512, Array(block[257..<262]) == Array("ustar".utf8) { return }
        }
        throw ToolError.environment("cannot locate '\(name)' inside '\(path)' (\(size) bytes); recompress the archive or report this")
    }

    /// `./a//b` and `a/b` are the same entry; `..` cannot climb out of the archive.
    static func normalise(_ name: String) -> String {
        var parts: [Substring] = []
        for p in name.split(separator: "/") {
            if p == "." || p.isEmpty { continue }
            if p == ".." { if !parts.isEmpty { parts.removeLast() }; continue }
            parts.append(p)
        }
        return parts.joined(separator: "/")
    }
}
