@testable import Apply
import BundleFormat
import Foundation
import Support
import SystemIO
import Testing

@Suite("Journal bounds: what one entry holds, lines read one at a time, the highest sequence carried")
struct JournalBoundsTests {
    func lines(_ j: Journal) throws -> [[UInt8]] {
        try FS.readFile(j.path).split(separator: 10).map(Array.init)
    }

    @Test("a 6 MB reason and a 20,000-name list make one entry of at most 8 KiB, saying how much was left out")
    func boundedEntry() throws {
        let dir = try Fixture.folder()
        defer { try? FS.removeTree(dir) }
        let j = Journal(path: dir + "/journal.jsonl")
        let names: [JSON] = (1...20_000).map { .string("junk-\($0).vol") }
        try j.append("refuse", ["reason": .string(String(repeating: "r", count: 6 << 20)), "removed": .array(names)])
        // Control characters are escaped six bytes each: cut further until the entry fits.
        try j.append("refuse", ["reason": .string(String(repeating: "\u{1}", count: 100_000))])
        let raw = try lines(j)
        #expect(raw.count == 2 && raw.allSatisfy { $0.count <= JournalBound.maxEntry }, "\(raw.map(\.count))")
        guard case .object(let e) = try JSON.parse(raw[0], what: "line") else { Issue.record("not an object"); return }
        #expect(e["reason"] == .string(String(repeating: "r", count: 1000) + "… (6,290,456 more bytes not recorded)"))
        guard case .array(let kept)? = e["removed"] else { Issue.record("no list"); return }
        #expect(kept.count == 17 && kept.last == .string("… and 19,984 more"))
        #expect(try j.check() == nil)
    }

    @Test("every entry carries the highest sequence applied; old journals are streamed for it")
    func highestCarried() throws {
        let dir = try Fixture.folder()
        defer { try? FS.removeTree(dir) }
        let j = Journal(path: dir + "/journal.jsonl")
        #expect(try j.highestApplied() == nil)
        try j.append("init", [:])
        try j.append("apply", ["versionId": .string("3-aaaaaaaaaaaa"), "sequence": .int(3)])
        try j.append("refuse", ["sequence": .int(9)])
        try j.append("recover", ["versionId": .string("5-bbbbbbbbbbbb"), "sequence": .int(5)])
        try j.append("rollback", ["to": .string("3-aaaaaaaaaaaa"), "sequence": .int(3)])
        try j.append("recover", ["sequence": .int(8)])
        #expect(try j.highestApplied() == 5 && j.end().highest == .some(5))
        // Without a head that vouches for the last line, every entry is read.
        try FS.remove(j.headPath)
        #expect(try j.end().highest == nil)
        #expect(try j.highestApplied() == 5)
    }

    @Test("lines are streamed: a line over the limit is handed as nil and skipped, the rest still read")
    func longLine() throws {
        let dir = try Fixture.folder()
        defer { try? FS.removeTree(dir) }
        let path = dir + "/journal.jsonl"
        try FS.writeAtomically(path, Array("short\n".utf8) + [UInt8](repeating: 120, count: 3 << 20) + Array("\nafter\ncut".utf8))
        var seen: [String?] = []
        let (count, incomplete) = try JournalLines.forEach(path, max: 1 << 20) { line in
            seen.append(line.map { String(decoding: $0, as: UTF8.self) })
            return true
        }
        #expect(seen == ["short", nil, "after"] && count == 3 && incomplete == 3)
        var first: [String?] = []
        _ = try JournalLines.forEach(path) { first.append($0.map { String(decoding: $0, as: UTF8.self) }); return false }
        #expect(first == ["short"])
    }

    @Test("reading backwards refuses a last line longer than any entry instead of holding it")
    func longLastLine() throws {
        let dir = try Fixture.folder()
        defer { try? FS.removeTree(dir) }
        let j = Journal(path: dir + "/journal.jsonl")
        try j.append("init", [:])
        let fd = try FileDescriptor.open(j.path, .writeOnly, options: .append)
        try fd.write([UInt8](repeating: 120, count: Journal.maxLine + 1))
        try fd.close()
        let error = #expect(throws: ToolError.self) { try j.tail() }
        #expect(error?.message.contains("holds a line longer than 16 MiB near its end, longer than any journal entry") == true)
    }
}
