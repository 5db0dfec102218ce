@testable import Apply
import Support
import Testing
import SystemIO

@Suite("What apply was given: a bundle file or volumes")
struct ApplyInputTests {
    @Test("one plain file is a bundle; several inputs, a folder or a missing path are volumes")
    func classify() throws {
        let dir = try Fixture.folder()
        defer { try? FS.removeTree(dir) }
        try FS.writeAtomically(dir + "/feeds.bundle", Array("not a volume".utf8))
        try FS.writeAtomically(dir + "/other.bundle", Array("not a volume".utf8))
        #expect(try ApplyInput([dir + "/feeds.bundle"]) == .bundle(dir + "/feeds.bundle"))
        #expect(try ApplyInput([dir + "/feeds.bundle", dir + "/other.bundle"]) == .volumes([dir + "/feeds.bundle", dir + "/other.bundle"]))
        #expect(try ApplyInput([dir]) == .volumes([dir]))
        #expect(try ApplyInput([dir + "/nowhere"]) == .volumes([dir + "/nowhere"]))
    }
}
