import BundleFormat
import Support
import SystemIO

/// Where the journal ends: what the next line needs, and what the last line says.
struct JournalEnd {
    /// Complete lines.
    var count: Int
    /// SHA-256 of the last complete line (the genesis digest when there is none).
    var last: String
    /// Length of an unterminated last line: a write cut short by a crash, dropped by the next append.
    var incomplete: Int
    /// The last line's `highest`, when journal.head vouches for that line: `.some(nil)` means
    /// none applied yet, nil that it is not known from here (see `Journal.highestApplied`).
    var highest: Int64??
}

extension Journal {
    /// Where the next line goes. Read from the last two lines and journal.head when they agree
    /// (the usual case, whatever the journal's length); otherwise by counting, streamed.
    func end() throws -> JournalEnd {
        var recent: [[UInt8]] = []
        let incomplete = try scanBackward { recent.append($0); return recent.count < 2 }
        guard let last = recent.first else { return JournalEnd(count: 0, last: Journal.genesis, incomplete: incomplete, highest: .some(nil)) }
        if let (count, entry) = try vouched(last: last, before: recent.dropFirst().first) {
            var highest: Int64?? = nil
            switch entry["highest"] {
            case .int(let v)?: highest = .some(v)
            case .null?: highest = .some(nil)
            default: break
            }
            return JournalEnd(count: count, last: Journal.digest(last), incomplete: incomplete, highest: highest)
        }
        let count = try JournalLines.forEach(path) { _ in true }.count
        return JournalEnd(count: count, last: Journal.digest(last), incomplete: incomplete, highest: nil)
    }

    /// The number of complete lines, the SHA-256 of the last one, and the length of an
    /// unterminated last line.
    func tail() throws -> (count: Int, last: String, incomplete: Int) {
        let e = try end()
        return (e.count, e.last, e.incomplete)
    }

    /// The line count journal.head vouches for, and the last entry: the head names the last line,
    /// or the one before it (the last line was written and synced, the head not yet), and that
    /// line's own number agrees.
    private func vouched(last: [UInt8], before: [UInt8]?) throws -> (Int, [String: JSON])? {
        guard try FS.info(headPath) != nil,
              case .object(let h)? = try? JSON.parse(FS.readFile(headPath, limit: 4096), what: "journal.head"),
              case .int(let n)? = h["n"], case .string(let d)? = h["sha256"],
              case .object(let line)? = try? JSON.parse(last, what: "journal"), case .int(let k)? = line["n"], k > 0 else { return nil }
        if d == Journal.digest(last) && n == k { return (Int(k), line) }
        if let before, d == Journal.digest(before), n + 1 == k { return (Int(k), line) }
        return nil
    }
}

/// Reading the journal's lines without ever holding more than one line of `Journal.maxLine`.
enum JournalLines {
    private struct Stop: Error {}

    /// Visits the complete lines from the first, while `visit` returns true; a line longer than
    /// `Journal.maxLine` is handed as nil (its bytes are skipped, not kept). Returns the number
    /// of complete lines read and the length of an unterminated last line.
    @discardableResult
    static func forEach(_ path: String, max: Int = Journal.maxLine, _ visit: ([UInt8]?) throws -> Bool) throws -> (count: Int, incomplete: Int) {
        guard try FS.info(path) != nil else { return (0, 0) }
        let fd = try FileDescriptor.open(path)
        defer { try? fd.close() }
        var line: [UInt8] = [], length = 0, count = 0
        do {
            try fd.forEachChunk { chunk in
                var start = 0
                while let nl = chunk[start...].firstIndex(of: 10) {
                    length += nl - start
                    if length <= max { line.append(contentsOf: chunk[start..<nl]) }
                    count += 1
                    guard try visit(length <= max ? line : nil) else { throw Stop() }
                    line.removeAll(keepingCapacity: true)
                    length = 0
                    start = nl + 1
                }
                length += chunk.count - start
                if length <= max { line.append(contentsOf: chunk[start...]) } else { line = [] }
            }
        } catch is Stop {}
        return (count, length)
    }

    /// Visits the complete lines from the last to the first, reading the file backwards a block
    /// at a time, while `visit` returns true. Returns the length of an unterminated last line.
    /// A line longer than `max` is refused, not held: no journal entry is that long.
    static func backward(_ path: String, block: Int64, max: Int = Journal.maxLine, _ visit: ([UInt8]) throws -> Bool) throws -> Int {
        guard try FS.info(path) != nil else { return 0 }
        let fd = try FileDescriptor.open(path)
        defer { try? fd.close() }
        var start = try fd.size()
        var pending: [UInt8] = []  // the bytes after `start` up to the end of the line being looked for
        var incomplete: Int?
        let tooLong = ToolError.refused("'\(path)' holds a line longer than \(max >> 20) MiB near its end, longer than any journal entry: it was changed (`mirrorctl verify` names the line)")
        func take(_ line: [UInt8]) throws -> Bool {
            guard line.count <= max else { throw tooLong }
            guard incomplete != nil else { incomplete = line.count; return true }
            return try visit(line)
        }
        while start > 0 {
            let from = Swift.max(0, start - block)
            var chunk = try JournalFileIO.read(fd, from: from, count: Int(start - from))
            start = from
            // Only the new bytes are searched: `pending` holds no newline.
            while let i = chunk.lastIndex(of: 10) {
                let line = Array(chunk[(i + 1)...]) + pending
                pending = []
                chunk.removeSubrange(i...)
                guard try take(line) else { return incomplete! }
            }
            pending = chunk + pending
            if pending.count > max { throw tooLong }
        }
        // At the start of the file: what is left is the first line (none without a newline).
        guard let incomplete else { return pending.count }
        _ = try take(pending)
        return incomplete
    }
}

/// The file calls the journal needs beyond `FS`.
enum JournalFileIO {
    static func openForAppend(_ path: String) throws -> FileDescriptor {
        try FileDescriptor.open(path, .writeOnly, options: [.create, .append], mode: 0o644)
    }

    /// Drops the last `bytes` bytes of the file.
    static func cut(_ path: String, bytes: Int) throws {
        let fd = try FileDescriptor.open(path, .writeOnly)
        defer { try? fd.close() }
        try fd.truncate(to: try fd.size() - Int64(bytes))
    }

    static func read(_ fd: FileDescriptor, from offset: Int64, count: Int) throws -> [UInt8] {
        try fd.seek(to: offset)
        var bytes = [UInt8](repeating: 0, count: count)
        let n = try bytes.withUnsafeMutableBytes { try fd.readFully(into: $0) }
        guard n == count else { throw ToolError.environment("'\(fd.path)' changed while it was read") }
        return bytes
    }
}

/// What one journal entry may hold. The fields come from outside (file names, refusal reasons
/// quoting them): a refusal naming 20,000 junk files must not add 6 MB to the journal.
enum JournalBound {
    /// No entry written is longer (with its newline the line is one byte more).
    static let maxEntry = 8 << 10

    /// `fields` with strings cut to a number of UTF-8 bytes and arrays to a number of members
    /// (the rest counted), as little as it takes for the entry, with `fixed` (the chain's own
    /// members, never cut), to fit `maxEntry`: escaping can make a string six times longer.
    static func fit(_ fields: [String: JSON], with fixed: [String: JSON]) -> [String: JSON] {
        var entry: [String: JSON] = [:]
        for (strings, items) in [(1000, 16), (200, 8), (40, 2), (0, 0)] {
            entry = fields.mapValues { shorten($0, strings: strings, items: items) }.merging(fixed) { $1 }
            if JSON.object(entry).canonicalBytes.count <= maxEntry { break }
        }
        return entry
    }

    static func shorten(_ v: JSON, strings: Int, items: Int) -> JSON {
        switch v {
        case .string(let s) where s.utf8.count > strings:
            var kept = ""
            for u in s.unicodeScalars {
                guard kept.utf8.count + u.utf8.count <= strings else { break }
                kept.unicodeScalars.append(u)
            }
            return .string(kept + "… (\(Format.grouped(Int64(s.utf8.count - kept.utf8.count))) more bytes not recorded)")
        case .array(let a) where a.count > items:
            return .array(a.prefix(items).map { shorten($0, strings: strings, items: items) } + [.string("… and \(Format.grouped(Int64(a.count - items))) more")])
        case .array(let a):
            return .array(a.map { shorten($0, strings: strings, items: items) })
        case .object(let o):
            return .object(o.mapValues { shorten($0, strings: strings, items: items) })
        default:
            return v
        }
    }
}
