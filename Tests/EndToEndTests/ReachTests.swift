import Foundation
import Testing

/// A tiny advisory feed ("f") in bundles of a few files each, built by the real tools with two
/// officers' keys (op builds, co co-signs).
struct ReachFeeds {
    let s: Scratch
    let key: String, pub: String, coKey: String, coPub: String
    let id: String, coId: String

    init() throws {
        s = try Scratch()
        (key, pub) = try s.key("op")
        (coKey, coPub) = try s.key("co")
        id = try ReachFeeds.keyId(pub)
        coId = try ReachFeeds.keyId(coPub)
    }

    static func keyId(_ pub: String) throws -> String {
        try sh("head -1 \(pub) | awk '{print $NF}'").trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// Bundle `name` of sequence `seq` holding `files` (name -> content); `extra` are more build flags.
    @discardableResult
    func bundle(_ name: String, seq: Int, _ files: [String: String], extra: [String] = [], sourceLocation: SourceLocation = #_sourceLocation) throws -> String {
        let dir = s.at("feed-\(name)")
        try sh("rm -rf \(dir) && mkdir -p \(dir)")
        for (f, text) in files { try text.write(toFile: dir + "/" + f, atomically: true, encoding: .utf8) }
        let spec = try s.spec("\(name).yaml", sequence: seq, sources: [("f", "advisories", dir)])
        let r = try run(Env.bundlectl, ["build", spec, "--key", key, "--output", s.at(name)] + extra)
        #expect(r.status == 0, "\(r.text)", sourceLocation: sourceLocation)
        return s.at(name)
    }
}

/// One JSON object on one line of standard output, read by Foundation's parser.
func object(_ r: Outcome, sourceLocation: SourceLocation = #_sourceLocation) -> [String: Any] {
    #expect(r.out.hasSuffix("\n") && r.out.dropLast().split(separator: "\n").count == 1, "not one line: \(r.out)", sourceLocation: sourceLocation)
    let o = (try? JSONSerialization.jsonObject(with: Data(r.out.utf8))) as? [String: Any]
    #expect(o != nil, "not a JSON object: \(r.text)", sourceLocation: sourceLocation)
    return o ?? [:]
}

func member(_ o: [String: Any], _ path: String...) -> Any? {
    var v: Any? = o
    for k in path { v = (v as? [String: Any])?[k] }
    return v
}

/// Issue 13, "Reached for and not found".
@Suite("What users reached for: --version, --json, diff, trust verify, defaults from the environment, completions")
struct ReachTests {
    @Test("--version: both tools print the one version string, which README shows")
    func version() throws {
        let b = try bundlectl("--version"), m = try mirrorctl("--version")
        #expect(b.status == 0 && m.status == 0 && b.err.isEmpty && m.err.isEmpty)
        #expect(b.out == m.out && b.out.range(of: #"^[0-9]+\.[0-9]+\.[0-9]+\n$"#, options: .regularExpression) != nil, "\(b.out)")
        let readme = try String(contentsOfFile: Env.packageRoot + "/README.md", encoding: .utf8)
        #expect(readme.contains("--version") && readme.contains(b.out.trimmingCharacters(in: .newlines)))
    }

    @Test("shell completions generate for bash, zsh and fish; the bash script parses", arguments: ["bundlectl", "mirrorctl"])
    func completions(_ tool: String) throws {
        let s = try Scratch()
        for shell in ["bash", "zsh", "fish"] {
            let r = try run(Env.bin + "/" + tool, ["--generate-completion-script", shell])
            #expect(r.status == 0 && r.err.isEmpty, "\(shell): \(r.text)")
            #expect(r.out.contains(tool) && r.out.contains(tool == "bundlectl" ? "diff" : "rollback"), "\(shell)")
            if shell == "bash" {
                try r.out.write(toFile: s.at("c.bash"), atomically: true, encoding: .utf8)
                #expect(try run("/bin/bash", ["-n", s.at("c.bash")]).status == 0)
            }
        }
        #expect(try String(contentsOfFile: Env.packageRoot + "/README.md", encoding: .utf8).contains("--generate-completion-script"))
    }

    @Test("MIRRORCTL_MIRROR stands in for --mirror: the flag wins, neither is a usage error naming both")
    func mirrorFromEnvironment() throws {
        let f = try ReachFeeds()
        let m = f.s.at("m"), nowhere = f.s.at("nowhere")
        let made = try run(Env.mirrorctl, ["init", "--trust", f.pub], env: ["MIRRORCTL_MIRROR": m])
        #expect(made.status == 0 && FileManager.default.fileExists(atPath: m + "/mirror.json"), "\(made.text)")
        let b = try f.bundle("1.bundle", seq: 1, ["a.json": "1"])
        let applied = try run(Env.mirrorctl, ["apply", b], env: ["MIRRORCTL_MIRROR": m])
        #expect(applied.status == 0, "\(applied.text)")
        let st = try run(Env.mirrorctl, ["status"], env: ["MIRRORCTL_MIRROR": m])
        #expect(st.status == 0 && st.out.contains("mirror       \(m) ") && st.out.contains("feeds v1 (sequence 1)"), "\(st.text)")

        let wins = try run(Env.mirrorctl, ["verify", "--mirror", m], env: ["MIRRORCTL_MIRROR": nowhere])
        #expect(wins.status == 0 && wins.out.contains("verified"), "\(wins.text)")
        for value in ["", nil] as [String?] {
            // Unset, or set to nothing (which counts as unset): the usage error names both ways.
            let r = try run(Env.mirrorctl, ["status"], env: value.map { ["MIRRORCTL_MIRROR": $0] } ?? [:])
            if value == nil && ProcessInfo.processInfo.environment["MIRRORCTL_MIRROR"] != nil { continue }
            #expect(r.status == 2 && r.out.isEmpty, "\(r.text)")
            #expect(r.err.hasPrefix("Error: give the mirror folder with --mirror DIR, or set MIRRORCTL_MIRROR\n"), "\(r.err)")
        }
        #expect(!FileManager.default.fileExists(atPath: nowhere))
        #expect(try mirrorctl("apply", "--help").out.contains("$MIRRORCTL_MIRROR; the"))
    }

    @Test("BUNDLECTL_KEY stands in for --key (build, sign): the flag wins, neither is a usage error naming both")
    func keyFromEnvironment() throws {
        let f = try ReachFeeds()
        let spec = try f.s.spec(sequence: 1, sources: [("f", "advisories", f.s.at("feed"))])
        try sh("mkdir -p \(f.s.at("feed")) && echo 1 > \(f.s.at("feed"))/a.json")
        let out = f.s.at("b.bundle")
        let built = try run(Env.bundlectl, ["build", spec, "--output", out], env: ["BUNDLECTL_KEY": f.key])
        #expect(built.status == 0 && built.out.contains("signed by  \(f.id)"), "\(built.text)")
        let cosigned = try run(Env.bundlectl, ["sign", out, "--key", f.coKey], env: ["BUNDLECTL_KEY": f.s.at("missing.key")])
        #expect(cosigned.status == 0 && cosigned.out.contains("by key \(f.coId)"), "the flag wins: \(cosigned.text)")
        #expect(try bundlectl("verify", out, "--trust", f.pub, "--trust", f.coPub, "--threshold", "2").status == 0)

        let none = try run(Env.bundlectl, ["build", spec, "--output", f.s.at("c.bundle")], env: ["BUNDLECTL_KEY": ""])
        #expect(none.status == 2 && none.err.hasPrefix("Error: give the secret key with --key FILE, or set BUNDLECTL_KEY\n"), "\(none.text)")
        #expect(!FileManager.default.fileExists(atPath: f.s.at("c.bundle")))
        #expect(try bundlectl("build", "--help").out.contains("$BUNDLECTL_KEY; the"))
    }

    @Test("--json on build and verify: one object with the figures the text shows; a refusal stays one line on stderr")
    func lowSideJSON() throws {
        let f = try ReachFeeds()
        let spec = try f.s.spec(sequence: 1, sources: [("f", "advisories", f.s.at("feed"))])
        try sh("mkdir -p \(f.s.at("feed")) && echo 1 > \(f.s.at("feed"))/a.json && echo 2 > \(f.s.at("feed"))/b.json")
        let built = try bundlectl("build", spec, "--key", f.key, "--output", f.s.at("1.bundle"), "--json")
        #expect(built.status == 0, "\(built.text)")
        let b = object(built)
        let sum = try sh("sha256sum \(f.s.at("1.bundle")) | cut -c1-64").trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(b["sha256"] as? String == sum && b["bundle"] as? String == f.s.at("1.bundle") && b["sequence"] as? Int == 1)
        let size = try FileManager.default.attributesOfItem(atPath: f.s.at("1.bundle"))[.size] as? Int
        #expect(b["size"] as? Int == size)
        #expect(b["signers"] as? [String] == [f.id] && member(b, "tree", "files") as? Int == 2 && b["delta"] is NSNull)

        try sh("echo 11 > \(f.s.at("feed"))/a.json")
        let delta = object(try bundlectl("build", spec, "--key", f.key, "--output", f.s.at("2.delta"), "--sequence", "2", "--base", f.s.at("1.bundle"), "--json"))
        #expect(member(delta, "delta", "sequence") as? Int == 1 && member(delta, "delta", "manifest") as? String == b["manifest"] as? String)
        #expect((member(delta, "delta", "patched") as? Int ?? 0) + (member(delta, "delta", "whole") as? Int ?? 0) == 1, "\(delta)")
        #expect(member(delta, "delta", "unchanged") as? Int == 1, "\(delta)")

        let verified = object(try bundlectl("verify", f.s.at("1.bundle"), "--trust", f.pub, "--json"))
        #expect(verified["manifest"] as? String == b["manifest"] as? String && verified["signers"] as? [String] == [f.id])
        #expect(verified["filesChecked"] as? Int == 2 && verified["expired"] as? Bool == false)
        #expect(object(try bundlectl("verify", f.s.at("2.delta"), "--trust", f.pub, "--json"))["filesChecked"] is NSNull)
        let refused = try bundlectl("verify", f.s.at("1.bundle"), "--trust", f.coPub, "--json")
        #expect(refused.status == 1 && refused.out.isEmpty && refused.err.hasPrefix("bundlectl: the MANIFEST of ") && refused.err.split(separator: "\n").count == 1, "\(refused.text)")
    }

    @Test("--json on apply, its dry run, status, verify, receipt, rollback and log; status and verify name every counted signer")
    func highSideJSON() throws {
        let f = try ReachFeeds()
        let m = f.s.at("m")
        #expect(try mirrorctl("init", "--mirror", m, "--trust", f.pub, "--trust", f.coPub, "--threshold", "2").status == 0)
        let one = try f.bundle("1.bundle", seq: 1, ["a.json": "1", "b.json": "2"])
        let two = try f.bundle("2.bundle", seq: 2, ["a.json": "11", "c.json": "3"])
        for b in [one, two] { #expect(try bundlectl("sign", b, "--key", f.coKey).status == 0) }

        let before = try MirrorSnapshot(m)
        let dry = object(try mirrorctl("apply", one, "--mirror", m, "--dry-run", "--json"))
        #expect(dry["dryRun"] as? Bool == true && dry["written"] is NSNull && member(dry, "changes", "added") as? Int == 2)
        #expect(try MirrorSnapshot(m) == before, "a dry run changes nothing")
        let first = object(try mirrorctl("apply", one, "--mirror", m, "--json"))
        #expect(first["dryRun"] as? Bool == false && first["signers"] as? [String] == [f.id, f.coId] && first["current"] as? String == m + "/current")
        let second = object(try mirrorctl("apply", two, "--mirror", m, "--json"))
        #expect(member(second, "changes", "sources", "advisories/f", "added") as? [String] == ["advisories/f/c.json"])
        #expect(member(second, "changes", "sources", "advisories/f", "changed") as? [String] == ["advisories/f/a.json"])
        #expect(member(second, "changes", "sources", "advisories/f", "removed") as? [String] == ["advisories/f/b.json"])
        #expect(second["versionId"] as? String == member(object(try mirrorctl("status", "--mirror", m, "--json")), "current", "id") as? String)

        // Every counted signer, in text and JSON, for the current and each retained version.
        let status = try mirrorctl("status", "--mirror", m).out
        #expect(status.split(separator: "\n").filter { $0.hasPrefix("retained") && $0.contains("signed by \(f.id), \(f.coId)") }.count == 2, "\(status)")
        let verify = try mirrorctl("verify", "--mirror", m)
        #expect(verify.out.contains("signed by  \(f.id), \(f.coId)"), "\(verify.out)")
        let verified = object(try mirrorctl("verify", "--mirror", m, "--json"))
        #expect(verified["verified"] as? Bool == true && verified["signers"] as? [String] == [f.id, f.coId] && member(verified, "journal", "entries") as? Int == 3)

        let receipt = object(try mirrorctl("receipt", "--mirror", m, "--output", f.s.at("r.json"), "--json"))
        let file = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: f.s.at("r.json")))) as? [String: Any]
        #expect(receipt["receipt"] as? String == f.s.at("r.json") && receipt["sequence"] as? Int == 2 && member(receipt, "tree", "files") as? Int == 2)
        let size = try FileManager.default.attributesOfItem(atPath: f.s.at("r.json"))[.size] as? Int
        #expect(file != nil && receipt["size"] as? Int == size)

        let back = object(try mirrorctl("rollback", "--mirror", m, "--json"))
        #expect(member(back, "from", "sequence") as? Int == 2 && member(back, "to", "sequence") as? Int == 1 && back["allowedRevoked"] is NSNull)
        let log = try mirrorctl("log", "--mirror", m, "--json")
        #expect(log.out.split(separator: "\n").compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }.count == 4, "\(log.out)")

        try sh("chmod u+w \(m)/current/advisories/f/a.json; echo x >> \(m)/current/advisories/f/a.json")
        let damaged = try mirrorctl("verify", "--mirror", m, "--json")
        let d = object(damaged)
        #expect(damaged.status == 1 && d["verified"] as? Bool == false, "\(damaged.text)")
        #expect((d["problems"] as? [String])?.contains { $0.hasPrefix("changed: advisories/f/a.json") } == true, "\(d)")
        #expect(damaged.err.hasPrefix("mirrorctl: version 1-") && damaged.err.split(separator: "\n").count == 1, "\(damaged.err)")
    }

    @Test("bundlectl diff: files per source as apply reports them, for a full B and a delta of A; what a mirror holding A would refuse")
    func diff() throws {
        let f = try ReachFeeds()
        let one = try f.bundle("1.bundle", seq: 1, ["a.json": "1", "b.json": "2", "c.json": "3"])
        let two = try f.bundle("2.bundle", seq: 2, ["a.json": "11", "b.json": "2", "d.json": "4"])
        let delta = try f.bundle("2.delta", seq: 2, ["a.json": "11", "b.json": "2", "d.json": "4"], extra: ["--base", one])

        let text = try bundlectl("diff", one, two, "--trust", f.pub)
        #expect(text.status == 0, "\(text.text)")
        for line in ["sequence        1 -> 2", "trust           no change: neither carries a policy", "files           1 added, 1 changed, 1 removed",
                     "  +             advisories/f/d.json", "  ~             advisories/f/a.json", "  -             advisories/f/c.json", "images          no change"] {
            #expect(text.out.contains(line + "\n"), "\(line)\n\(text.out)")
        }
        let full = object(try bundlectl("diff", one, two, "--trust", f.pub, "--json"))
        let ofDelta = object(try bundlectl("diff", one, delta, "--trust", f.pub, "--json"))
        #expect(NSDictionary(dictionary: full["changes"] as? [String: Any] ?? [:]).isEqual(to: ofDelta["changes"] as? [String: Any] ?? ["x": 1]), "\(full)\n\(ofDelta)")
        #expect(member(full, "from", "sequence") as? Int == 1 && member(full, "to", "signers") as? [String] == [f.id] && (full["notes"] as? [Any])?.isEmpty == true)

        // The same comparison as the mirror's dry run of B over A.
        let m = f.s.at("m")
        #expect(try mirrorctl("init", "--mirror", m, "--trust", f.pub).status == 0 && (try mirrorctl("apply", one, "--mirror", m)).status == 0)
        let dry = object(try mirrorctl("apply", two, "--mirror", m, "--dry-run", "--json"))
        #expect(NSDictionary(dictionary: dry["changes"] as? [String: Any] ?? [:]).isEqual(to: full["changes"] as? [String: Any] ?? ["x": 1]))

        let backwards = try bundlectl("diff", two, one, "--trust", f.pub)
        #expect(backwards.status == 0 && backwards.out.contains("note            B's sequence 1 is not above A's 2: a mirror holding A refuses B as a replay"), "\(backwards.out)")
        let deltaAsA = try bundlectl("diff", delta, two, "--trust", f.pub)
        #expect(deltaAsA.status == 2 && deltaAsA.out.isEmpty && deltaAsA.err.contains("is a delta of feeds sequence 1") && deltaAsA.err.contains("give a full bundle as A"), "\(deltaAsA.text)")
        let otherBase = try bundlectl("diff", two, delta, "--trust", f.pub)
        #expect(otherBase.status == 1 && otherBase.err.contains("is a delta of feeds sequence 1") && otherBase.err.contains("a mirror holding A refuses it"), "\(otherBase.text)")
        let untrusted = try bundlectl("diff", one, two, "--trust", f.coPub)
        #expect(untrusted.status == 1 && untrusted.out.isEmpty && untrusted.err.contains("signed by no trusted key"), "\(untrusted.text)")
    }

    @Test("bundlectl trust verify: the mirror's own rule before the policy travels; every missing signature named; the dry run shows what the rotation revokes")
    func trustVerify() throws {
        let o = try Officers()
        let current = ["--current", o.pub("A"), "--current", o.pub("B"), "--current", o.pub("C"), "--current-threshold", "2"]
        let v2 = try o.policy("trust-v2.json", version: 2, threshold: 2, keys: ["B", "C", "D"], signers: [])
        let unsigned = try run(Env.bundlectl, ["trust", "verify", v2] + current)
        #expect(unsigned.status == 1, "\(unsigned.text)")
        #expect(unsigned.out.contains("consent   NOT MET: ") && unsigned.out.contains("own keys  NOT MET: ") && unsigned.out.contains("version   ok: 2 is above 1"), "\(unsigned.out)")
        #expect(unsigned.err.contains("the mirror's current trust policy needs 2 of 3") && unsigned.err.contains("the new trust policy itself needs 2 of 3"), "\(unsigned.err)")
        #expect(unsigned.err.split(separator: "\n").count == 1)

        // Signed by A alone, and by D: one more of each is missing, and the mirror says the same.
        for k in ["A", "D"] { #expect(try bundlectl("trust", "sign", v2, "--key", o.secret(k)).status == 0) }
        let short = try run(Env.bundlectl, ["trust", "verify", v2, "--json"] + current)
        let j = object(short)
        #expect(short.status == 1 && j["holds"] as? Bool == false && j["approvedBy"] as? [String] == [o.id("A")] && j["signedByOwn"] as? [String] == [o.id("D")], "\(short.text)")
        #expect((j["problems"] as? [String])?.count == 2 && short.err.contains("not in the policy; the TRUST of"), "\(short.err)")
        let m = o.s.at("mirror")
        try sh("\(Env.mirrorctl) init --mirror \(m) --trust \(o.pub("A")) --trust \(o.pub("B")) --trust \(o.pub("C")) --threshold 2 >/dev/null")
        let early = try o.bundle("early.bundle", seq: 1, signers: ["B", "D"], policy: v2)
        let refused = try mirrorctl("apply", early, "--mirror", m, "--dry-run")
        // The mirror refuses in the same words; it stops at the missing consent (it reads no policy the current officers did not sign).
        let consent = ((j["problems"] as? [String])?.first ?? "?").replacingOccurrences(of: "'\(v2)'", with: "'\(early)'")
        #expect(refused.status == 1 && refused.err.contains(consent), "\(consent)\n\(refused.err)")

        #expect(try bundlectl("trust", "sign", v2, "--key", o.secret("B")).status == 0)
        let ok = try run(Env.bundlectl, ["trust", "verify", v2] + current)
        #expect(ok.status == 0 && ok.err.isEmpty, "\(ok.text)")
        #expect(ok.out.contains("changes   keys added \(o.id("D")); revoked \(o.id("A"))\n") && ok.out.contains("result    a mirror trusting the current policy adopts it"), "\(ok.out)")
        let replay = try bundlectl("trust", "verify", v2, "--current", v2)
        #expect(replay.status == 1 && replay.err.contains("policy version 2; the pinned policy is version 2"), "\(replay.text)")

        let b = try o.bundle("rotate.bundle", seq: 1, signers: ["B", "D"], policy: v2)
        let dry = try mirrorctl("apply", b, "--mirror", m, "--dry-run")
        #expect(dry.status == 0 && dry.out.contains("  change        keys added \(o.id("D")); revoked \(o.id("A"))\n"), "\(dry.text)")
        let dj = object(try mirrorctl("apply", b, "--mirror", m, "--dry-run", "--json"))
        #expect(member(dj, "trustChange", "revoked") as? [String] == [o.id("A")] && member(dj, "trustPolicy", "version") as? Int == 2, "\(dj)")
        #expect(member(object(try bundlectl("inspect", b, "--json")), "trustPolicy", "keys") as? [String] == ["B", "C", "D"].map(o.id))
    }

    @Test("images: the dry run and diff show images added and removed; push --json gives one object for the run")
    func images() throws {
        let p = try PushFixture()
        let f = p.f
        let first = try f.spec("1.yaml", sequence: 1, [("images", [f.archive("example-base-1.oci.tar"), f.archive("example-app-1.0.docker.tar")])])
        let second = try f.spec("2.yaml", sequence: 2, [("images", [f.archive("example-app-1.0.docker.tar"), f.archive("example-app-1.1.oci.tar")])])
        #expect(try f.build(first, "1.bundle").status == 0 && (try f.build(second, "2.bundle")).status == 0)
        let m = try f.mirror()
        #expect(try mirrorctl("apply", f.s.at("1.bundle"), "--mirror", m).status == 0)

        let dry = try mirrorctl("apply", f.s.at("2.bundle"), "--mirror", m, "--dry-run")
        #expect(dry.status == 0, "\(dry.text)")
        let added = dry.out.split(separator: "\n").filter { $0.hasPrefix("  image +") }, removed = dry.out.split(separator: "\n").filter { $0.hasPrefix("  image -") }
        #expect(added.count == 1 && added[0].contains("example/app:1.1  sha256:") && removed.count == 1 && removed[0].contains("example/base:1  sha256:"), "\(dry.out)")
        let diff = object(try bundlectl("diff", f.s.at("1.bundle"), f.s.at("2.bundle"), "--trust", f.pub, "--json"))
        let dj = object(try mirrorctl("apply", f.s.at("2.bundle"), "--mirror", m, "--dry-run", "--json"))
        for o in [diff, dj] {
            #expect((member(o, "imageChanges", "added") as? [[String: Any]])?.map { $0["ref"] as? String } == ["example/app:1.1"], "\(o)")
            #expect((member(o, "imageChanges", "removed") as? [[String: Any]])?.map { $0["ref"] as? String } == ["example/base:1"], "\(o)")
        }
        #expect(try mirrorctl("apply", f.s.at("2.bundle"), "--mirror", m).status == 0)

        let reg = try TestRegistry(f.s)
        let pushed = try push(m, reg, "--json")
        let j = object(pushed)
        #expect(pushed.status == 0 && j["pushed"] as? Int == 2 && (j["refused"] as? [Any])?.isEmpty == true, "\(pushed.text)")
        let images = (j["images"] as? [[String: Any]]) ?? []
        #expect(Set(images.compactMap { $0["ref"] as? String }) == ["example/app:1.0", "example/app:1.1"], "\(j)")
        for i in images { #expect(try reg.manifestDigest("\(i["ref"] as? String ?? "")") == i["digest"] as? String, "\(i)") }
        #expect(j["uploaded"] as? Int == images.reduce(0) { $0 + ($1["uploaded"] as? Int ?? 0) } && j["registry"] as? String == reg.host)
    }
}
