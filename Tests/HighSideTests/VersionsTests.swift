@testable import Apply
import BundleFormat
import Support
import Testing

@Suite("Version names, scratch names, pruning and the rollback target")
struct VersionsTests {
    let digest = Fixture.digest("manifest")

    @Test("a version id is the sequence and 12 hex digits of the manifest digest")
    func versionID() {
        let id = VersionID.make(sequence: 42, manifest: digest)
        #expect(id == "42-" + digest.hex.prefix(12))
        #expect(VersionID.sequence(of: id) == 42)
        #expect(VersionID.isValid(id))
    }

    @Test("malformed version ids are not versions", arguments: ["42", "x-0123456789ab", "42-0123456789a", "42-0123456789abc", "42-0123456789ag", "1-2-3", ""])
    func invalid(_ id: String) {
        #expect(!VersionID.isValid(id))
    }

    @Test("current points at versions/<id>/tree and nothing else")
    func currentLink() {
        let id = VersionID.make(sequence: 3, manifest: digest)
        #expect(VersionID.fromCurrentLink("versions/\(id)/tree") == id)
        for other in ["versions/\(id)", "/versions/\(id)/tree/x", "elsewhere/\(id)/tree", "versions/3-zz/tree", "../\(id)/tree"] {
            #expect(VersionID.fromCurrentLink(other) == nil, "\(other)")
        }
    }

    @Test("scratch names are what an interrupted atomic write leaves", arguments: [
        ("state.json.tmp-1234", true), ("mirror.json.tmp-1", true), (".tmp-9", true),
        ("state.json.tmp-", false), ("state.json.tmp-12a", false), ("state.json-1234", false), ("state.json", false), ("current", false),
    ])
    func scratch(_ name: String, _ expected: Bool) {
        #expect(Recovery.isScratch(name) == expected)
    }

    func id(_ sequence: Int64) -> String { VersionID.make(sequence: sequence, manifest: Fixture.digest("\(sequence)")) }

    @Test("pruning keeps the newest three by sequence, and never the current one")
    func prune() {
        let state = MirrorState(channel: "feeds", highestSequence: 5, versions: [id(5), id(1), id(4), id(2), id(3)])
        #expect(Set(Record.prunable(state, current: id(5))) == [id(1), id(2)])
        #expect(Set(Record.prunable(state, current: id(1))) == [id(2)])
        #expect(Record.prunable(MirrorState(versions: [id(1), id(2), id(3)]), current: id(3)).isEmpty)
    }

    @Test("the next state appends the new version, follows its channel and sequence, and prunes")
    func next() {
        let state = MirrorState(channel: nil, highestSequence: 3, versions: [id(1), id(2), id(3)])
        let (next, pruned) = Record.next(state, id: id(4), manifest: Fixture.manifest(sequence: 4))
        #expect(pruned == [id(1)])
        #expect(next == MirrorState(channel: "feeds", highestSequence: 4, versions: [id(2), id(3), id(4)]))
        // Re-applying a version already retained moves it to the end; the highest sequence never drops.
        let again = Record.next(MirrorState(highestSequence: 9, versions: [id(2), id(3)]), id: id(2), manifest: Fixture.manifest(sequence: 2))
        #expect(again.state.versions == [id(3), id(2)] && again.state.highestSequence == 9 && again.pruned.isEmpty)
    }

    @Test("rollback goes to the newest retained version older than current")
    func rollbackTarget() {
        let state = MirrorState(versions: [id(4), id(1), id(3), id(6)])
        #expect(Rollback.target(state, current: id(6)) == id(4))
        #expect(Rollback.target(state, current: id(3)) == id(1))
        #expect(Rollback.target(state, current: id(1)) == nil)
    }

    @Test("switch names a retained version by id or by sequence; anything else is refused listing what is retained")
    func switchTarget() throws {
        let state = MirrorState(versions: [id(4), id(3), id(6)])
        #expect(try Rollback.resolve(id(3), in: state) == id(3))
        #expect(try Rollback.resolve("6", in: state) == id(6))
        for wanted in ["5", "-1", "9223372036854775808", "3-000000000000", "../versions", ""] {
            #expect(throws: ToolError.self) { try Rollback.resolve(wanted, in: state) }
        }
        let e = try #require(throws: ToolError.self) { try Rollback.resolve("5", in: state) }
        #expect(e.message == "no retained version has sequence 5; retained: \(id(3)), \(id(4)), \(id(6)) (by id or by sequence)")
        #expect(e.status == .usage)
    }

    @Test("stored files lose their write bits; both the stored and the listed mode are intact")
    func storedMode() {
        #expect(StoredMode.of(0o644) == 0o444 && StoredMode.of(0o755) == 0o555)
        #expect(StoredMode.matches(0o444, listed: 0o644) && StoredMode.matches(0o644, listed: 0o644))
        #expect(StoredMode.matches(0o555, listed: 0o755) && StoredMode.matches(0o755, listed: 0o755))
        #expect(!StoredMode.matches(0o666, listed: 0o644) && !StoredMode.matches(0o555, listed: 0o644) && !StoredMode.matches(0o4755, listed: 0o755))
    }
}
