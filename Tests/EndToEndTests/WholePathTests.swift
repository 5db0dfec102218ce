import Foundation
import Testing

@Suite("Whole path on real advisory data")
struct WholePathTests {
    @Test("stock tar and minisign check the bundle; stock zstd reads its packs")
    func stockTools() throws {
        let s = try Scratch()
        let (key, pub) = try s.key("op")
        let spec = try s.spec(sequence: 1, sources: [("pypa", "advisories", try s.pypa("2024-08-01"))])
        let b = try s.build(spec, key: key, output: "b.bundle")
        // The exact check an operator runs, from the issue.
        try sh("cd \(s.path) && tar -xf \(b) MANIFEST MANIFEST.sig && minisign -V -m MANIFEST -x MANIFEST.sig -p \(pub)")
        let names = try sh("bsdtar -tf \(b)").split(separator: "\n")
        #expect(names.prefix(3) == ["MANIFEST", "MANIFEST.sig", "INDEX.zst"])
        #expect(names.dropFirst(3).allSatisfy { $0.hasPrefix("packs/") && $0.hasSuffix(".zst") })
        try sh("cd \(s.path) && mkdir x && bsdtar -xf \(b) -C x && for f in x/INDEX.zst x/packs/*; do zstd -q -t $f; done")
        // Each pack is named by the SHA-256 of its bytes.
        try sh("cd \(s.path)/x/packs && for f in *.zst; do [ \"$(sha256sum $f | cut -c1-64).zst\" = \"$f\" ]; done")
        let v = try bundlectl("verify", b, "--trust", pub)
        #expect(v.status == 0, "\(v.text)")
        #expect(v.out.contains("2622 files match") || v.out.contains("2,622 files match"))
    }

    @Test("same spec, inputs, key and SOURCE_DATE_EPOCH give a byte-identical bundle")
    func reproducible() throws {
        let s = try Scratch()
        let (key, _) = try s.key("op")
        let spec = try s.spec(sequence: 3, sources: [("pypa", "advisories", try s.pypa("2024-09-01")), ("kev", "advisories", try s.kev("2025-06-01"))])
        let a = try s.build(spec, key: key, output: "a.bundle")
        let b = try s.build(spec, key: key, output: "b.bundle")
        try sh("cmp \(a) \(b)")
        let c = try s.build(spec, key: key, output: "c.bundle", env: ["SOURCE_DATE_EPOCH": "1722470401"])
        #expect(try run("/usr/bin/cmp", ["-s", a, c]).status != 0)
    }

    @Test("packs compressed on every core or on one give the same bundle, at the default level and at 3")
    func sameOnAnyCores() throws {
        let s = try Scratch()
        let (key, _) = try s.key("op")
        // Three large files (a pack each) beside the PyPA records (a solid pack): packs to share out.
        let big = s.at("big")
        try sh("mkdir -p \(big) && for i in 1 2 3; do yes \"row $i of a large file\" | head -c 9437184 > \(big)/f$i.bin; done")
        let spec = try s.spec(sequence: 1, sources: [("pypa", "advisories", try s.pypa("2024-08-01")), ("db", "policies", big)])
        for level in [nil, 3] as [Int?] {
            let many = try s.build(spec, key: key, output: "many-\(level ?? 0).bundle", level: level)
            let one = s.at("one-\(level ?? 0).bundle")
            let r = try run("/usr/bin/taskset", ["-c", "0", Env.bundlectl, "build", spec, "--key", key, "--output", one]
                                + (level.map { ["--level", String($0)] } ?? []), env: ["SOURCE_DATE_EPOCH": "1722470400"])
            #expect(r.status == 0, "\(r.text)")
            try sh("cmp \(many) \(one)")
            #expect(try sh("bsdtar -tf \(many) | grep -c '^packs/'") == "4\n")
        }
    }

    @Test("three months applied in turn; unchanged files shared; rollback; replay refused")
    func monthlyChain() throws {
        let s = try Scratch()
        let (key, pub) = try s.key("op")
        let months = [("2024-08-01", "2025-06-01"), ("2024-09-01", "2025-07-01"), ("2024-10-01", "2025-08-01")]
        var bundles: [String] = []
        var trees: [(String, String)] = []
        for (i, (p, k)) in months.enumerated() {
            let pypa = try s.pypa(p), kev = try s.kev(k)
            let spec = try s.spec("spec\(i).yaml", sequence: 10 + i, sources: [("pypa", "advisories", pypa), ("kev", "advisories", kev)])
            bundles.append(try s.build(spec, key: key, output: "m\(i).bundle"))
            trees.append((pypa, kev))
        }
        let m = s.at("mirror")
        #expect(try mirrorctl("init", "--mirror", m, "--trust", pub).status == 0)
        for (i, b) in bundles.enumerated() {
            let r = try mirrorctl("apply", b, "--mirror", m)
            #expect(r.status == 0, "\(r.text)")
            #expect(try sameTree(m + "/current/advisories/pypa", trees[i].0))
            try sh("cmp \(m)/current/advisories/kev/known_exploited_vulnerabilities.json \(trees[i].1)")
            #expect(try mirrorctl("verify", "--mirror", m).status == 0)
        }
        // Unchanged files are one inode across versions: the disk holds them once.
        let versions = try sh("ls \(m)/versions").split(separator: "\n").map(String.init)
        #expect(versions.count == 3)
        let unchanged = "advisories/pypa/aiohttp/PYSEC-2021-76.yaml"
        let inodes = try sh("for v in \(m)/versions/*/tree; do stat -c %i $v/\(unchanged); done").split(separator: "\n")
        #expect(Set(inodes).count == 1, "inodes \(inodes)")

        // Rollback goes to month 2, byte for byte; the replay guard stays at month 3.
        let rb = try mirrorctl("rollback", "--mirror", m)
        #expect(rb.status == 0, "\(rb.text)")
        #expect(try sameTree(m + "/current/advisories/pypa", trees[1].0))
        for b in bundles {
            let r = try mirrorctl("apply", b, "--mirror", m)
            #expect(r.status == 1)
            #expect(r.err.contains("already applied sequence 12"))
        }
        let st = try mirrorctl("status", "--mirror", m, "--json")
        let json = try JSONSerialization.jsonObject(with: Data(st.out.utf8)) as? [String: Any]
        #expect((json?["highestSequence"] as? Int) == 12)
        #expect(((json?["current"] as? [String: Any])?["sequence"] as? Int) == 11)
        let log = try mirrorctl("log", "--mirror", m)
        #expect(log.out.contains("rollback") && log.out.contains("refuse"))
    }

    @Test("dry run verifies, reports the change per source, and touches nothing")
    func dryRun() throws {
        let s = try Scratch()
        let (key, pub) = try s.key("op")
        let p8 = try s.pypa("2024-08-01"), p9 = try s.pypa("2024-09-01")
        let b8 = try s.build(try s.spec("a.yaml", sequence: 1, sources: [("pypa", "advisories", p8)]), key: key, output: "8.bundle")
        let b9 = try s.build(try s.spec("b.yaml", sequence: 2, sources: [("pypa", "advisories", p9)]), key: key, output: "9.bundle")
        let m = s.at("mirror")
        try sh("\(Env.mirrorctl) init --mirror \(m) --trust \(pub) && \(Env.mirrorctl) apply \(b8) --mirror \(m)")
        let before = try MirrorSnapshot(m)
        let journal = try sh("cat \(m)/journal.jsonl")
        let r = try mirrorctl("apply", b9, "--mirror", m, "--dry-run")
        #expect(r.status == 0, "\(r.text)")
        // What stock diff says changed, the dry run must say too.
        let added = try sh("cd \(s.path) && diff -rq \(p8) \(p9) | grep -c '^Only in \(p9)' || true").trimmingCharacters(in: .whitespacesAndNewlines)
        let changed = try sh("diff -rq \(p8) \(p9) | grep -c ' differ$' || true").trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(r.out.contains("advisories/pypa  \(added) added, \(changed) changed"), "\(r.out)")
        #expect(try MirrorSnapshot(m) == before)
        #expect(try sh("cat \(m)/journal.jsonl") == journal)
    }

    @Test("mirrorctl verify names a changed, a missing and an unexpected file, and a broken journal")
    func verifyNamesDamage() throws {
        let s = try Scratch()
        let (key, pub) = try s.key("op")
        let b = try s.build(try s.spec(sequence: 1, sources: [("pypa", "advisories", try s.pypa("2024-08-01"))]), key: key, output: "b.bundle")
        let m = s.at("mirror")
        try sh("\(Env.mirrorctl) init --mirror \(m) --trust \(pub) && \(Env.mirrorctl) apply \(b) --mirror \(m)")
        let t = m + "/current/advisories/pypa"
        try sh("echo tampered >> \(t)/aiohttp/PYSEC-2021-76.yaml && rm \(t)/aiohttp/PYSEC-2023-120.yaml && touch \(t)/aiohttp/extra.yaml")
        let r = try mirrorctl("verify", "--mirror", m)
        #expect(r.status == 1)
        #expect(r.out.contains("changed: advisories/pypa/aiohttp/PYSEC-2021-76.yaml"))
        #expect(r.out.contains("missing: advisories/pypa/aiohttp/PYSEC-2023-120.yaml"))
        #expect(r.out.contains("unexpected: advisories/pypa/aiohttp/extra.yaml"))
        try sh("sed -i '1s/init/edit/' \(m)/journal.jsonl")
        #expect(try mirrorctl("verify", "--mirror", m).out.contains("journal line 1 was changed"))
    }

    @Test("inspect shows name, sequence, signer and sources without a key")
    func inspect() throws {
        let s = try Scratch()
        let (key, _) = try s.key("op")
        let b = try s.build(try s.spec(sequence: 5, extra: "expires: 2031-01-01T00:00:00Z\n",
                                       sources: [("pypa", "advisories", try s.pypa("2024-08-01")), ("kev", "advisories", try s.kev("2025-06-01"))]),
                            key: key, output: "b.bundle")
        let r = try bundlectl("inspect", b, "--json")
        #expect(r.status == 0)
        let j = try JSONSerialization.jsonObject(with: Data(r.out.utf8)) as? [String: Any]
        #expect(j?["sequence"] as? Int == 5)
        #expect(j?["expires"] as? String == "2031-01-01T00:00:00Z")
        let keyId = try sh("head -1 \(key.replacingOccurrences(of: ".key", with: ".pub")) | awk '{print $NF}'").trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(j?["signer"] as? String == keyId)
        let sources = j?["sources"] as? [[String: Any]]
        #expect(sources?.map { $0["files"] as? Int } == [2622, 1])
        #expect(try bundlectl("inspect", b).out.contains("advisories/pypa  2622 files"))
    }

    @Test("URL sources are fetched from a loopback server, pinned, and land under their last path segment")
    func urlSource() throws {
        let s = try Scratch()
        let (key, pub) = try s.key("op")
        let kev = try s.kev("2025-07-01")
        let digest = try sh("sha256sum \(kev) | cut -c1-64").trimmingCharacters(in: .whitespacesAndNewlines)
        let server = try HTTPServer(root: FileManager.default.fileExists(atPath: kev) ? (kev as NSString).deletingLastPathComponent : s.path)
        defer { server.stop() }
        let y = """
        name: feeds
        version: "2025.07"
        sequence: 1
        sources:
          - name: kev
            kind: advisories
            url: http://127.0.0.1:\(server.port)/known_exploited_vulnerabilities.json
            sha256: \(digest)
        """
        try y.write(toFile: s.at("u.yaml"), atomically: true, encoding: .utf8)
        let b = try s.build(s.at("u.yaml"), key: key, output: "u.bundle")
        let m = s.at("mirror")
        try sh("\(Env.mirrorctl) init --mirror \(m) --trust \(pub) && \(Env.mirrorctl) apply \(b) --mirror \(m)")
        try sh("cmp \(m)/current/advisories/kev/known_exploited_vulnerabilities.json \(kev)")
    }

    @Test("keys interoperate with stock minisign both ways, encrypted and not")
    func minisignKeys() throws {
        let s = try Scratch()
        let spec = try s.spec(sequence: 1, sources: [("kev", "advisories", try s.kev("2025-06-01"))])
        // A key made by minisign, unencrypted.
        try sh("cd \(s.path) && minisign -G -W -p ms.pub -s ms.key >/dev/null")
        let b = try s.build(spec, key: s.at("ms.key"), output: "ms.bundle")
        #expect(try bundlectl("verify", b, "--trust", s.at("ms.pub")).status == 0)
        // A key made by minisign with a password: bundlectl decrypts it (scrypt, as minisign).
        try sh("cd \(s.path) && printf 'pw-1\\npw-1\\n' | minisign -G -p enc.pub -s enc.key >/dev/null 2>&1 && printf 'pw-1\\n' > pw && printf 'nope\\n' > wrong")
        let ok = try bundlectl("build", spec, "--key", s.at("enc.key"), "--password-file", s.at("pw"), "--output", s.at("enc.bundle"))
        #expect(ok.status == 0, "\(ok.text)")
        #expect(try bundlectl("verify", s.at("enc.bundle"), "--trust", s.at("enc.pub")).status == 0)
        let bad = try bundlectl("build", spec, "--key", s.at("enc.key"), "--password-file", s.at("wrong"), "--output", s.at("x.bundle"))
        #expect(bad.status == 1 && bad.err.contains("wrong password"))
        #expect(!FileManager.default.fileExists(atPath: s.at("x.bundle")))
        let none = try bundlectl("build", spec, "--key", s.at("enc.key"), "--output", s.at("x.bundle"))
        #expect(none.status == 2 && none.err.contains("--password-file"))
        // A key bundlectl encrypts is one stock minisign can sign with.
        let g = try bundlectl("keygen", "--secret-key", s.at("ours.key"), "--public-key", s.at("ours.pub"), "--password-file", s.at("pw"))
        #expect(g.status == 0 && !g.err.contains("unencrypted"))
        try sh("cd \(s.path) && echo hello > msg && printf 'pw-1\\n' | minisign -S -s ours.key -m msg >/dev/null 2>&1 && minisign -V -p ours.pub -m msg >/dev/null")
    }
}

/// Python's http.server on a free loopback port: a real server, started by the test.
final class HTTPServer {
    let process = Process()
    let port: Int

    init(root: String) throws {
        port = Int.random(in: 20_000..<60_000)
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", "-m", "http.server", "--bind", "127.0.0.1", "--directory", root, String(port)]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        // Wait until it accepts connections.
        for _ in 0..<100 {
            let probe = "import socket; socket.create_connection(('127.0.0.1', \(port)), 1)"
            if (try? run("/usr/bin/env", ["python3", "-c", probe]))?.status == 0 { return }
            usleep(100_000)
        }
    }

    /// SIGKILL: children of the test runner inherit a signal mask that blocks SIGTERM.
    func stop() {
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
    }
}

@Suite("The enclave tool's only network code is Push")
struct HighSideLinkTests {
    @Test("the Apply target reaches no network or packing code; Push is the only networking module mirrorctl's commands use")
    func moduleBoundaries() throws {
        // dump-package with a scratch path of its own: `swift test` holds the build folder's lock.
        let scratch = try Scratch()
        let json = try sh("cd \(Env.packageRoot) && swift package --scratch-path \(scratch.at("spm")) dump-package 2>/dev/null")
        let root = try JSONSerialization.jsonObject(with: Data(json.utf8)) as! [String: Any]
        var deps: [String: [String]] = [:], products: [String: [String]] = [:], paths: [String: String] = [:]
        for t in root["targets"] as! [[String: Any]] {
            let name = t["name"] as! String
            paths[name] = (t["path"] as? String) ?? "Sources/\(name)"
            for d in (t["dependencies"] as? [[String: Any]]) ?? [] {
                if let n = ((d["byName"] ?? d["target"]) as? [Any])?.first as? String { deps[name, default: []].append(n) }
                if let n = (d["product"] as? [Any])?.first as? String { products[name, default: []].append(n) }
            }
        }
        func closure(_ t: String) -> Set<String> {
            var seen = Set<String>(), todo = [t]
            while let x = todo.popLast() {
                if seen.insert(x).inserted { todo += deps[x] ?? [] }
            }
            return seen
        }
        // A module is networking code when one of its files imports FoundationNetworking.
        func networking(_ t: String) throws -> Bool {
            guard let path = paths[t] else { return false }
            let r = try run("/bin/sh", ["-c", "grep -rlE 'import FoundationNetworking' \(Env.packageRoot)/\(path)"])
            return r.status == 0
        }
        let apply = closure("Apply")
        #expect(apply.isDisjoint(with: ["Fetch", "Registry", "Collect", "Build", "Signing", "Push"]), "\(apply)")
        #expect(try apply.filter(networking).isEmpty)
        let commands = closure("MirrorctlCommands")
        #expect(commands.isDisjoint(with: ["Fetch", "Registry", "Collect", "Build", "Signing", "MediaWrite"]), "\(commands)")
        #expect(try commands.filter(networking) == ["Push"], "\(commands)")
        // Outside packages the high side uses: none of them does networking; a new one must be looked at.
        // Yams (Changes: the PyPA feed's YAML records, issue 16) is libyaml and Foundation, no networking.
        #expect(Set(commands.flatMap { products[$0] ?? [] }) == ["ArgumentParser", "Crypto", "Yams"], "\(products)")
        // The rule is not vacuous: the low side's fetcher is networking code by it, and bundlectl has it.
        #expect(try networking("Fetch"))
        #expect(closure("BundlectlCommands").contains("Fetch"))
        #expect(try sh("ldd \(Env.bundlectl)").contains("libcurl"))
    }
}
