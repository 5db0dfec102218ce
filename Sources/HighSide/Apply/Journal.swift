import BundleFormat
import Support
import SystemIO
#if canImport(Glibc)
import Glibc
#endif

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
        let (lines, incomplete) = try read()
        var members = fields
        if incomplete > 0 {
            let fd = try FileDescriptor.open(path, flags: O_WRONLY)
            if ftruncate(fd.raw, off_t(try fd.size() - Int64(incomplete))) != 0 { throw systemError("truncate", path) }
            members["dropped"] = .string("an incomplete last line of \(incomplete) bytes, cut short by a crash")
        }
        members["event"] = .string(event)
        members["time"] = .string(Timestamp.format(Timestamp.now()))
        members["prev"] = .string(lines.last.map(Journal.digest) ?? Journal.genesis)
        members["n"] = .int(Int64(lines.count + 1))
        let line = JSON.object(members).canonicalBytes
        let fd = try FileDescriptor.open(path, flags: O_WRONLY | O_CREAT | O_APPEND, mode: 0o644)
        try fd.write(line + [10])
        try fd.sync()
        try FS.writeAtomically(headPath, JSON.object(["n": .int(Int64(lines.count + 1)), "sha256": .string(Journal.digest(line))]).canonicalBytes)
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
        let (lines, _) = try read()
        return (lines.count, lines.last.map(Journal.digest) ?? Journal.genesis)
    }

    /// The version the journal last recorded as current (by an apply, a rollback or a recovery).
    /// Each line is read on its own: a broken chain is for `verify` to report, not a reason to
    /// record the same recovery again and again.
    func lastCurrent() throws -> String? {
        for raw in try read().lines.reversed() {
            guard case .object(let e)? = try? JSON.parse(raw, what: "journal") else { continue }
            switch e["event"] {
            case .string("apply")?, .string("recover")?:
                if case .string(let id)? = e["versionId"] { return id }
            case .string("rollback")?:
                if case .string(let id)? = e["to"] { return id }
            default: continue
            }
        }
        return nil
    }
}
