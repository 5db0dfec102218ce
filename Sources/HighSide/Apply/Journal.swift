import BundleFormat
import Support
import SystemIO

/// An append-only record of everything done to the mirror. Each line is canonical JSON that
/// carries its number and the SHA-256 of the line before it, so an edited, removed, inserted or
/// reordered line breaks the chain where it happened. `journal.head` holds the number and SHA-256
/// of the last line, so editing or removing the last lines shows too.
///
/// Whoever can rewrite both files can forge a consistent history; the head digest that
/// `mirrorctl verify` prints is meant for a record kept off the machine (the transfer log).
struct Journal {
    let path: String
    let headPath: String
    static let genesis = String(repeating: "0", count: 64)

    init(path: String) {
        self.path = path
        headPath = FS.parent(of: path) + "/journal.head"
    }

    /// The complete lines, and the length of an unterminated last line: a write cut short by a
    /// crash, which was never a record and is dropped by the next append.
    private func read() throws -> (lines: [[UInt8]], incomplete: Int) {
        guard try FS.info(path) != nil else { return ([], 0) }
        var parts = try FS.readFile(path, limit: 1 << 30).split(separator: 10, omittingEmptySubsequences: false).map(Array.init)
        let tail = parts.removeLast()
        return (parts, tail.count)
    }

    private static func digest(_ line: [UInt8]) -> String { SHA256Digest.of(line).hex }

    /// Appends one event, syncs it to disk, then records it as the head. Call with the mirror's
    /// lock held (or while creating the mirror).
    func append(_ event: String, _ fields: [String: JSON]) throws {
        let end = try tail()
        var members = fields
        if end.incomplete > 0 {
            try JournalFileIO.cut(path, bytes: end.incomplete)
            members["dropped"] = .string("an incomplete last line of \(end.incomplete) bytes, cut short by a crash")
        }
        members["event"] = .string(event)
        members["time"] = .string(Timestamp.format(Timestamp.now()))
        members["prev"] = .string(end.last)
        members["n"] = .int(Int64(end.count + 1))
        let line = JSON.object(members).canonicalBytes
        let fd = try JournalFileIO.openForAppend(path)
        try fd.write(line + [10])
        try fd.sync()
        try FS.writeAtomically(headPath, JSON.object(["n": .int(Int64(end.count + 1)), "sha256": .string(Journal.digest(line))]).canonicalBytes)
    }

    /// The entries up to the first broken link, and what broke it (nil when the chain and the
    /// head hold). A problem names the line where the chain breaks and what that means.
    func check() throws -> (entries: [[String: JSON]], problem: String?) {
        let (lines, _) = try read()
        var entries: [[String: JSON]] = []
        var prev = Journal.genesis
        for (i, raw) in lines.enumerated() {
            let k = i + 1
            guard case .object(let m)? = try? JSON.parseCanonical(raw, what: "journal line \(k)"),
                  case .string(let p)? = m["prev"], case .int(let n)? = m["n"] else {
                return (entries, "journal line \(k) is not a journal entry (canonical JSON with \"n\" and \"prev\"): it was changed or inserted")
            }
            guard n == Int64(k) else {
                return (entries, "the journal's hash chain is broken at line \(k): it holds entry \(n), so lines before it were removed, inserted or reordered")
            }
            guard p == prev else {
                return (entries, k == 1
                    ? "the journal's hash chain is broken at line 1: it does not start the journal, so the start was removed or changed"
                    : "the journal's hash chain is broken at line \(k): journal line \(k - 1) was changed (line \(k) records another digest for it)")
            }
            prev = Journal.digest(raw)
            entries.append(m)
        }
        guard try FS.info(headPath) != nil else {
            return (entries, lines.isEmpty ? nil : "journal.head is missing, so the journal's last line cannot be checked")
        }
        guard case .object(let h)? = try? JSON.parseCanonical(FS.readFile(headPath, limit: 4096), what: "journal.head"),
              case .int(let n)? = h["n"], n >= 0, case .string(let d)? = h["sha256"] else {
            return (entries, "journal.head is not a journal head: it was changed")
        }
        let count = Int64(lines.count)
        if n == count {
            guard d == prev else { return (entries, "journal line \(count) was changed: it no longer matches journal.head") }
        } else if n == count - 1 && d == (n == 0 ? Journal.genesis : Journal.digest(lines[Int(n) - 1])) {
            // The last line was written and synced, the head not yet: a crash between the two.
            // It is chained like every other line, and the next append records the head again.
        } else if n > count {
            return (entries, "the journal ends at line \(count), but journal.head records line \(n): its last \(n - count) line(s) were removed")
        } else {
            return (entries, "journal.head records line \(n) with another digest: the journal was changed")
        }
        return (entries, nil)
    }

    /// Parsed entries after checking every link of the chain and the head; the first problem is thrown.
    func verifiedEntries() throws -> [[String: JSON]] {
        let (entries, problem) = try check()
        if let problem { throw ToolError.refused(problem) }
        return entries
    }

    /// The number and SHA-256 of the last line, for a record kept elsewhere.
    func head() throws -> (count: Int, sha256: String) {
        let end = try tail()
        return (end.count, end.last)
    }

    /// The version the journal last recorded as current (by an apply, a rollback or a recovery).
    /// Each line is read on its own, from the end: a broken chain is for `verify` to report, not
    /// a reason to record the same recovery again and again.
    func lastCurrent() throws -> String? {
        var found: String?
        try scanBackward { raw in
            guard case .object(let e)? = try? JSON.parse(raw, what: "journal") else { return true }
            switch e["event"] {
            case .string("apply")?, .string("recover")?:
                if case .string(let id)? = e["versionId"] { found = id }
            case .string("rollback")?:
                if case .string(let id)? = e["to"] { found = id }
            default: break
            }
            return found == nil
        }
        return found
    }

    // MARK: The end of the file

    /// Where the next line goes: the number of complete lines, the SHA-256 of the last one, and
    /// the length of an unterminated last line. Read from the last two lines and journal.head
    /// when they agree (the usual case, whatever the journal's length); otherwise by counting.
    func tail() throws -> (count: Int, last: String, incomplete: Int) {
        var recent: [[UInt8]] = []
        let incomplete = try scanBackward { recent.append($0); return recent.count < 2 }
        guard let last = recent.first else { return (0, Journal.genesis, incomplete) }
        let count = try countFromHead(last: last, before: recent.dropFirst().first) ?? read().lines.count
        return (count, Journal.digest(last), incomplete)
    }

    /// The line count journal.head vouches for: it names the last line, or the one before it
    /// (the last line was written and synced, the head not yet), and that line's own number agrees.
    private func countFromHead(last: [UInt8], before: [UInt8]?) throws -> Int? {
        guard try FS.info(headPath) != nil,
              case .object(let h)? = try? JSON.parse(FS.readFile(headPath, limit: 4096), what: "journal.head"),
              case .int(let n)? = h["n"], case .string(let d)? = h["sha256"],
              case .object(let line)? = try? JSON.parse(last, what: "journal"), case .int(let k)? = line["n"] else { return nil }
        if d == Journal.digest(last) && n == k { return Int(k) }
        if let before, d == Journal.digest(before), n + 1 == k { return Int(k) }
        return nil
    }

    /// Visits the complete lines from the last to the first, reading the file backwards a block
    /// at a time, while `visit` returns true. Returns the length of an unterminated last line.
    @discardableResult
    func scanBackward(block: Int64 = 64 << 10, _ visit: ([UInt8]) throws -> Bool) throws -> Int {
        guard try FS.info(path) != nil else { return 0 }
        let fd = try FileDescriptor.open(path)
        defer { try? fd.close() }
        var start = try fd.size()
        var pending: [UInt8] = []  // bytes from `start` up to the end of the line being looked for
        var incomplete: Int?
        while true {
            if let i = pending.lastIndex(of: 10) {
                let line = Array(pending[(i + 1)...])
                pending.removeSubrange(i...)
                if incomplete == nil {
                    incomplete = line.count
                } else if try !visit(line) {
                    return incomplete!
                }
            } else if start > 0 {
                let from = max(0, start - block)
                pending = try JournalFileIO.read(fd, from: from, count: Int(start - from)) + pending
                start = from
            } else {
                // At the start of the file: what is left is the first line (none without a newline).
                guard let incomplete else { return pending.count }
                _ = try visit(pending)
                return incomplete
            }
        }
    }
}

/// The file calls the journal needs beyond `FS`.
private enum JournalFileIO {
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
