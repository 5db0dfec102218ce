import BundleFormat
import Libarchive
import Support
import SystemIO

/// How much one archive (`unpack: true`) may unpack to. A feed archive comes from outside, and a
/// few kilobytes of zstd or deflate can stand for terabytes of zeros: the build stops at the first
/// byte past these bounds instead of filling the disk.
struct UnpackLimits: Sendable, Equatable {
    /// Unpacked bytes per archive byte. Databases and JSON feeds compress by well under this;
    /// a decompression bomb by far more.
    var ratio: Int64 = 200
    /// A small archive may always unpack to this much, whatever its ratio.
    var floor: Int64 = 64 << 20
    /// And no archive to more than this.
    var absolute: Int64 = 32 << 30
    /// Entries of every kind, folders included. mirrorctl apply refuses more than 1,000,000 files by default.
    var maxEntries = 1_000_000
    /// The bytes of all entry names together: they are held in memory to refuse duplicates.
    var maxNameBytes: Int64 = 128 << 20

    static let standard = UnpackLimits()

    /// The most bytes an archive of `archiveSize` bytes may unpack to.
    func maxBytes(archiveSize: Int64) -> Int64 {
        let (scaled, overflow) = max(0, archiveSize).multipliedReportingOverflow(by: ratio)
        return min(absolute, max(floor, overflow ? .max : scaled))
    }

    /// "200 times its 1,234 bytes, at least 64 MiB and at most 32 GiB": how `maxBytes` was reached.
    func explain(archiveSize: Int64) -> String {
        "\(ratio) times the archive's \(Format.grouped(archiveSize)) bytes, at least \(Format.bytes(floor)) and at most \(Format.bytes(absolute))"
    }
}

/// What an archive has unpacked so far, against its limits. Every count is checked before it is
/// added, so an entry that declares an absurd size is refused by its header, before a byte is read.
struct UnpackBudget {
    enum Exceeded: Equatable { case bytes, entries, names }

    let limits: UnpackLimits
    let maxBytes: Int64
    /// Bytes of the entries before the current one (the larger of declared and read, each).
    private(set) var committed: Int64 = 0
    private var declared: Int64 = 0
    private var read: Int64 = 0
    private(set) var entries = 0
    private(set) var nameBytes: Int64 = 0

    init(limits: UnpackLimits, archiveSize: Int64) {
        self.limits = limits
        maxBytes = limits.maxBytes(archiveSize: archiveSize)
    }

    /// Everything counted so far, the current entry included.
    var total: Int64 { committed + max(declared, read) }

    /// Starts an entry: its name's length, the size its header declares, and how far into the
    /// (uncompressed) archive its header starts, which also counts the headers before it.
    mutating func enter(nameBytes n: Int, declaredSize: Int64, streamPosition: Int64) -> Exceeded? {
        committed = total
        (declared, read) = (0, 0)
        guard entries < limits.maxEntries else { return .entries }
        entries += 1
        let (names, o1) = nameBytes.addingReportingOverflow(Int64(n))
        guard !o1, names <= limits.maxNameBytes else { return .names }
        nameBytes = names
        let (sum, o2) = committed.addingReportingOverflow(max(0, declaredSize))
        guard !o2, sum <= maxBytes, streamPosition <= maxBytes else { return .bytes }
        declared = max(0, declaredSize)
        return nil
    }

    /// Counts `n` more bytes of the current entry, read.
    mutating func add(read n: Int) -> Exceeded? {
        let (r, o1) = read.addingReportingOverflow(Int64(n))
        let (sum, o2) = committed.addingReportingOverflow(max(declared, r))
        guard !o1, !o2, sum <= maxBytes else { return .bytes }
        read = r
        return nil
    }
}

/// Unpacks the archive a file or URL source names (`unpack: true`) into the build's scratch
/// folder; its regular files become the source's files, so they delta by content.
///
/// Only regular files and folders may be in it: a link, a device or a FIFO, a name that is not a
/// plain relative path (the bundle's own rule, `LogicalPath`), or a name given twice is refused by
/// name, and so is an archive past `UnpackLimits`. Entries are written to numbered files, never to
/// their own names, so no name from the archive reaches the file system. Only the bytes and the
/// executable bit are kept: a bundle records nothing else of a file (no owner, no time).
struct ArchiveUnpacker {
    /// The archive on disk (for a URL, the downloaded file).
    let path: String
    /// The archive as the spec names it (a path or a URL), for messages.
    let archiveName: String
    /// "spec.yaml:7: source 'grype'": what every message starts with.
    let context: String
    /// "advisories/grype": the files land under it.
    let top: String
    let source: Int
    /// A folder this unpacker makes and fills; the build's scratch folder is removed after.
    let folder: String
    var limits = UnpackLimits.standard

    func unpack() throws -> [CollectedFile] {
        let size = try FS.info(path)?.size ?? 0
        let reader = try inputError { try TarReader(path: path, filters: .unpack, name: archiveName) }
        try FS.makeDirectory(folder, mode: 0o700)
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 1 << 20, alignment: 64)
        defer { buffer.deallocate() }
        var budget = UnpackBudget(limits: limits, archiveSize: size)
        var files: [CollectedFile] = []
        var names: Set<String> = []
        while let entry = try inputError({ try reader.next() }) {
            if let over = budget.enter(nameBytes: entry.name.utf8.count, declaredSize: entry.size, streamPosition: reader.headerPosition) {
                throw exceeded(over, entry.name, budget: budget, archiveSize: size)
            }
            guard let name = try relativeName(entry) else { continue }
            guard names.insert(name).inserted else { throw refusal(entry.name, "appears twice; an archive may name each file and folder once") }
            guard entry.kind == .regular else { continue }
            let file = "\(folder)/\(files.count + 1)"
            let written = try extract(reader, entry.name, to: file, buffer: buffer, budget: &budget, archiveSize: size)
            files.append(CollectedFile(logicalPath: "\(top)/\(name)", sourcePath: file, size: written,
                                       mode: Collector.mode(entry.mode), source: source))
        }
        guard !files.isEmpty else { throw ToolError.usage("\(context): archive '\(archiveName)' holds no files") }
        try inputError { try TreeListing.checkShape(files.lazy.map(\.logicalPath)) }
        return files
    }

    /// The entry's name inside the source, or nil for the archive's own root folder ("./").
    /// Refuses links, devices and names that are not plain relative paths.
    private func relativeName(_ entry: TarEntry) throws -> String? {
        let name: String
        switch ArchiveUnpacker.relative(entry.name, directory: entry.kind == .directory) {
        case .root: return nil
        case .refused(let problem): throw refusal(entry.name, "\(problem); names in an archive must be plain relative paths inside the source")
        case .name(let n): name = n
        }
        if let problem = LogicalPath.problem("\(top)/\(name)") { throw refusal(entry.name, problem) }
        switch entry.kind {
        case .regular, .directory: return name
        case .symlink: throw refusal(entry.name, "is a symbolic link; bundles carry regular files only and never follow links")
        case .hardlink: throw refusal(entry.name, "is a hard link; bundles carry regular files only")
        case .other: throw refusal(entry.name, "is not a regular file (device, socket or FIFO)")
        }
    }

    enum Relative: Equatable { case root, name(String), refused(String) }

    /// An entry name as a path inside the source. A leading "./" (what `tar -C dir .` writes) and a
    /// folder's trailing "/" are dropped; everything else must pass the bundle's path rule as it is.
    static func relative(_ raw: String, directory: Bool) -> Relative {
        // libarchive gives an empty name when it cannot convert the stored one (a zip's, not UTF-8).
        if raw.isEmpty { return .refused("has an empty name, or one that is not UTF-8") }
        var name = Substring(raw)
        if name.hasPrefix("./") { name = name.dropFirst(2) }
        if directory, name.hasSuffix("/") { name = name.dropLast() }
        if directory, name.isEmpty || name == "." { return .root }
        if let problem = LogicalPath.problem(String(name)) { return .refused(problem) }
        return .name(String(name))
    }

    /// Copies the current entry's bytes to `file`, counting them against the budget as they pass.
    private func extract(_ reader: TarReader, _ entryName: String, to file: String, buffer: UnsafeMutableRawBufferPointer,
                         budget: inout UnpackBudget, archiveSize: Int64) throws -> Int64 {
        let out = try FileDescriptor.create(file, mode: 0o600)
        var written: Int64 = 0
        while true {
            let n = try inputError { try reader.read(into: buffer) }
            if n == 0 { break }
            if let over = budget.add(read: n) { throw exceeded(over, entryName, budget: budget, archiveSize: archiveSize) }
            try out.write(UnsafeRawBufferPointer(rebasing: buffer[..<n]))
            written += Int64(n)
        }
        try out.close()
        return written
    }

    private func refusal(_ entryName: String, _ why: String) -> ToolError {
        ToolError.usage("\(context): archive '\(archiveName)': entry '\(ToolError.shown(entryName))' \(why)")
    }

    private func exceeded(_ what: UnpackBudget.Exceeded, _ entryName: String, budget: UnpackBudget, archiveSize: Int64) -> ToolError {
        let limit = switch what {
        case .bytes:
            "unpacks to more than \(Format.grouped(budget.maxBytes)) bytes, the limit for it (\(limits.explain(archiveSize: archiveSize)))"
        case .entries: "holds more than \(Format.grouped(Int64(limits.maxEntries))) entries, the limit"
        case .names: "has names longer than \(Format.grouped(limits.maxNameBytes)) bytes together, the limit"
        }
        return refusal(entryName, "is past the unpack limit: the archive \(limit); unpack it yourself and name the folder in the spec if it is genuine")
    }

    /// Runs `body`, turning a damaged archive (the reader's refusal) into an input error that
    /// names the source, like every other refusal here; I/O failures keep their own status.
    private func inputError<T>(_ body: () throws -> T) throws -> T {
        do {
            return try body()
        } catch let e as ToolError where e.status == .refused {
            throw ToolError.usage("\(context): \(e.message.hasPrefix("'\(archiveName)'") ? "" : "archive '\(archiveName)': ")\(e.message)")
        }
    }
}
