import Foundation
import Testing

/// Issue 13, item 3: a mirror never stuck. `switch` goes forward again after a rollback,
/// `repair` rebuilds a version damaged in place from its own bundle, and the files retained
/// versions share by hard link are stored without write permission. Through the built tools.
@Suite("Switch, repair, and the files versions share")
struct SwitchRepairTests {
    /// A mirror with versions 1-3 applied (3 current); every tree holds `feed/shared.json`
    /// (one file on disk, shared by hard link) and its own `feed/r.json`. Version 3 is a delta
    /// against 2 when `delta`.
    final class Fixture {
        let s: Scratch
        let key: String, pub: String
        var bundles: [String] = []
        var mirror: String { s.at("mirror") }
        var shared: String { mirror + "/current/advisories/feed/shared.json" }

        init(delta: Bool = false, count: Int = 3) throws {
            s = try Scratch()
            (key, pub) = try s.key("ops")
            for n in 1...count {
                try sh("mkdir -p \(s.path)/t\(n) && echo '{\"shared\": true}' > \(s.path)/t\(n)/shared.json && echo 'record \(n)' > \(s.path)/t\(n)/r.json")
                let spec = try s.spec("\(n).yaml", sequence: n, sources: [("feed", "advisories", s.at("t\(n)"))])
                if delta && n == 3 {
                    let r = try bundlectl("build", spec, "--key", key, "--output", s.at("3.bundle"), "--base", bundles[1])
                    #expect(r.status == 0, "\(r.text)")
                    bundles.append(s.at("3.bundle"))
                } else {
                    bundles.append(try s.build(spec, key: key, output: "\(n).bundle"))
                }
            }
            #expect(try mirrorctl("init", "--mirror", mirror, "--trust", pub).status == 0)
            for b in bundles.prefix(3) { #expect(try mirrorctl("apply", b, "--mirror", mirror).status == 0) }
        }

        func id(_ n: Int) throws -> String {
            try sh("ls \(mirror)/versions | grep '^\(n)-'").trimmingCharacters(in: .whitespacesAndNewlines)
        }
        func currentID() throws -> String {
            try FileManager.default.destinationOfSymbolicLink(atPath: mirror + "/current").split(separator: "/")[1].description
        }
        func highest() throws -> String { try sh("python3 -c 'import json;print(json.load(open(\"\(mirror)/state.json\"))[\"highestSequence\"])'") }
        func lastEvent() throws -> String {
            try sh("tail -1 \(mirror)/journal.jsonl | python3 -c 'import json,sys;print(json.load(sys.stdin)[\"event\"])'")
        }
    }

    @Test("after a rollback, switch makes the newer version current again; by sequence or id; the replay guard stays")
    func forwardAgain() throws {
        let f = try Fixture()
        #expect(try mirrorctl("rollback", "--mirror", f.mirror).status == 0)
        #expect(try f.currentID() == f.id(2))

        let replay = try mirrorctl("apply", f.bundles[2], "--mirror", f.mirror)
        #expect(replay.status == 1 && replay.err.contains("version 3 is retained here: `mirrorctl switch 3` makes it current again"), "\(replay.err)")

        let r = try mirrorctl("switch", "3", "--mirror", f.mirror)
        #expect(r.status == 0 && r.out.contains("switched   from v2 (sequence 2) to v3 (sequence 3)"), "\(r.text)")
        #expect(try f.currentID() == f.id(3))
        #expect(try f.lastEvent() == "switch\n")
        #expect(try f.highest() == "3\n")
        #expect(try mirrorctl("verify", "--mirror", f.mirror).status == 0)
        #expect(try mirrorctl("log", "--mirror", f.mirror).out.contains("switch    \(try f.id(2)) -> \(try f.id(3))"))
        // No "recover" line: the switch was journaled as what moved `current`.
        #expect(try mirrorctl("status", "--mirror", f.mirror).status == 0)
        #expect(try f.lastEvent() == "switch\n")

        let back = try mirrorctl("switch", try f.id(1), "--mirror", f.mirror, "--json")
        #expect(back.status == 0 && back.out.contains("\"moved\":true") && back.out.contains("\"sequence\":1"), "\(back.text)")
        #expect(try f.currentID() == f.id(1))
        // Still no going below the mark: bundle 2 again is a replay.
        #expect(try mirrorctl("apply", f.bundles[1], "--mirror", f.mirror).status == 1)
        #expect(try f.highest() == "3\n")
    }

    @Test("switch to the current version changes nothing; an unknown one is a usage error naming what is retained")
    func switchNothingOrUnknown() throws {
        let f = try Fixture()
        let before = try MirrorSnapshot(f.mirror)
        let lines = try sh("wc -l < \(f.mirror)/journal.jsonl")
        let same = try mirrorctl("switch", "3", "--mirror", f.mirror)
        #expect(same.status == 0 && same.out.contains("is current already; nothing changed"), "\(same.text)")
        #expect(try sh("wc -l < \(f.mirror)/journal.jsonl") == lines)
        for wanted in ["9", "../../etc", "3-000000000000"] {
            let r = try mirrorctl("switch", wanted, "--mirror", f.mirror)
            #expect(r.status == 2, "\(r.text)")
            #expect(r.err.contains("retained: \(try f.id(1)), \(try f.id(2)), \(try f.id(3)) (by id or by sequence)"), "\(r.err)")
        }
        #expect(try MirrorSnapshot(f.mirror) == before)
    }

    @Test("version files are stored without write bits, FILES.json keeps the signed mode, and mirrors with writable files stay intact")
    func storedReadOnly() throws {
        let f = try Fixture()
        #expect(try sh("stat -c %a \(f.shared)") == "444\n")
        #expect(try sh("stat -c %h \(f.shared)") == "3\n", "one file shared by the three versions")
        #expect(try sh("python3 -c 'import json;print(sorted({oct(e[1]) for e in json.load(open(\"\(f.mirror)/versions/\(try f.id(3))/FILES.json\"))[\"files\"]}))'") == "['0o644']\n")
        // As before this change: files in their listed mode. Still intact, and the next apply
        // drops the write bits of what it shares.
        try sh("chmod 644 \(f.mirror)/versions/*/tree/advisories/feed/*.json")
        #expect(try mirrorctl("verify", "--mirror", f.mirror).status == 0)
        try sh("mkdir -p \(f.s.path)/t4 && cp \(f.s.path)/t3/* \(f.s.path)/t4/ && echo 'record 4' > \(f.s.path)/t4/r.json")
        let b4 = try f.s.build(try f.s.spec("4.yaml", sequence: 4, sources: [("feed", "advisories", f.s.at("t4"))]), key: f.key, output: "4.bundle")
        #expect(try mirrorctl("apply", b4, "--mirror", f.mirror).status == 0)
        #expect(try sh("stat -c '%a %h' \(f.shared)") == "444 3\n")
        #expect(try mirrorctl("verify", "--mirror", f.mirror).status == 0)
        // A mode nobody signed is still named.
        try sh("chmod 666 \(f.shared)")
        let v = try mirrorctl("verify", "--mirror", f.mirror)
        #expect(v.status == 1 && v.out.contains("mode changed: advisories/feed/shared.json (mode 666, listed 644)"), "\(v.text)")
    }

    @Test("a shared file edited in place: verify names it, rollback and replay point at repair, repair rebuilds each version; guard unchanged")
    func repairAfterEditInPlace() throws {
        let f = try Fixture()
        try sh("echo 'edited' >> \(f.shared)")  // root writes through the missing write bits
        let v = try mirrorctl("verify", "--mirror", f.mirror)
        #expect(v.status == 1 && v.out.contains("changed: advisories/feed/shared.json"), "\(v.text)")
        let rb = try mirrorctl("rollback", "--mirror", f.mirror)
        #expect(rb.status == 1 && rb.err.contains("not rolling back to it (`mirrorctl repair` rebuilds it from its bundle)"), "\(rb.err)")
        let replay = try mirrorctl("apply", f.bundles[2], "--mirror", f.mirror)
        #expect(replay.status == 1 && replay.err.contains("`mirrorctl repair` rebuilds it if damaged"), "\(replay.err)")

        let r = try mirrorctl("repair", f.bundles[2], "--mirror", f.mirror)
        #expect(r.status == 0, "\(r.text)")
        #expect(r.out.contains("repaired  v3 (sequence 3, version \(try f.id(3))), the current version"), "\(r.out)")
        #expect(r.out.contains("found     changed: advisories/feed/shared.json (size 24, expected 17)"), "\(r.out)")
        #expect(r.out.contains("1 intact files linked"), "\(r.out)")
        #expect(try mirrorctl("verify", "--mirror", f.mirror).status == 0)
        #expect(try sh("cat \(f.shared)") == "{\"shared\": true}\n")
        #expect(try sh("stat -c '%a %h' \(f.shared)") == "444 1\n", "the repaired file is the version's own")
        #expect(try f.lastEvent() == "repair\n")
        #expect(try f.highest() == "3\n")
        #expect(try sh("ls -A \(f.mirror)/staging") == "", "the damaged tree is gone")

        // The older versions still hold the edited file: switch refuses until each is repaired.
        let sw = try mirrorctl("switch", "2", "--mirror", f.mirror)
        #expect(sw.status == 1 && sw.err.contains("not switching to it (`mirrorctl repair` rebuilds it from its bundle)"), "\(sw.err)")
        for n in [1, 2] {
            let rn = try mirrorctl("repair", f.bundles[n - 1], "--mirror", f.mirror, "--json")
            #expect(rn.status == 0 && rn.out.contains("\"current\":false") && rn.out.contains("\"sequence\":\(n)"), "\(rn.text)")
            #expect(try mirrorctl("switch", "\(n)", "--mirror", f.mirror).status == 0)
            #expect(try mirrorctl("verify", "--mirror", f.mirror).status == 0)
        }
        #expect(try f.highest() == "3\n")
    }

    @Test("repair refuses a bundle this mirror never applied, a pruned version's, and a bundle whose bytes were altered; nothing changes")
    func repairRefusals() throws {
        let f = try Fixture(count: 4)  // 4.bundle built, not applied
        try sh("echo 'edited' >> \(f.shared)")
        let before = try MirrorSnapshot(f.mirror)
        let never = try mirrorctl("repair", f.bundles[3], "--mirror", f.mirror)
        #expect(never.status == 1 && never.err.contains("this mirror never applied this bundle (sequence 4"), "\(never.err)")

        let altered = f.s.at("3-altered.bundle")
        try sh("cp \(f.bundles[2]) \(altered)")
        try flipByte(altered, at: -700)
        let bad = try mirrorctl("repair", altered, "--mirror", f.mirror)
        #expect(bad.status == 1, "\(bad.text)")
        #expect(try MirrorSnapshot(f.mirror) == before)
        #expect(try mirrorctl("verify", "--mirror", f.mirror).status == 1, "still damaged: nothing was half-repaired")

        // Version 1 is pruned once 4 is applied: its bundle no longer repairs anything.
        #expect(try mirrorctl("repair", f.bundles[2], "--mirror", f.mirror).status == 0)
        #expect(try mirrorctl("apply", f.bundles[3], "--mirror", f.mirror).status == 0)
        let pruned = try mirrorctl("repair", f.bundles[0], "--mirror", f.mirror)
        #expect(pruned.status == 1 && pruned.err.contains("was applied here but is no longer retained (pruned)"), "\(pruned.err)")
        #expect(try sh("grep -c '\"command\":\"repair\"' \(f.mirror)/journal.jsonl") == "3\n", "each refusal journaled")
    }

    @Test("a delta version is repaired from its delta bundle over its intact base; from volumes too")
    func repairDeltaAndVolumes() throws {
        let f = try Fixture(delta: true)
        try sh("chmod u+w \(f.mirror)/current/advisories/feed/r.json && echo 'record X' > \(f.mirror)/current/advisories/feed/r.json")
        #expect(try mirrorctl("verify", "--mirror", f.mirror).status == 1)
        let r = try mirrorctl("repair", f.bundles[2], "--mirror", f.mirror)
        #expect(r.status == 0, "\(r.text)")
        #expect(try mirrorctl("verify", "--mirror", f.mirror).status == 0)
        #expect(try sh("cat \(f.mirror)/current/advisories/feed/r.json") == "record 3\n")

        // The same damage again, repaired from the bundle's volumes.
        try sh("rm \(f.mirror)/current/advisories/feed/r.json")
        let vols = f.s.at("vols")
        #expect(try bundlectl("media", "write", f.bundles[2], "--to", vols, "--create", "--volume-size", "1M", "--key", f.key).status == 0)
        let rv = try mirrorctl("repair", vols, "--mirror", f.mirror)
        #expect(rv.status == 0 && rv.out.contains("found     missing: advisories/feed/r.json"), "\(rv.text)")
        #expect(try mirrorctl("verify", "--mirror", f.mirror).status == 0)
        #expect(try sh("ls -A \(f.mirror)/incoming 2>/dev/null || true") == "", "the reassembled copy is removed")
    }
}
