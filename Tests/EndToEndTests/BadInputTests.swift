import Foundation
import Testing

/// A mirror with month 08 applied, and the key material to make bundles for it.
struct Fixture {
    let s: Scratch
    let key: String, pub: String
    let mirror: String
    /// A valid bundle with the next sequence (2), not yet applied.
    let next: String

    /// Each test gets its own copy (its own scratch folder, key files, bundles, specs and
    /// mirror) of what is made once per test process: building the two PyPA bundles and
    /// applying the first take seconds with the debug tools, and dozens of tests start here.
    init() throws {
        let shared = try Fixture.shared.get()
        s = try Scratch()
        let files = ["op.key", "op.pub", "1.bundle", "2.bundle", "1.yaml", "2.yaml", "mirror"].map { shared + "/" + $0 }
        try sh("cp -a \(files.joined(separator: " ")) \(s.path)/")
        (key, pub, mirror, next) = (s.at("op.key"), s.at("op.pub"), s.at("mirror"), s.at("2.bundle"))
    }

    /// The folder made once: the specs name the unpacked months inside it, so it lives until
    /// the test process exits (removed then by `atexit`).
    private static let shared = Result { () throws -> String in
        let dir = Scratch.defaultBase + "/airgap-e2e-fixture.\(getpid())"
        try sh("rm -rf \(dir) && mkdir \(dir)")
        atexit { _ = try? run("/bin/rm", ["-rf", Scratch.defaultBase + "/airgap-e2e-fixture.\(getpid())"]) }
        let s = Scratch(existing: dir)
        let (key, pub) = try s.key("op")
        let b1 = try s.build(try s.spec("1.yaml", sequence: 1, sources: [("pypa", "advisories", try s.pypa("2024-08-01"))]), key: key, output: "1.bundle")
        // A plain tar, so tests can damage one chosen entry; the compressed container has its own case.
        _ = try s.build(try s.spec("2.yaml", sequence: 2, sources: [("pypa", "advisories", try s.pypa("2024-09-01")),
                                                                   ("kev", "advisories", try s.kev("2025-06-01"))]),
                        key: key, output: "2.bundle", container: "tar")
        try sh("\(Env.mirrorctl) init --mirror \(s.at("mirror")) --trust \(pub) && \(Env.mirrorctl) apply \(b1) --mirror \(s.at("mirror"))")
        return dir
    }

    /// Applies `bundle` and checks the refusal: exit code, message, and a mirror left exactly as it was.
    func expectRefused(_ bundle: String, status: Int32, _ message: String, extra: [String] = [],
                       sourceLocation: SourceLocation = #_sourceLocation) throws {
        let before = try MirrorSnapshot(mirror)
        let r = try run(Env.mirrorctl, ["apply", bundle, "--mirror", mirror] + extra)
        #expect(r.status == status, "exit \(r.status): \(r.text)", sourceLocation: sourceLocation)
        #expect(message.isEmpty || r.err.contains(message), "message was: \(r.err)", sourceLocation: sourceLocation)
        #expect(r.err.split(separator: "\n").count == 1, "one line expected: \(r.err)", sourceLocation: sourceLocation)
        #expect(try MirrorSnapshot(mirror) == before, "the mirror changed", sourceLocation: sourceLocation)
        #expect(try mirrorctl("verify", "--mirror", mirror).status == 0, sourceLocation: sourceLocation)
    }

    func copy(_ name: String) throws -> String {
        let p = s.at(name)
        try sh("cp \(next) \(p)")
        return p
    }
}

@Suite("Bad bundles are refused and the mirror is untouched")
struct BadBundleTests {
    @Test("a bundle signed by a key the mirror does not trust")
    func unknownKey() throws {
        let f = try Fixture()
        let (other, _) = try f.s.key("stranger")
        let b = try f.s.build(f.s.at("2.yaml"), key: other, output: "stranger.bundle")
        try f.expectRefused(b, status: 1, "not in the policy")
    }

    @Test("a flipped byte in the manifest, its signature, the index, a pack or a header", arguments: [
        ("MANIFEST", 40, "signature"), ("MANIFEST.sig", 100, "MANIFEST"), ("INDEX.zst", 100, "INDEX.zst"),
        ("PACK", 1000, "pack"), ("PACK", -3000, "pack"), ("HEADER", 0, "damaged"),
    ])
    func flipped(_ entry: String, _ offset: Int, _ message: String) throws {
        let f = try Fixture()
        let b = try f.copy("flip.bundle")
        switch entry {
        case "HEADER": try flipByte(b, at: try entryOffset(b, "INDEX.zst") - 512 + 5)  // the index entry's name, breaking its checksum
        case "PACK":
            let names = try sh("bsdtar -tf \(b)").split(separator: "\n")
            let pack = String(names.first { $0.hasPrefix("packs/") } ?? "")
            let start = try entryOffset(b, pack)
            try flipByte(b, at: offset >= 0 ? start + offset : start + 200_000 + offset)
        default: try flipByte(b, at: try entryOffset(b, entry) + offset)
        }
        let r = try run(Env.mirrorctl, ["apply", b, "--mirror", f.mirror])
        #expect(r.status == 1, "\(r.text)")
        #expect(r.err.lowercased().contains(message.lowercased()), "\(r.err)")
        try f.expectRefused(b, status: 1, "")
    }

    @Test("a compressed container with a flipped byte or cut short, anywhere")
    func compressedContainer() throws {
        let f = try Fixture()
        let z = try f.s.build(f.s.at("2.yaml"), key: f.key, output: "z.bundle", container: "tar.zst")
        let size = try Int(sh("stat -c %s \(z)").trimmingCharacters(in: .whitespacesAndNewlines)) ?? 0
        for offset in [5, 200, size / 4, size / 2, size - 40, size - 2] {
            let b = f.s.at("z-flip-\(offset).bundle")
            try sh("cp \(z) \(b)")
            try flipByte(b, at: offset)
            try f.expectRefused(b, status: 1, "")
        }
        for cut in [10, size / 3, size - 5] {
            let b = f.s.at("z-cut-\(cut).bundle")
            try sh("head -c \(cut) \(z) > \(b)")
            try f.expectRefused(b, status: 1, "")
        }
        #expect(try mirrorctl("apply", z, "--mirror", f.mirror).status == 0)
    }

    @Test("a bundle cut short at many points")
    func truncated() throws {
        let f = try Fixture()
        let size = try Int(sh("stat -c %s \(f.next)").trimmingCharacters(in: .whitespacesAndNewlines)) ?? 0
        for cut in [100, 600, 1500, 3000, size / 3, size / 2, size * 2 / 3] {
            let b = f.s.at("cut-\(cut).bundle")
            try sh("head -c \(cut) \(f.next) > \(b)")
            try f.expectRefused(b, status: 1, "")
        }
    }

    @Test("a pack missing from the archive")
    func missingObject() throws {
        let f = try Fixture()
        try sh("cd \(f.s.path) && mkdir parts && bsdtar -xf \(f.next) -C parts && cd parts && bsdtar -cf ../nopack.bundle --format ustar MANIFEST MANIFEST.sig INDEX.zst")
        try f.expectRefused(f.s.at("nopack.bundle"), status: 1, "is missing")
    }

    @Test("an entry the manifest does not list, after the packs or instead of one")
    func unlistedEntry() throws {
        let f = try Fixture()
        try sh("cd \(f.s.path) && mkdir parts && bsdtar -xf \(f.next) -C parts && cd parts && echo evil > evil.sh && bsdtar -cf ../extra.bundle --format ustar MANIFEST MANIFEST.sig INDEX.zst packs/*.zst evil.sh")
        try f.expectRefused(f.s.at("extra.bundle"), status: 1, "'evil.sh' that the manifest does not list")
        try sh("cd \(f.s.path)/parts && bsdtar -cf ../swap.bundle --format ustar MANIFEST MANIFEST.sig INDEX.zst evil.sh")
        try f.expectRefused(f.s.at("swap.bundle"), status: 1, "does not list")
    }

    @Test("an expired bundle, unless the admin says so")
    func expired() throws {
        let f = try Fixture()
        // Made (SOURCE_DATE_EPOCH) on 2024-08-01, valid until 2025-01-01, applied later.
        let spec = try f.s.spec("e.yaml", sequence: 2, extra: "expires: 2025-01-01T00:00:00Z\n", sources: [("pypa", "advisories", try f.s.pypa("2024-09-01"))])
        let b = try f.s.build(spec, key: f.key, output: "e.bundle")
        try f.expectRefused(b, status: 1, "expired at 2025-01-01T00:00:00Z")
        let r = try mirrorctl("apply", b, "--mirror", f.mirror, "--allow-expired")
        #expect(r.status == 0, "\(r.text)")
    }

    @Test("a bundle of another channel, a replay, an older bundle")
    func policy() throws {
        let f = try Fixture()
        let other = try f.s.build(try f.s.spec("o.yaml", name: "other", sequence: 9, sources: [("pypa", "advisories", try f.s.pypa("2024-09-01"))]), key: f.key, output: "o.bundle")
        try f.expectRefused(other, status: 1, "this mirror follows 'feeds'")
        try f.expectRefused(f.s.at("1.bundle"), status: 1, "already applied sequence 1")
        let zero = try f.s.build(try f.s.spec("z.yaml", sequence: 0, sources: [("pypa", "advisories", try f.s.pypa("2024-09-01"))]), key: f.key, output: "z.bundle")
        try f.expectRefused(zero, status: 1, "replayed or older")
    }

    @Test("a second apply while one holds the lock")
    func locked() throws {
        let f = try Fixture()
        let holder = Process()
        holder.executableURL = URL(fileURLWithPath: "/usr/bin/flock")
        holder.arguments = [f.mirror + "/.lock", "sleep", "30"]
        try holder.run()
        defer { kill(holder.processIdentifier, SIGKILL); holder.waitUntilExit() }
        usleep(300_000)
        try f.expectRefused(f.next, status: 3, "another mirrorctl is working on")
    }

    @Test("not a mirror, not a bundle, no such file")
    func usage() throws {
        let f = try Fixture()
        let r = try mirrorctl("apply", f.next, "--mirror", f.s.at("nowhere"))
        #expect(r.status == 2 && r.err.contains("is not a mirror"))
        try f.expectRefused(f.s.at("absent.bundle"), status: 2, "does not exist")
        try sh("echo 'not a tar' > \(f.s.at("junk.bundle"))")
        try f.expectRefused(f.s.at("junk.bundle"), status: 1, "")
        #expect(try mirrorctl("apply").status == 2)
        // A threshold no set of the keys could meet is refused, not recorded.
        let (_, pub2) = try f.s.key("second")
        let t = try mirrorctl("init", "--mirror", f.s.at("m2"), "--trust", f.pub, "--trust", pub2, "--threshold", "3")
        #expect(t.status == 2 && t.err.contains("between 1 and the number of keys"), "\(t.text)")
        #expect(!FileManager.default.fileExists(atPath: f.s.at("m2/mirror.json")))
    }

    @Test("no space left while staging: a clear error, the mirror untouched, the space given back",
          .enabled(if: getuid() == 0, "needs root to mount a small tmpfs"))
    func noSpace() throws {
        let s = try Scratch()
        let (key, pub) = try s.key("op")
        let small = try s.build(try s.spec("a.yaml", sequence: 1, sources: [("kev", "advisories", try s.kev("2025-06-01"))]), key: key, output: "a.bundle")
        let big = try s.build(try s.spec("b.yaml", sequence: 2, sources: [("pypa", "advisories", try s.pypa("2024-08-01"))]), key: key, output: "b.bundle")
        let mnt = s.at("small-fs")
        try sh("mkdir \(mnt) && mount -t tmpfs -o size=4m tmpfs \(mnt)")
        defer { _ = try? sh("umount \(mnt)") }
        let m = mnt + "/mirror"
        try sh("\(Env.mirrorctl) init --mirror \(m) --trust \(pub) && \(Env.mirrorctl) apply \(small) --mirror \(m)")
        let used = try sh("df --output=used \(mnt) | tail -1")
        let before = try MirrorSnapshot(m)
        let r = try mirrorctl("apply", big, "--mirror", m)
        #expect(r.status == 3, "\(r.text)")
        #expect(r.err.contains("no space left on device") && r.err.split(separator: "\n").count == 1, "\(r.err)")
        #expect(try MirrorSnapshot(m) == before)
        #expect(try sh("tail -n 1 \(m)/journal.jsonl").contains("\"event\":\"fail\""))
        // A failure line in the journal is small; everything staged is gone.
        let after = try sh("df --output=used \(mnt) | tail -1").trimmingCharacters(in: .whitespacesAndNewlines)
        let grown = (Int(after) ?? Int.max) - (Int(used.trimmingCharacters(in: .whitespacesAndNewlines)) ?? 0)
        #expect(grown <= 8, "used KiB before \(used), after \(after)")

        // The disk full at every step of an apply that writes little (the same files again, so
        // they are hard-linked): with 0, 4, 8... KiB free it fails wherever the space runs out
        // (staging folders, MANIFEST, FILES.json, BUNDLE.json, state, journal), each time
        // cleanly, until there is room for all of it.
        let same = try s.build(try s.spec("c.yaml", sequence: 3, sources: [("kev", "advisories", s.at("kev-2025-06-01/known_exploited_vulnerabilities.json"))]),
                               key: key, output: "c.bundle")
        var failures = 0
        var committed: Outcome?
        for room in stride(from: 0, through: 256, by: 4) {
            try sh("dd if=/dev/zero of=\(mnt)/filler bs=4k 2>/dev/null || true; truncate -s -\(room)K \(mnt)/filler")
            let full = try sh("df --output=used \(mnt) | tail -1").trimmingCharacters(in: .whitespacesAndNewlines)
            let snapshot = try MirrorSnapshot(m)
            let t = try mirrorctl("apply", same, "--mirror", m)
            try sh("rm \(mnt)/filler")
            if t.status == 0 { committed = t; break }
            failures += 1
            #expect(t.status == 3 && t.err.contains("no space left on device") && t.err.split(separator: "\n").count == 1, "\(room) KiB free: \(t.text)")
            #expect(try MirrorSnapshot(m) == snapshot, "\(room) KiB free: the mirror changed")
            try sh("dd if=/dev/zero of=\(mnt)/filler bs=4k 2>/dev/null || true; truncate -s -\(room)K \(mnt)/filler")
            let refilled = try sh("df --output=used \(mnt) | tail -1").trimmingCharacters(in: .whitespacesAndNewlines)
            try sh("rm \(mnt)/filler")
            #expect(refilled == full, "\(room) KiB free: staging space not given back (used KiB \(full) -> \(refilled))")
        }
        print("full disk: \(failures) clean failures (0 to \(4 * (failures - 1)) KiB free), then applied\(committed?.err.isEmpty == false ? " with a warning: \(committed!.err)" : "")")
        #expect(failures >= 3)
        // Space ran out after the swap at most while recording it: the apply then succeeded
        // (the version is live), with a one-line warning, and the next run writes the record.
        #expect(committed?.err.isEmpty == true || committed?.err.contains("is current, but recording it failed") == true, "\(committed?.err ?? "")")
        #expect(try mirrorctl("verify", "--mirror", m).status == 0)
        let three = try sh("readlink \(m)/current").split(separator: "/")[1]
        #expect(three.hasPrefix("3-"))
        // With room again, the big bundle is refused only as older than what is applied, and
        // the journal knows which version is current and who signed it.
        try sh("mount -o remount,size=64m \(mnt)")
        #expect(try mirrorctl("apply", big, "--mirror", m).err.contains("already applied sequence 3"))
        #expect(try mirrorctl("log", "--mirror", m, "--json").out.contains("\"versionId\":\"\(three)\""))
        #expect(try mirrorctl("verify", "--mirror", m).status == 0)
    }
}

@Suite("Bad specs and sources fail the build with a clear error")
struct BadSpecTests {
    func expectBuildFails(_ s: Scratch, _ yaml: String, status: Int32, _ message: String, sourceLocation: SourceLocation = #_sourceLocation) throws {
        let (key, _) = try s.key("op-\(Int.random(in: 0..<1_000_000))")
        try yaml.write(toFile: s.at("bad.yaml"), atomically: true, encoding: .utf8)
        let r = try bundlectl("build", s.at("bad.yaml"), "--key", key, "--output", s.at("out.bundle"))
        #expect(r.status == status, "exit \(r.status): \(r.text)", sourceLocation: sourceLocation)
        #expect(r.err.contains(message), "message was: \(r.err)", sourceLocation: sourceLocation)
        #expect(!FileManager.default.fileExists(atPath: s.at("out.bundle")), "no bundle may be left", sourceLocation: sourceLocation)
        #expect(try sh("ls \(s.path) | grep -c tmp || true").hasPrefix("0"), "no scratch left", sourceLocation: sourceLocation)
    }

    @Test func unknownField() throws {
        let s = try Scratch()
        try expectBuildFails(s, "name: f\nversion: \"1\"\nsequence: 1\nsources:\n  - name: a\n    kind: advisories\n    pth: x\n",
                             status: 2, "bad.yaml:7: source 'a' has an unknown field \"pth\"")
        try expectBuildFails(s, "name: f\nversion: \"1\"\nsequnce: 1\nsources: []\n", status: 2, "unknown field \"sequnce\"")
    }

    @Test func missingSource() throws {
        let s = try Scratch()
        try expectBuildFails(s, "name: f\nversion: \"1\"\nsequence: 1\nsources:\n  - name: a\n    kind: advisories\n    path: nowhere\n",
                             status: 2, "source 'a': 'nowhere' does not exist")
    }

    @Test func unreachableURL() throws {
        let s = try Scratch()
        try expectBuildFails(s, "name: f\nversion: \"1\"\nsequence: 1\nsources:\n  - name: a\n    kind: advisories\n    url: http://127.0.0.1:9/kev.json\n",
                             status: 3, "cannot fetch http://127.0.0.1:9/kev.json: connection refused")
    }

    @Test func pinMismatch() throws {
        let s = try Scratch()
        let kev = try s.kev("2025-06-01")
        try expectBuildFails(s, "name: f\nversion: \"1\"\nsequence: 1\nsources:\n  - name: a\n    kind: advisories\n    path: \(kev)\n    sha256: \(String(repeating: "0", count: 64))\n",
                             status: 1, "but the spec pins 0000")
    }

    @Test("a symbolic link inside a source is refused, never followed")
    func symlinkInSource() throws {
        let s = try Scratch()
        try sh("mkdir -p \(s.path)/src/a && echo x > \(s.path)/src/a/f && ln -s /etc/passwd \(s.path)/src/a/link")
        try expectBuildFails(s, "name: f\nversion: \"1\"\nsequence: 1\nsources:\n  - name: a\n    kind: advisories\n    path: src\n",
                             status: 2, "'a/link' is a symbolic link")
    }

    @Test("invalid YAML, duplicate names, bad kinds, no sequence", arguments: [
        ("name: [\n", "not valid YAML"),
        ("name: f\nversion: \"1\"\nsequence: 1\nsources:\n  - {name: a, kind: advisories, path: .}\n  - {name: a, kind: advisories, path: .}\n", "used twice"),
        ("name: f\nversion: \"1\"\nsequence: 1\nsources:\n  - {name: a, kind: malware, path: .}\n", "kind \"malware\""),
        ("name: f\nversion: \"1\"\nsources:\n  - {name: a, kind: advisories, path: .}\n", "no sequence"),
        ("name: ../f\nversion: \"1\"\nsequence: 1\nsources:\n  - {name: a, kind: advisories, path: .}\n", "may use only letters"),
    ])
    func malformed(_ yaml: String, _ message: String) throws {
        let s = try Scratch()
        try expectBuildFails(s, yaml, status: 2, message)
    }
}
