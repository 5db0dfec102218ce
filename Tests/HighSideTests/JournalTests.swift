@testable import Apply
import BundleFormat
import Foundation
import Support
import Testing
import SystemIO

@Suite("Journal: appending from the head and the last lines, reading the tail backwards")
struct JournalTests {
    /// A journal in a new folder, with `events` appended ("apply:<id>", "rollback:<id>" or a plain event).
    func journal(_ events: [String]) throws -> (Journal, String) {
        let dir = try Fixture.folder()
        let j = Journal(path: dir + "/journal.jsonl")
        for e in events {
            let parts = e.split(separator: ":").map(String.init)
            switch parts[0] {
            case "apply": try j.append("apply", ["versionId": .string(parts[1])])
            case "rollback": try j.append("rollback", ["to": .string(parts[1])])
            default: try j.append(parts[0], ["reason": .string(String(repeating: "x", count: 2000))])
            }
        }
        return (j, dir)
    }

    func lines(_ j: Journal) throws -> [[UInt8]] {
        try FS.readFile(j.path).split(separator: 10).map(Array.init)
    }

    func entries(_ j: Journal) throws -> [[String: JSON]] {
        var out: [[String: JSON]] = []
        _ = try j.check { out.append($0) }
        return out
    }

    @Test("each line carries its number and the previous line's digest; the head names the last")
    func chain() throws {
        let (j, dir) = try journal(["init", "apply:1-aaaaaaaaaaaa", "refuse"])
        defer { try? FS.removeTree(dir) }
        let raw = try lines(j)
        #expect(raw.count == 3)
        guard case .object(let third) = try JSON.parse(raw[2], what: "line") else { Issue.record("not an object"); return }
        #expect(third["n"] == .int(3) && third["prev"] == .string(SHA256Digest.of(raw[1]).hex))
        #expect(try j.head() == (3, SHA256Digest.of(raw[2]).hex))
        #expect(try j.check() == nil)
        #expect(try j.tail().incomplete == 0)
    }

    @Test("an empty or missing journal starts at the genesis digest")
    func empty() throws {
        let dir = try Fixture.folder()
        defer { try? FS.removeTree(dir) }
        let j = Journal(path: dir + "/journal.jsonl")
        #expect(try j.tail() == (0, Journal.genesis, 0))
        #expect(try j.lastCurrent() == nil)
    }

    @Test("the last current version is found from the end, past other events")
    func lastCurrent() throws {
        let (j, dir) = try journal(["init", "apply:1-aaaaaaaaaaaa", "apply:2-bbbbbbbbbbbb", "rollback:1-aaaaaaaaaaaa"] + Array(repeating: "refuse", count: 300))
        defer { try? FS.removeTree(dir) }
        #expect(try FS.info(j.path)!.size > 4 * (64 << 10))  // more than one block to walk back through
        #expect(try j.lastCurrent() == "1-aaaaaaaaaaaa")
        try j.append("apply", ["versionId": .string("3-cccccccccccc")])
        #expect(try j.lastCurrent() == "3-cccccccccccc")
    }

    @Test("a head one line behind (a crash between the line and the head) is caught up")
    func staleHead() throws {
        let (j, dir) = try journal(["init", "refuse"])
        defer { try? FS.removeTree(dir) }
        let head = try FS.readFile(j.headPath)
        try j.append("refuse", [:])
        try FS.writeAtomically(j.headPath, head)
        #expect(try j.tail().count == 3)
        try j.append("refuse", [:])
        #expect(try lines(j).count == 4 && j.check() == nil)
    }

    @Test("without a head that vouches for the last line, the lines are counted", arguments: ["missing", "wrong"])
    func untrustedHead(_ how: String) throws {
        let (j, dir) = try journal(["init", "refuse", "refuse"])
        defer { try? FS.removeTree(dir) }
        if how == "missing" { try FS.remove(j.headPath) } else { try FS.writeAtomically(j.headPath, Array(#"{"n":9,"sha256":"00"}"#.utf8)) }
        #expect(try j.tail().count == 3)
        try j.append("refuse", [:])
        #expect(try entries(j).count == 4 && j.check() == nil)
    }

    @Test("an unterminated last line is dropped by the next append, and said so")
    func cutShort() throws {
        let (j, dir) = try journal(["init", "refuse"])
        defer { try? FS.removeTree(dir) }
        let fd = try FileDescriptor.open(j.path, .writeOnly, options: .append)
        try fd.write(Array(#"{"event":"apply","manif"#.utf8))
        try fd.close()
        #expect(try j.tail().incomplete == 23 && j.tail().count == 2)
        try j.append("refuse", [:])
        try j.verify()
        let entries = try entries(j)
        #expect(entries.count == 3)
        #expect(entries[2]["dropped"] == .string("an incomplete last line of 23 bytes, cut short by a crash"))
    }

    @Test("lines are found across block boundaries, the first line included")
    func blocks() throws {
        let (j, dir) = try journal(["init", "apply:1-aaaaaaaaaaaa", "refuse"])
        defer { try? FS.removeTree(dir) }
        let expected = try lines(j).reversed().map { $0 }
        for block in [Int64(1), 7, 64, 1 << 20] {
            var seen: [[UInt8]] = []
            let incomplete = try j.scanBackward(block: block) { seen.append($0); return true }
            #expect(seen == expected && incomplete == 0, "block \(block)")
        }
    }
}
