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
///
/// Nothing reads the journal whole: appending and the replay guard read its last lines
/// backwards, `verify` and `log` stream it a line at a time. Every entry is bounded when it is
/// written (`JournalBound`), and no line longer than `maxLine` is ever held.
struct Journal {
    let path: String
    let headPath: String
    static let genesis = String(repeating: "0", count: 64)
    /// The longest line any reader holds. Entries written now are at most `JournalBound.maxEntry`
    /// bytes; this leaves room for the long entries older versions wrote (a refusal listing
    /// 20,000 junk files took 6 MB).
    static let maxLine = 16 << 20

    init(path: String) {
        self.path = path
        headPath = FS.parent(of: path) + "/journal.head"
    }

    static func digest(_ line: [UInt8]) -> String { SHA256Digest.of(line).hex }

    /// Appends one event, syncs it to disk, then records it as the head. Call with the mirror's
    /// lock held (or while creating the mirror). The entry is bounded first; it also carries the
    /// highest sequence ever applied (`highest`), so the replay guard is read from the last line.
    func append(_ event: String, _ fields: [String: JSON]) throws {
        let end = try self.end()
        var fixed: [String: JSON] = [:]
        if end.incomplete > 0 {
            try JournalFileIO.cut(path, bytes: end.incomplete)
            fixed["dropped"] = .string("an incomplete last line of \(end.incomplete) bytes, cut short by a crash")
        }
        fixed["event"] = .string(event)
        fixed["time"] = .string(Timestamp.format(Timestamp.now()))
        fixed["prev"] = .string(end.last)
        fixed["n"] = .int(Int64(end.count + 1))
        let before = try end.highest ?? highestApplied()
        fixed["highest"] = Journal.highest(before, after: event, fields).map { .int($0) } ?? .null
        let line = JSON.object(JournalBound.fit(fields, with: fixed)).canonicalBytes
        let fd = try JournalFileIO.openForAppend(path)
        try fd.write(line + [10])
        try fd.sync()
        try FS.writeAtomically(headPath, JSON.object(["n": .int(Int64(end.count + 1)), "sha256": .string(Journal.digest(line))]).canonicalBytes)
    }

    /// The highest sequence applied once `event` is recorded: an apply, or a recovery that found
    /// `current` moved to a version the journal had not recorded, raises it; nothing lowers it.
    static func highest(_ before: Int64?, after event: String, _ fields: [String: JSON]) -> Int64? {
        guard event == "apply" || (event == "recover" && fields["versionId"] != nil),
              case .int(let sequence)? = fields["sequence"] else { return before }
        return max(before ?? sequence, sequence)
    }

    /// The highest sequence the journal records as applied (nil: none yet). From the last line
    /// when it carries `highest` and journal.head vouches for it (the usual case); otherwise (a
    /// journal written before entries carried it, or a head that does not agree) from every
    /// entry, streamed. Lines that are not entries are skipped, not trusted to lower it.
    func highestApplied() throws -> Int64? {
        if let known = try end().highest { return known }
        var highest: Int64?
        _ = try JournalLines.forEach(path) { line in
            guard let line, case .object(let e)? = try? JSON.parse(line, what: "journal") else { return true }
            if case .string(let event)? = e["event"] { highest = Journal.highest(highest, after: event, e) }
            return true
        }
        return highest
    }

    /// The entries up to the first broken link, each handed to `visit` in order; returns what
    /// broke the chain or the head (nil when both hold). Streams the file: one line in memory.
    func check(_ visit: ([String: JSON]) throws -> Void = { _ in }) throws -> String? {
        var chain = ChainCheck()
        var problem: String?
        let (count, _) = try JournalLines.forEach(path) { raw in
            problem = try chain.take(raw, visit)
            return problem == nil
        }
        if let problem { return problem }
        return try checkHead(count: count, last: chain.prev, beforeLast: chain.beforePrev)
    }

    /// journal.head against the last lines, once the chain of `count` lines held.
    private func checkHead(count: Int, last: String, beforeLast: String) throws -> String? {
        guard try FS.info(headPath) != nil else {
            return count == 0 ? nil : "journal.head is missing, so the journal's last line cannot be checked"
        }
        guard case .object(let h)? = try? JSON.parseCanonical(FS.readFile(headPath, limit: 4096), what: "journal.head"),
              case .int(let n)? = h["n"], n >= 0, case .string(let d)? = h["sha256"] else {
            return "journal.head is not a journal head: it was changed"
        }
        let count = Int64(count)
        if n == count {
            guard d == last else { return "journal line \(count) was changed: it no longer matches journal.head" }
        } else if n == count - 1 && d == beforeLast {
            // The last line was written and synced, the head not yet: a crash between the two.
            // It is chained like every other line, and the next append records the head again.
        } else if n > count {
            return "the journal ends at line \(count), but journal.head records line \(n): its last \(n - count) line(s) were removed"
        } else {
            return "journal.head records line \(n) with another digest: the journal was changed"
        }
        return nil
    }

    /// Checks every link of the chain and the head; the first problem is thrown.
    func verify() throws {
        if let problem = try check() { throw ToolError.refused(problem) }
    }

    /// The number and SHA-256 of the last line, for a record kept elsewhere.
    func head() throws -> (count: Int, sha256: String) {
        let end = try tail()
        return (end.count, end.last)
    }

    /// The version the journal last recorded as current (by an apply, a rollback, a switch or a recovery).
    /// Each line is read on its own, from the end: a broken chain is for `verify` to report, not
    /// a reason to record the same recovery again and again.
    func lastCurrent() throws -> String? {
        var found: String?
        try scanBackward { raw in
            guard case .object(let e)? = try? JSON.parse(raw, what: "journal") else { return true }
            switch e["event"] {
            case .string("apply")?, .string("recover")?:
                if case .string(let id)? = e["versionId"] { found = id }
            case .string("rollback")?, .string("switch")?:
                if case .string(let id)? = e["to"] { found = id }
            default: break
            }
            return found == nil
        }
        return found
    }

    /// Visits the complete lines from the last to the first (see `JournalLines.backward`).
    @discardableResult
    func scanBackward(block: Int64 = 64 << 10, _ visit: ([UInt8]) throws -> Bool) throws -> Int {
        try JournalLines.backward(path, block: block, visit)
    }
}

/// One link after another of the hash chain, as `Journal.check` streams the lines.
private struct ChainCheck {
    var k = 0
    var prev = Journal.genesis
    var beforePrev = Journal.genesis

    /// Takes the next line (nil: longer than `Journal.maxLine`); returns the problem, if any.
    mutating func take(_ raw: [UInt8]?, _ visit: ([String: JSON]) throws -> Void) throws -> String? {
        k += 1
        guard let raw else {
            return "journal line \(k) is longer than \(Journal.maxLine >> 20) MiB, longer than any journal entry: it was changed or inserted"
        }
        guard case .object(let m)? = try? JSON.parseCanonical(raw, what: "journal line \(k)"),
              case .string(let p)? = m["prev"], case .int(let n)? = m["n"] else {
            return "journal line \(k) is not a journal entry (canonical JSON with \"n\" and \"prev\"): it was changed or inserted"
        }
        guard n == Int64(k) else {
            return "the journal's hash chain is broken at line \(k): it holds entry \(n), so lines before it were removed, inserted or reordered"
        }
        guard p == prev else {
            return k == 1
                ? "the journal's hash chain is broken at line 1: it does not start the journal, so the start was removed or changed"
                : "the journal's hash chain is broken at line \(k): journal line \(k - 1) was changed (line \(k) records another digest for it)"
        }
        (beforePrev, prev) = (prev, Journal.digest(raw))
        try visit(m)
        return nil
    }
}
