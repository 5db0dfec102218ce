import Foundation
import Testing

/// A mirror that applied sequences 1 and 2 of a tiny channel and rolled back to 1: the replay
/// guard (2) is above the current version (1), so a guard reset to `current` lets 2 in again.
struct RolledBackMirror {
    let s: Scratch
    let key: String, pub: String
    let mirror: String
    let bundles: [String]

    init() throws {
        s = try Scratch()
        (key, pub) = try s.key("op")
        let made = try s.smallBundles(3, key: key)
        bundles = made
        mirror = s.at("mirror")
        try sh("""
            \(Env.mirrorctl) init --mirror \(mirror) --trust \(pub)
            \(Env.mirrorctl) apply \(made[0]) --mirror \(mirror) && \(Env.mirrorctl) apply \(made[1]) --mirror \(mirror)
            \(Env.mirrorctl) rollback --mirror \(mirror)
            """)
    }

    func size(_ file: String) throws -> Int {
        Int(try sh("stat -c %s \(mirror)/\(file)").trimmingCharacters(in: .whitespacesAndNewlines)) ?? -1
    }
}

@Suite("Bounds: the journal, the replay guard, the index and incoming/ cannot be grown or reset from outside")
struct BoundsAttackTests {
    @Test("item 8: 20,000 junk files named like volumes add a bounded entry, and the refusal counts them")
    func junkVolumes() throws {
        let f = try RolledBackMirror()
        let junk = f.s.at("junk")
        try sh("mkdir -p \(junk) && cd \(junk) && python3 -c 'import os\nfor i in range(1, 20001): open(\"feeds-9.%05dof20000.vol\" % i, \"w\").close()'")
        let before = try MirrorSnapshot(f.mirror)
        for attempt in 1...2 {
            let size = try f.size("journal.jsonl")
            let r = try mirrorctl("apply", junk, "--mirror", f.mirror)
            #expect(r.status == 1, "\(r.text)")
            #expect(r.err.contains("are not a complete, intact set, nothing was changed") && r.err.contains("and 19,995 more"), "\(r.err.prefix(2000))")
            #expect(r.err.split(separator: "\n").count == 1 && r.err.utf8.count < 4096, "attempt \(attempt): \(r.err.utf8.count) bytes")
            let grown = try f.size("journal.jsonl") - size
            #expect(grown > 0 && grown < 4096, "attempt \(attempt) added \(grown) bytes to the journal")
        }
        #expect(try MirrorSnapshot(f.mirror) == before)
        let log = try mirrorctl("log", "--mirror", f.mirror)
        #expect(log.status == 0 && log.out.contains("and 19,995 more"), "\(log.err)")
        #expect(try mirrorctl("verify", "--mirror", f.mirror).status == 0)
    }

    @Test("item 8: a 50 MB line in the journal is named by verify and log, never held; status and apply go on")
    func hugeLine() throws {
        let f = try RolledBackMirror()
        // Inserted as line 3: the chain breaks there, and the lines after it are still the journal's end.
        try sh("""
            cd \(f.mirror) && python3 -c 'import sys
            lines = open("journal.jsonl", "rb").read().split(b"\\n")
            lines.insert(2, b"x" * (50 << 20))
            open("journal.jsonl", "wb").write(b"\\n".join(lines))'
            """)
        let v = try mirrorctl("verify", "--mirror", f.mirror)
        #expect(v.status == 1 && v.out.contains("journal line 3 is longer than 16 MiB, longer than any journal entry"), "\(v.text)")
        let log = try mirrorctl("log", "--mirror", f.mirror)
        #expect(log.status == 1 && log.out.split(separator: "\n").count == 2 && log.err.contains("journal line 3 is longer than 16 MiB"), "\(log.err)")
        #expect(try mirrorctl("status", "--mirror", f.mirror).status == 0)
        let r = try mirrorctl("apply", f.bundles[2], "--mirror", f.mirror)
        #expect(r.status == 0, "\(r.text)")
    }

    /// (what is done to state.json, what the refusal quotes as recorded)
    @Test("item 9: a replay guard lowered in state.json is refused, naming both values; nothing changes", arguments: [
        (#"s/"highestSequence":2/"highestSequence":"abc"/"#, #"records highest sequence "abc", but the journal's hash-chained history has applied sequence 2"#),
        (#"s/"highestSequence":2/"highestSequence":1/"#, "records highest sequence 1, but the journal's hash-chained history has applied sequence 2"),
        (#"s/"highestSequence":2/"highestSequence":null/"#, "records highest sequence none, but the journal's hash-chained history has applied sequence 2"),
        (#"s/"highestSequence":2/"highestSequence":1.5/"#, "is not a mirror state (state.json is not valid JSON"),
    ])
    func loweredGuard(_ edit: String, _ message: String) throws {
        let f = try RolledBackMirror()
        try sh("cd \(f.mirror) && sed -i '\(edit)' state.json")
        let before = try MirrorSnapshot(f.mirror)
        let journal = try sh("cat \(f.mirror)/journal.jsonl")
        for args in [["apply", f.bundles[1]], ["apply", f.bundles[1], "--dry-run"], ["status"]] {
            let r = try mirrorctl(args + ["--mirror", f.mirror])
            #expect(r.status == 1, "\(args): \(r.text)")
            #expect(r.err.contains(message) && r.err.split(separator: "\n").count == 1, "\(args): \(r.err)")
        }
        #expect(try MirrorSnapshot(f.mirror) == before)
        #expect(try sh("cat \(f.mirror)/journal.jsonl") == journal)
    }

    @Test("item 9: a deleted state.json is rebuilt from the journal; the replayed bundle is still refused")
    func deletedState() throws {
        let f = try RolledBackMirror()
        let versions = try sh("ls \(f.mirror)/versions")
        try sh("rm \(f.mirror)/state.json")
        let replay = try mirrorctl("apply", f.bundles[1], "--mirror", f.mirror)
        #expect(replay.status == 1 && replay.err.contains("has sequence 2, but this mirror has already applied sequence 2"), "\(replay.text)")
        #expect(replay.err.contains("state.json was missing: rebuilt from the journal (highest sequence 2"), "\(replay.err)")
        // Both retained versions survive the rebuild (rollback can still reach them).
        #expect(try sh("ls \(f.mirror)/versions") == versions)
        let state = try sh("cat \(f.mirror)/state.json")
        #expect(state.contains("\"highestSequence\":2") && state.contains("\"channel\":\"feeds\""), "\(state)")
        #expect(try mirrorctl("apply", f.bundles[2], "--mirror", f.mirror).status == 0)
        #expect(try mirrorctl("verify", "--mirror", f.mirror).status == 0)
    }

    @Test("item 11: a bundle above the file or index limit is refused before its index is read, naming the flag")
    func indexLimits() throws {
        let s = try Scratch()
        let (key, pub) = try s.key("op")
        try sh("mkdir -p \(s.path)/many && cd \(s.path)/many && python3 -c 'for i in range(1200): open(\"f%04d\" % i, \"w\").close()'")
        let bundle = try s.build(try s.spec(sequence: 1, sources: [("many", "advisories", s.at("many"))]), key: key, output: "many.bundle")
        let m = s.at("mirror")
        #expect(try mirrorctl("init", "--mirror", m, "--trust", pub).status == 0)
        let before = try MirrorSnapshot(m)
        for dry in [["--dry-run"], []] {
            let files = try mirrorctl(["apply", bundle, "--mirror", m, "--max-files", "1000"] + dry)
            #expect(files.status == 1, "\(files.text)")
            #expect(files.err.contains("lists 1,200 files, more than this mirror's limit of 1,000; raise it with --max-files"), "\(files.err)")
            let index = try mirrorctl(["apply", bundle, "--mirror", m, "--max-index-bytes", "1000"] + dry)
            #expect(index.status == 1 && index.err.contains("more than this mirror's limit of 1,000 bytes; raise it with --max-index-bytes"), "\(index.err)")
            #expect(files.err.split(separator: "\n").count == 1 && index.err.split(separator: "\n").count == 1)
        }
        #expect(try MirrorSnapshot(m) == before)
        #expect(try mirrorctl("apply", bundle, "--mirror", m, "--max-files", "1200", "--max-index-bytes", "1000000").status == 0)
        #expect(try sh("ls \(m)/current/advisories/many | wc -l").trimmingCharacters(in: .whitespacesAndNewlines) == "1200")
    }

    @Test("item 12: volumes declaring more than the free space are refused before anything is copied")
    func volumesAboveFreeSpace() throws {
        let f = try RolledBackMirror()
        let free = Int64(try sh("python3 -c 'import os; s = os.statvfs(\"\(f.mirror)\"); print(s.f_bavail * s.f_frsize)'")
            .trimmingCharacters(in: .whitespacesAndNewlines)) ?? 0
        // Sparse: the volume costs no disk. ext4 files end at 16 TiB.
        let size = free + (1 << 30)
        guard free > 0, size < 15 << 40 else { return }
        let vol = try sh("python3 \(Env.packageRoot)/Tests/Tools/craft_volume.py \(f.s.at("vols")) \(f.key) \(size)")
            .trimmingCharacters(in: .whitespacesAndNewlines)
        let before = try MirrorSnapshot(f.mirror)
        for dry in [["--dry-run"], []] {
            let r = try mirrorctl(["apply", vol, "--mirror", f.mirror] + dry)
            #expect(r.status == 3, "\(r.text)")
            #expect(r.err.contains("make a \(grouped(size))-byte bundle, but the mirror's file system has") && r.err.contains("bytes free") && r.err.contains("nothing was copied"), "\(r.err)")
            #expect(!FileManager.default.fileExists(atPath: f.mirror + "/incoming"))
        }
        #expect(try MirrorSnapshot(f.mirror) == before)
        #expect(try sh("tail -n 1 \(f.mirror)/journal.jsonl").contains("\"event\":\"fail\""))
    }

    @Test("item 12: the copy of a refused bundle is removed from incoming/")
    func refusedCopyRemoved() throws {
        let f = try MediaFixture()
        let m = try f.mirror()
        #expect(try mirrorctl(["apply", f.vols, "--mirror", m]).status == 0)
        let replay = try mirrorctl(["apply", f.vols, "--mirror", m])
        #expect(replay.status == 1 && replay.err.contains("already applied sequence 7"), "\(replay.text)")
        #expect(!FileManager.default.fileExists(atPath: m + "/incoming"))
    }
}
