import BundleFormat
import Support
#if canImport(Glibc)
import Glibc
#endif

/// An append-only record of everything done to the mirror. Each line is canonical JSON that
/// carries the SHA-256 of the line before it, so an edit or a deleted line breaks the chain.
struct Journal {
    let path: String
    static let genesis = String(repeating: "0", count: 64)

    /// Appends one event and syncs it to disk before returning.
    func append(_ event: String, _ fields: [String: JSON]) throws {
        let lines = try readLines()
        let prev = lines.last.map { SHA256Digest.of(Array($0.utf8)).hex } ?? Journal.genesis
        var members = fields
        members["event"] = .string(event)
        members["time"] = .string(Timestamp.format(Timestamp.now()))
        members["prev"] = .string(prev)
        members["n"] = .int(Int64(lines.count + 1))
        let line = JSON.object(members).canonicalBytes + [10]
        let fd = try FileDescriptor.open(path, flags: O_WRONLY | O_CREAT | O_APPEND, mode: 0o644)
        try fd.write(line)
        try fd.sync()
    }

    func readLines() throws -> [String] {
        guard try FS.info(path) != nil else { return [] }
        let bytes = try FS.readFile(path, limit: 1 << 30)
        return String(decoding: bytes, as: UTF8.self).split(separator: "\n").map(String.init)
    }

    /// Parsed entries after checking every link of the chain; the first broken link is named.
    func verifiedEntries() throws -> [[String: JSON]] {
        var prev = Journal.genesis
        var out: [[String: JSON]] = []
        for (i, line) in try readLines().enumerated() {
            let what = "journal line \(i + 1)"
            let o = try JSONObject(JSON.parseCanonical(Array(line.utf8), what: what), what: what)
            guard try o.string("prev") == prev, try o.int("n") == Int64(i + 1) else {
                throw ToolError.refused(i == 0
                    ? "the journal's hash chain is broken at its first line: the start of the journal was removed or changed"
                    : "the journal's hash chain is broken: journal line \(i) was changed, or lines were removed or inserted before line \(i + 1)")
            }
            prev = SHA256Digest.of(Array(line.utf8)).hex
            out.append(o.members)
        }
        return out
    }
}
