import Foundation
import Testing

/// Issue 15: apply trusts carried files through the stamps the mirror recorded when it last knew
/// their bytes (device, inode, size, both times, mode), and re-hashes any file whose stamp no
/// longer holds. Through the built tools.
@Suite("Stamps: carried files trusted without reading them, and every change in place still caught")
struct StampTests {
    /// A mirror with version 1 (feed/a.json, b.json, c.json) applied, and a delta 2 that changes
    /// c.json only, so a.json and b.json are carried from the current version.
    final class Fixture {
        let s: Scratch
        let key: String, pub: String
        var full: String = "", delta: String = ""
        var mirror: String { s.at("mirror") }
        var a: String { mirror + "/current/advisories/feed/a.json" }

        init() throws {
            s = try Scratch()
            (key, pub) = try s.key("ops")
            try sh("""
                mkdir -p \(s.path)/t1 \(s.path)/t2 && cd \(s.path)
                printf '{"id": "A-1", "modified": "2024-01-01"}\\n' > t1/a.json
                printf '{"id": "B-1"}\\n' > t1/b.json && printf '{"id": "C-1"}\\n' > t1/c.json
                cp t1/a.json t1/b.json t2/ && printf '{"id": "C-1", "withdrawn": "2024-02-01"}\\n' > t2/c.json
                """)
            full = try s.build(try s.spec("1.yaml", sequence: 1, sources: [("feed", "advisories", s.at("t1"))]), key: key, output: "1.bundle")
            let r = try bundlectl("build", try s.spec("2.yaml", sequence: 2, sources: [("feed", "advisories", s.at("t2"))]),
                                  "--key", key, "--output", s.at("2.bundle"), "--base", full)
            #expect(r.status == 0, "\(r.text)")
            delta = s.at("2.bundle")
            #expect(try mirrorctl("init", "--mirror", mirror, "--trust", pub).status == 0)
            #expect(try mirrorctl("apply", full, "--mirror", mirror).status == 0)
        }

        func inode(_ path: String) throws -> String { try sh("stat -c %i \(path)") }
        func stamps(_ n: Int) throws -> String { try sh("cat \(mirror)/versions/$(ls \(mirror)/versions | grep '^\(n)-')/STAMPS") }
    }

    @Test("each version gets its stamps, one line per listed file; the delta links what they vouch for")
    func recorded() throws {
        let f = try Fixture()
        let lines = try f.stamps(1).split(separator: "\n")
        #expect(lines.count == 4 && lines[0].hasPrefix("airgap-stamps/1 3 "), "\(lines)")
        let before = try f.inode(f.a)
        let r = try mirrorctl("apply", f.delta, "--mirror", f.mirror)
        #expect(r.status == 0 && r.out.contains("2 unchanged files shared by hard link"), "\(r.text)")
        #expect(try f.inode(f.a) == before)
        #expect(try f.stamps(2).split(separator: "\n").count == 4)
        #expect(try mirrorctl("verify", "--mirror", f.mirror).status == 0)
    }

    @Test("a carried file changed in place with its times restored: re-hashed, the apply refused, nothing changed")
    func contentWithTimesRestored() throws {
        let f = try Fixture()
        // Same size, other bytes, and both times set back as they were: only the change time,
        // which no one can set back, still says it was written.
        try sh("""
            python3 - '\(f.a)' <<'EOF'
            import os, sys
            p = sys.argv[1]; st = os.stat(p)
            os.chmod(p, 0o644)
            data = open(p, 'rb').read(); open(p, 'r+b').write(data.replace(b'A-1', b'A-2'))
            os.chmod(p, st.st_mode & 0o7777)
            os.utime(p, ns=(st.st_atime_ns, st.st_mtime_ns))
            EOF
            """)
        let before = try MirrorSnapshot(f.mirror)
        let r = try mirrorctl("apply", f.delta, "--mirror", f.mirror)
        #expect(r.status == 1 && r.err.contains("the current version is damaged: 'advisories/feed/a.json' no longer has its signed bytes"), "\(r.text)")
        #expect(try MirrorSnapshot(f.mirror) == before)
    }

    @Test("a carried file whose mode was changed is not linked: the new version gets its own copy in the signed mode")
    func modeChanged() throws {
        let f = try Fixture()
        try sh("chmod 666 \(f.a)")
        let before = try f.inode(f.a)
        #expect(try mirrorctl("apply", f.delta, "--mirror", f.mirror).status == 0)
        #expect(try f.inode(f.a) != before)
        #expect(try sh("stat -c %a \(f.a)") == "444\n")
        #expect(try mirrorctl("verify", "--mirror", f.mirror).status == 0)
    }

    @Test("touched but not changed, or stamps missing or garbled: re-hashed and carried as before")
    func touchedOrNoStamps() throws {
        let f = try Fixture()
        try sh("touch \(f.a)")
        let id1 = try sh("ls \(f.mirror)/versions").trimmingCharacters(in: .whitespacesAndNewlines)
        try sh("printf 'airgap-stamps/1 3 00\\n1 2 3\\n' > \(f.mirror)/versions/\(id1)/STAMPS")
        let before = try f.inode(f.a)
        let r = try mirrorctl("apply", f.delta, "--mirror", f.mirror)
        #expect(r.status == 0 && r.out.contains("2 unchanged files shared by hard link"), "\(r.text)")
        #expect(try f.inode(f.a) == before)
        #expect(try mirrorctl("verify", "--mirror", f.mirror).status == 0)
    }
}
