import Foundation
import Testing

/// Officers A, B, C (the first policy), D (joins at rotation), E (never trusted), and a small feed.
struct Officers {
    let s: Scratch
    let keys: [String: (secret: String, pub: String)]
    let feed: String
    let ids: [String: String]

    init() throws {
        s = try Scratch()
        var k: [String: (String, String)] = [:]
        for name in ["A", "B", "C", "D", "E"] { k[name] = try s.key(name) }
        keys = k
        var i: [String: String] = [:]
        for (name, (_, pub)) in k {
            i[name] = try sh("sed -n 2p \(pub) | base64 -d | tail -c +3 | head -c 8 | od -An -tx1 | tr -d ' \\n' | fold -w2 | tac | tr -d '\\n' | tr a-f A-F")
        }
        ids = i
        feed = s.at("feed")
        try sh("mkdir -p \(feed) && echo one > \(feed)/one.json && echo two > \(feed)/two.json")
    }

    func pub(_ n: String) -> String { keys[n]!.pub }
    func secret(_ n: String) -> String { keys[n]!.secret }

    /// Builds bundle `name` with sequence `seq`, signed by `signers` (the first builds).
    func bundle(_ name: String, seq: Int, signers: [String], policy: String? = nil) throws -> String {
        try sh("echo \(seq) > \(feed)/seq.json")
        let spec = try s.spec("\(name).yaml", name: "feeds", sequence: seq, sources: [("f", "advisories", feed)])
        var args = ["build", spec, "--key", secret(signers[0]), "--output", s.at(name)]
        if let policy { args += ["--trust-policy", policy] }
        let r = try run(Env.bundlectl, args)
        #expect(r.status == 0, "\(r.text)")
        for o in signers.dropFirst() {
            let c = try bundlectl("sign", s.at(name), "--key", secret(o))
            #expect(c.status == 0, "\(c.text)")
        }
        return s.at(name)
    }

    /// The key id as minisign prints it, worked out with base64 and od.
    func id(_ n: String) -> String { ids[n]! }

    /// A policy file signed by `signers`.
    func policy(_ file: String, version: Int, threshold: Int, keys: [String], signers: [String]) throws -> String {
        let r = try run(Env.bundlectl, ["trust", "create", "--threshold", "\(threshold)", "--version", "\(version)", "--output", s.at(file)]
                        + keys.flatMap { ["--trust", pub($0)] })
        #expect(r.status == 0, "\(r.text)")
        for o in signers { #expect(try bundlectl("trust", "sign", s.at(file), "--key", secret(o)).status == 0) }
        return s.at(file)
    }
}

@Suite("Co-signing, key rotation and expiry")
struct TrustTests {
    @Test("2 of 3: one signature is refused naming who signed and what is missing; a co-signed bundle applies; stock minisign checks each signature")
    func threshold() throws {
        let o = try Officers()
        let m = o.s.at("mirror")
        try sh("\(Env.mirrorctl) init --mirror \(m) --trust \(o.pub("A")) --trust \(o.pub("B")) --trust \(o.pub("C")) --threshold 2")
        let a = try o.bundle("one.bundle", seq: 1, signers: ["A"])
        let before = try MirrorSnapshot(m)
        let r = try mirrorctl("apply", a, "--mirror", m)
        #expect(r.status == 1)
        #expect(r.err.contains(o.id("A")) && r.err.contains("needs 2 of 3") && r.err.contains("1 more signature needed"), "\(r.err)")
        #expect(try MirrorSnapshot(m) == before)
        // An untrusted co-signer does not count, and is named.
        #expect(try bundlectl("sign", a, "--key", o.secret("E")).status == 0)
        let r2 = try mirrorctl("apply", a, "--mirror", m)
        #expect(r2.status == 1 && r2.err.contains(o.id("E")) && r2.err.contains("not in the policy"), "\(r2.err)")
        // The same officer twice counts once: refused up front.
        let twice = try bundlectl("sign", a, "--key", o.secret("A"))
        #expect(twice.status == 2 && twice.err.contains("already signed"), "\(twice.err)")

        let cosigned = try bundlectl("sign", a, "--key", o.secret("B"))
        #expect(cosigned.status == 0, "\(cosigned.text)")
        #expect(cosigned.out.contains("sha256 " + (try sh("sha256sum \(a) | cut -c1-64")).trimmingCharacters(in: .whitespacesAndNewlines)), "\(cosigned.out)")
        let ok = try mirrorctl("apply", a, "--mirror", m)
        #expect(ok.status == 0, "\(ok.text)")
        #expect(ok.out.contains("2 of 3, 2 needed"), "\(ok.out)")
        // Each signature is a minisign signature of the same MANIFEST.
        try sh("cd \(o.s.path) && mkdir x && tar -xf \(a) -C x")
        for (n, entry) in [("A", "MANIFEST.sig"), ("B", "MANIFEST.sig.\(o.id("B"))"), ("E", "MANIFEST.sig.\(o.id("E"))")] {
            try sh("minisign -Vm \(o.s.at("x/MANIFEST")) -x \(o.s.at("x/" + entry)) -p \(o.pub(n)) >/dev/null")
        }
        // bundlectl verify counts the same way.
        let trust = ["A", "B", "C"].flatMap { ["--trust", o.pub($0)] }
        #expect(try run(Env.bundlectl, ["verify", a, "--threshold", "2"] + trust).status == 0)
        let three = try run(Env.bundlectl, ["verify", a, "--threshold", "3"] + trust)
        #expect(three.status == 1 && three.err.contains("1 more signature needed"), "\(three.err)")
        // A damaged bundle is not co-signed, and stays as it was.
        let b = try o.bundle("two.bundle", seq: 2, signers: ["A"])
        try flipByte(b, at: -40)
        let sum = try sh("sha256sum \(b)")
        let bad = try bundlectl("sign", b, "--key", o.secret("B"))
        #expect(bad.status == 1, "\(bad.text)")
        #expect(try sh("sha256sum \(b)") == sum)
        // Nor is one that lost a part it lists (cut where an entry ends, so the tar reads as whole).
        let c = try o.bundle("three.bundle", seq: 3, signers: ["A"])
        let short = o.s.at("short.bundle")
        try sh("cd \(o.s.path) && bsdtar -cf \(short) --zstd --exclude 'packs/*' @\(c)")
        let shortSum = try sh("sha256sum \(short)")
        let lost = try bundlectl("sign", short, "--key", o.secret("B"))
        #expect(lost.status == 1 && lost.err.contains("lacks packs/") && lost.err.contains("not signed"), "\(lost.text)")
        #expect(try sh("sha256sum \(short)") == shortSum)
        #expect(try mirrorctl("verify", "--mirror", m).status == 0)
    }

    @Test("rotation: a policy signed by 2 of the old and 2 of the new keys is adopted and journaled; the revoked key stops counting")
    func rotation() throws {
        let o = try Officers()
        let m = o.s.at("mirror")
        try sh("\(Env.mirrorctl) init --mirror \(m) --trust \(o.pub("A")) --trust \(o.pub("B")) --trust \(o.pub("C")) --threshold 2")
        #expect(try mirrorctl("apply", try o.bundle("1.bundle", seq: 1, signers: ["A", "B"]), "--mirror", m).status == 0)

        // Policy v2 revokes A and adds D. Signed by A only (old side): not enough.
        let weak = try o.policy("weak.json", version: 2, threshold: 2, keys: ["B", "C", "D"], signers: ["A", "B", "D"].filter { $0 != "B" })
        let before = try MirrorSnapshot(m)
        let r = try mirrorctl("apply", try o.bundle("2w.bundle", seq: 2, signers: ["B", "D"], policy: weak), "--mirror", m)
        #expect(r.status == 1 && r.err.contains("current trust policy needs 2 of 3"), "\(r.err)")
        #expect(try MirrorSnapshot(m) == before)

        // Signed by A and B (2 of the old) and B and D (2 of the new): adopted with the bundle.
        let v2 = try o.policy("v2.json", version: 2, threshold: 2, keys: ["B", "C", "D"], signers: ["A", "B", "D"])
        try sh("minisign -Vm \(v2) -x \(v2).sig.\(o.id("A")) -p \(o.pub("A")) >/dev/null")
        let b2 = try o.bundle("2.bundle", seq: 2, signers: ["B", "D"], policy: v2)
        let dry = try mirrorctl("apply", b2, "--mirror", m, "--dry-run")
        #expect(dry.status == 0 && dry.out.contains("would adopt policy version 2"), "\(dry.text)")
        let ok = try mirrorctl("apply", b2, "--mirror", m)
        #expect(ok.status == 0 && ok.out.contains("adopted policy version 2"), "\(ok.text)")
        let status = try mirrorctl("status", "--mirror", m).out
        // A is no longer trusted; it is named only as a signer of the version applied before the rotation.
        let trusts = status.split(separator: "\n").first { $0.hasPrefix("trusts") } ?? ""
        #expect(trusts.contains("policy version 2") && !trusts.contains(o.id("A")), "\(status)")
        #expect(status.split(separator: "\n").filter { $0.contains(o.id("A")) }.allSatisfy { $0.hasPrefix("retained") && $0.contains("sequence 1") }, "\(status)")
        let log = try mirrorctl("log", "--mirror", m).out
        #expect(log.contains("trust") && log.contains("revoked [\(o.id("A"))]"), "\(log)")
        #expect(try mirrorctl("verify", "--mirror", m).status == 0)

        // A is revoked: A + B is one valid signature of the needed two.
        let b3 = try o.bundle("3.bundle", seq: 3, signers: ["A", "B"])
        let r3 = try mirrorctl("apply", b3, "--mirror", m)
        #expect(r3.status == 1 && r3.err.contains("1 more signature needed") && r3.err.contains("not in the policy"), "\(r3.err)")
        #expect(try bundlectl("sign", b3, "--key", o.secret("C")).status == 0)
        #expect(try mirrorctl("apply", b3, "--mirror", m).status == 0)

        // The same policy again, in a newer bundle: already in force, nothing adopted (AdmissionUserDayTests).
        let b4 = try o.bundle("4.bundle", seq: 4, signers: ["B", "D"], policy: v2)
        let r4 = try mirrorctl("apply", b4, "--mirror", m)
        #expect(r4.status == 0 && r4.out.contains("already in force here: nothing to adopt"), "\(r4.text)")
        #expect(try mirrorctl("verify", "--mirror", m).status == 0)
    }

    @Test("a TRUST entry added to a signed bundle is refused: the MANIFEST does not name it")
    func graftedPolicy() throws {
        let o = try Officers()
        let m = o.s.at("mirror")
        try sh("\(Env.mirrorctl) init --mirror \(m) --trust \(o.pub("A")) --trust \(o.pub("B")) --threshold 1")
        let v2 = try o.policy("v2.json", version: 2, threshold: 1, keys: ["E"], signers: ["A", "E"])
        // Co-signed by the new policy's key too, so every signature count would be met.
        let b = try o.bundle("b.bundle", seq: 1, signers: ["A", "E"])
        // Rebuild the archive with TRUST and its signatures inserted after the MANIFEST signature.
        try sh("""
            zstd -qdc \(b) > \(b).tar
            python3 - <<'EOF'
            import tarfile, io, os, glob
            src, dst = '\(b).tar', '\(o.s.at("grafted.bundle"))'
            extra = [('TRUST', '\(v2)')] + [('TRUST.sig.' + p.rsplit('.', 1)[1], p) for p in sorted(glob.glob('\(v2).sig.*'))]
            with tarfile.open(src) as t, tarfile.open(dst, 'w', format=tarfile.PAX_FORMAT) as out:
                for m in t.getmembers():
                    if m.name == 'INDEX.zst':
                        for name, path in extra:
                            data = open(path, 'rb').read(); info = tarfile.TarInfo(name); info.size = len(data)
                            out.addfile(info, io.BytesIO(data))
                    out.addfile(m, t.extractfile(m))
            EOF
            """)
        let before = try MirrorSnapshot(m)
        let r = try mirrorctl("apply", o.s.at("grafted.bundle"), "--mirror", m)
        #expect(r.status == 1 && r.err.contains("does not name"), "\(r.err)")
        #expect(try MirrorSnapshot(m) == before)
        #expect(try mirrorctl("status", "--mirror", m).out.contains("policy version 1"))
    }

    @Test("expired: refused unless --allow-expired, and the choice is journaled")
    func expiry() throws {
        let o = try Officers()
        let m = o.s.at("mirror")
        try sh("\(Env.mirrorctl) init --mirror \(m) --trust \(o.pub("A"))")
        let spec = try o.s.spec("x.yaml", name: "feeds", sequence: 1, extra: "expires: 2025-01-01T00:00:00Z\n", sources: [("f", "advisories", o.feed)])
        #expect(try bundlectl("build", spec, "--key", o.secret("A"), "--output", o.s.at("x.bundle"), env: ["SOURCE_DATE_EPOCH": "1722470400"]).status == 0)
        let r = try mirrorctl("apply", o.s.at("x.bundle"), "--mirror", m)
        #expect(r.status == 1 && r.err.contains("--allow-expired"), "\(r.err)")
        #expect(try mirrorctl("apply", o.s.at("x.bundle"), "--mirror", m, "--allow-expired").status == 0)
        let log = try mirrorctl("log", "--mirror", m).out
        #expect(log.contains("refuse") && log.contains("applied with --allow-expired"), "\(log)")
    }
}

@Suite("One Ed25519 key is one officer, whatever key ids its files carry (issue 12, item 2)")
struct OneKeyTwoIDsTests {
    @Test("a second file of the same key under another id is refused by init, trust create and verify, and nothing is created")
    func twinKeyFiles() throws {
        let o = try Officers()
        // The same 32 key bytes with another 8-byte id: what a key file's writer can choose.
        let twin = o.s.at("A-twin.pub")
        try sh("""
            python3 -c 'import base64,sys; raw = base64.b64decode(open(sys.argv[1]).read().split()[-1]); \\
            open(sys.argv[2], "w").write("untrusted comment: minisign public key twin\\n" + base64.b64encode(raw[:2] + bytes([0xAB]) * 8 + raw[10:]).decode() + "\\n")' \
            \(o.pub("A")) \(twin)
            """)
        #expect(try sh("sed -n 2p \(twin) | base64 -d | tail -c 32 | od -An -tx1") == (try sh("sed -n 2p \(o.pub("A")) | base64 -d | tail -c 32 | od -An -tx1")))
        let expected = "are one public key: two files holding one key are one key"

        let mirror = o.s.at("m")
        let i = try mirrorctl("init", "--mirror", mirror, "--trust", o.pub("A"), "--trust", twin, "--trust", o.pub("B"), "--threshold", "2")
        #expect(i.status == 2, "\(i.text)")
        #expect(i.err.contains("key ids \(o.id("A")) and ABABABABABABABAB \(expected)"), "\(i.err)")
        #expect(!FileManager.default.fileExists(atPath: mirror + "/mirror.json"))

        let t = try bundlectl("trust", "create", "--threshold", "2", "--version", "2", "--output", o.s.at("t.json"),
                              "--trust", o.pub("A"), "--trust", twin)
        #expect(t.status == 2, "\(t.text)")
        #expect(t.err.contains("names one public key twice, as key ids \(o.id("A")) and ABABABABABABABAB"), "\(t.err)")
        #expect(!FileManager.default.fileExists(atPath: o.s.at("t.json")))

        let b = try o.bundle("b.bundle", seq: 1, signers: ["A"])
        let v = try bundlectl("verify", b, "--trust", o.pub("A"), "--trust", twin, "--threshold", "2")
        #expect(v.status == 2, "\(v.text)")
        #expect(v.err.contains("names one public key twice"), "\(v.err)")
    }
}
