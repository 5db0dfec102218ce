import Foundation
import Testing

/// What someone who can write `versions/` but not `mirror.json` does to a retained version: a
/// tree file edited, FILES.json and the MANIFEST's tree digest rewritten to match, a version-1
/// POLICY.json naming their own key dropped beside it, and the MANIFEST re-signed with stock
/// minisign (every other signature removed).
private func forge(_ version: String, key: String, pub: String) throws {
    try sh("""
        python3 - '\(version)' '\(key)' '\(pub)' <<'EOF'
        import glob, hashlib, json, os, subprocess, sys
        ver, key, pub = sys.argv[1:4]
        canon = lambda v: json.dumps(v, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
        def put(path, data, mode=0o644):
            if os.path.lexists(path): os.unlink(path)
            with open(path, "wb") as f: f.write(data)
            os.chmod(path, mode)
        listing = json.load(open(ver + "/FILES.json"))
        data, grown = b"forged by whoever writes versions/\\n", 0
        for e in listing["files"]:
            if e[0].endswith("one.json"):
                p = ver + "/tree/" + e[0]
                os.chmod(os.path.dirname(p), 0o755)
                put(p, data, e[1])
                grown, e[2], e[3] = len(data) - e[2], len(data), hashlib.sha256(data).hexdigest()
        assert grown, "no one.json in the listing"
        files = canon(listing)
        put(ver + "/FILES.json", files)
        m = json.load(open(ver + "/MANIFEST"))
        m["tree"]["sha256"] = hashlib.sha256(files).hexdigest()
        m["tree"]["size"] += grown
        put(ver + "/MANIFEST", canon(m))
        own = open(pub).read().splitlines()[1].strip()
        put(ver + "/POLICY.json", canon({"format": "airgap-trust/1", "version": 1, "threshold": 1, "keys": [own],
                                         "created": "2024-01-01T00:00:00Z"}))
        for s in glob.glob(ver + "/MANIFEST.sig*"): os.unlink(s)
        subprocess.run(["minisign", "-S", "-s", key, "-m", ver + "/MANIFEST", "-x", ver + "/MANIFEST.sig", "-t", "forged"],
                       stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, check=True)
        EOF
        """)
}

/// The one line a failed command ends with on stderr.
private func lastLine(_ r: Outcome) -> String {
    r.err.split(separator: "\n").last.map(String.init) ?? ""
}

@Suite("Trust: versions judged by the mirror's policy chain, signers that counted, rollback to revoked keys (issue 12, items 1, 4, 5)")
struct TrustAttackTests {
    /// A, B, C with threshold 2, and versions 1 and 2 applied (signed by A and B).
    private func twoVersions() throws -> (Officers, String, [String]) {
        let o = try Officers()
        let m = o.s.at("mirror")
        try sh("\(Env.mirrorctl) init --mirror \(m) --trust \(o.pub("A")) --trust \(o.pub("B")) --trust \(o.pub("C")) --threshold 2")
        for seq in 1...2 {
            let r = try mirrorctl("apply", try o.bundle("\(seq).bundle", seq: seq, signers: ["A", "B"]), "--mirror", m)
            #expect(r.status == 0, "\(r.text)")
        }
        let ids = try sh("ls \(m)/versions | sort -n").split(separator: "\n").map(String.init)
        #expect(ids.count == 2)
        return (o, m, ids)
    }

    @Test("item 1: a version re-signed by a key of a POLICY.json dropped beside it is refused by rollback and reported by verify")
    func forgedVersionPolicy() throws {
        let (o, m, ids) = try twoVersions()
        // The retained version 1 forged: rollback must not move to it.
        try forge("\(m)/versions/\(ids[0])", key: o.secret("E"), pub: o.pub("E"))
        let config = try sh("cat \(m)/mirror.json")
        let before = try MirrorSnapshot(m)
        let r = try mirrorctl("rollback", "--mirror", m)
        #expect(r.status == 1, "\(r.text)")
        #expect(r.err.split(separator: "\n").count == 1, "\(r.err)")
        #expect(lastLine(r).contains("version \(ids[0])") && lastLine(r).contains("not rolling back"), "\(r.err)")
        #expect(lastLine(r).contains("signed by no trusted key") && lastLine(r).contains(o.id("E")), "\(r.err)")
        #expect(try MirrorSnapshot(m) == before)
        #expect(try sh("cat \(m)/mirror.json") == config)

        // The current version 2 forged the same way: verify reports it, and never says who forged it signed.
        try forge("\(m)/versions/\(ids[1])", key: o.secret("E"), pub: o.pub("E"))
        let v = try mirrorctl("verify", "--mirror", m)
        #expect(v.status == 1, "\(v.text)")
        #expect(v.err.split(separator: "\n").count == 1 && v.err.contains("differs from its signed manifest"), "\(v.err)")
        #expect(v.out.contains("signed by no trusted key") && !v.out.contains("signed by \(o.id("E"))"), "\(v.out)")
        #expect(!v.out.contains("verified"), "\(v.out)")
        let st = try mirrorctl("status", "--mirror", m)
        #expect(st.status == 0 && !st.out.contains(o.id("E")), "\(st.text)")
    }

    @Test("item 1: a rotation, then verify and rollback across it, each version judged by the policy it was applied under")
    func rotationVerifyRollback() throws {
        let o = try Officers()
        let m = o.s.at("mirror")
        try sh("\(Env.mirrorctl) init --mirror \(m) --trust \(o.pub("A")) --trust \(o.pub("B")) --trust \(o.pub("C")) --threshold 2")
        #expect(try mirrorctl("apply", try o.bundle("1.bundle", seq: 1, signers: ["B", "C"]), "--mirror", m).status == 0)
        let v2 = try o.policy("v2.json", version: 2, threshold: 2, keys: ["B", "C", "D"], signers: ["A", "B", "D"])
        #expect(try mirrorctl("apply", try o.bundle("2.bundle", seq: 2, signers: ["B", "D"], policy: v2), "--mirror", m).status == 0)
        #expect(try mirrorctl("apply", try o.bundle("3.bundle", seq: 3, signers: ["C", "D"]), "--mirror", m).status == 0)
        #expect(try sh("ls \(m)/policies/2").contains("TRUST"))
        let v = try mirrorctl("verify", "--mirror", m)
        #expect(v.status == 0 && v.out.contains("signed by") && v.out.contains(o.id("C")) && v.out.contains(o.id("D")), "\(v.text)")
        for seq in [2, 1] {
            let r = try mirrorctl("rollback", "--mirror", m)
            #expect(r.status == 0 && r.out.contains("(sequence \(seq))"), "\(r.text)")
            let again = try mirrorctl("verify", "--mirror", m)
            #expect(again.status == 0, "\(again.text)")
        }
        // A second rotation: versions of policy 2's era are now judged by policy 2 read back from
        // policies/2 (its digest pinned in mirror.json, its signatures counted against policy 1).
        let v3 = try o.policy("v3.json", version: 3, threshold: 2, keys: ["C", "D", "E"], signers: ["C", "D", "E"])
        #expect(try mirrorctl("apply", try o.bundle("4.bundle", seq: 4, signers: ["C", "E"], policy: v3), "--mirror", m).status == 0)
        let to3 = try mirrorctl("rollback", "--mirror", m)
        #expect(to3.status == 0 && to3.out.contains("(sequence 3)"), "\(to3.text)")
        // Policy 2's file altered: what is judged by it no longer verifies, and rollback refuses.
        try sh("chmod u+w \(m)/policies/2/TRUST 2>/dev/null || true; printf ' ' >> \(m)/policies/2/TRUST")
        let before = try MirrorSnapshot(m)
        let back = try mirrorctl("rollback", "--mirror", m)
        #expect(back.status == 1 && back.err.contains("policies/2/TRUST") && back.err.contains("altered"), "\(back.text)")
        #expect(try MirrorSnapshot(m) == before)
        let broken = try mirrorctl("verify", "--mirror", m)
        #expect(broken.status == 1 && broken.out.contains("policies/2/TRUST"), "\(broken.text)")
        #expect(try mirrorctl("status", "--mirror", m).status == 0)
    }

    @Test("item 4: a MANIFEST.sig by a key outside the policy, co-signed by policy keys: only the keys that counted are shown and journaled")
    func outsideBuilderKey() throws {
        let o = try Officers()
        let m = o.s.at("mirror")
        try sh("\(Env.mirrorctl) init --mirror \(m) --trust \(o.pub("A")) --trust \(o.pub("B")) --trust \(o.pub("C")) --threshold 2")
        let b = try o.bundle("1.bundle", seq: 1, signers: ["E", "A", "B"])
        #expect(try sh("cd \(o.s.path) && mkdir x && tar -xf \(b) -C x && minisign -Vm x/MANIFEST -x x/MANIFEST.sig -p \(o.pub("E")) >/dev/null; echo ok") == "ok\n")
        let r = try mirrorctl("apply", b, "--mirror", m)
        #expect(r.status == 0, "\(r.text)")
        for out in [try mirrorctl("status", "--mirror", m), try mirrorctl("verify", "--mirror", m)] {
            let line = out.out.split(separator: "\n").first { $0.contains("signed by") } ?? ""
            #expect(out.status == 0 && line.contains(o.id("A")) && line.contains(o.id("B")), "\(out.text)")
            #expect(!out.out.contains(o.id("E")), "\(out.out)")
        }
        let json = try mirrorctl("status", "--mirror", m, "--json").out
        #expect(json.contains(o.id("A")) && !json.contains(o.id("E")), "\(json)")
        let journal = try sh("cat \(m)/journal.jsonl")
        #expect(journal.contains("\"signer\":\"\(o.id("A"))\"") && !journal.contains(o.id("E")), "\(journal)")
        let log = try mirrorctl("log", "--mirror", m).out
        #expect(log.contains("signed by \(o.id("A")),\(o.id("B"))") && !log.contains(o.id("E")), "\(log)")
    }

    @Test("item 5: rollback to a version signed only by a revoked key is refused naming the key; --allow-revoked does it and is journaled")
    func rollbackToRevoked() throws {
        let o = try Officers()
        let m = o.s.at("mirror")
        try sh("\(Env.mirrorctl) init --mirror \(m) --trust \(o.pub("A")) --trust \(o.pub("B")) --threshold 1")
        #expect(try mirrorctl("apply", try o.bundle("1.bundle", seq: 1, signers: ["A"]), "--mirror", m).status == 0)
        // Policy v2 revokes A.
        let v2 = try o.policy("v2.json", version: 2, threshold: 1, keys: ["B"], signers: ["A", "B"])
        #expect(try mirrorctl("apply", try o.bundle("2.bundle", seq: 2, signers: ["B"], policy: v2), "--mirror", m).status == 0)
        let config = try sh("cat \(m)/mirror.json")
        let before = try MirrorSnapshot(m)
        let r = try mirrorctl("rollback", "--mirror", m)
        #expect(r.status == 1, "\(r.text)")
        #expect(r.err.split(separator: "\n").count == 1, "\(r.err)")
        #expect(r.err.contains("revoked") && r.err.contains(o.id("A")) && r.err.contains("--allow-revoked"), "\(r.err)")
        #expect(try MirrorSnapshot(m) == before)
        #expect(try sh("cat \(m)/mirror.json") == config)

        let ok = try mirrorctl("rollback", "--mirror", m, "--allow-revoked")
        #expect(ok.status == 0 && ok.out.contains("(sequence 1)"), "\(ok.text)")
        #expect(ok.out.contains("revoked") && ok.out.contains(o.id("A")), "\(ok.out)")
        let last = try sh("tail -n 1 \(m)/journal.jsonl")
        #expect(last.contains("\"event\":\"rollback\"") && last.contains("\"allowedRevoked\":[\"\(o.id("A"))\"]"), "\(last)")
        let log = try mirrorctl("log", "--mirror", m).out
        #expect(log.contains("with --allow-revoked"), "\(log)")
        #expect(try mirrorctl("verify", "--mirror", m).status == 0)
    }
}
