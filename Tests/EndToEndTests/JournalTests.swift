import Foundation
import Testing

/// A mirror with a journal of every kind of entry: init, two applies, a refusal, a rollback and a
/// refused rollback. Tiny trees, so each test makes its own.
struct JournalFixture {
    let s: Scratch
    let mirror: String
    let bundles: [String]

    init() throws {
        s = try Scratch()
        let (key, pub) = try s.key("op")
        let made = try s.smallBundles(3, key: key)
        bundles = made
        mirror = s.at("mirror")
        try sh("""
            \(Env.mirrorctl) init --mirror \(mirror) --trust \(pub)
            \(Env.mirrorctl) apply \(made[0]) --mirror \(mirror) && \(Env.mirrorctl) apply \(made[1]) --mirror \(mirror)
            if \(Env.mirrorctl) apply \(made[0]) --mirror \(mirror) 2>/dev/null; then exit 1; fi
            \(Env.mirrorctl) rollback --mirror \(mirror)
            if \(Env.mirrorctl) rollback --mirror \(mirror) 2>/dev/null; then exit 1; fi
            """)
    }

    func entries() throws -> [[String: Any]] {
        let r = try mirrorctl("log", "--mirror", mirror, "--json")
        #expect(r.status == 0, "\(r.text)")
        return try r.out.split(separator: "\n").map { try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] ?? [:] }
    }

    func manifestDigest(_ bundle: String) throws -> String {
        let r = try bundlectl("inspect", bundle, "--json")
        let o = try JSONSerialization.jsonObject(with: Data(r.out.utf8)) as? [String: Any]
        return o?["manifest"] as? String ?? "?"
    }
}

@Suite("The journal records every change and refusal, and verify names a broken line")
struct JournalTests {
    @Test("applies, refusals and rollbacks are journaled with signer, manifest digest and time; log shows them")
    func recorded() throws {
        let f = try JournalFixture()
        let e = try f.entries()
        #expect(e.map { $0["event"] as? String ?? "" } == ["init", "apply", "apply", "refuse", "rollback", "refuse"])
        #expect(e.enumerated().allSatisfy { i, x in x["n"] as? Int == i + 1 && (x["time"] as? String)?.hasSuffix("Z") == true })
        let signer = e[1]["signer"] as? String ?? ""
        #expect(signer.count == 16)
        #expect(e[1]["manifest"] as? String == (try f.manifestDigest(f.bundles[0])))
        #expect(e[2]["manifest"] as? String == (try f.manifestDigest(f.bundles[1])) && e[2]["previous"] as? String == e[1]["versionId"] as? String)
        // The refusal says why, and which signed manifest was refused, by whom.
        #expect((e[3]["reason"] as? String)?.contains("replayed or older bundles are refused") == true)
        #expect(e[3]["manifest"] as? String == (try f.manifestDigest(f.bundles[0])) && e[3]["signer"] as? String == signer)
        #expect(e[4]["from"] as? String == e[2]["versionId"] as? String && e[4]["to"] as? String == e[1]["versionId"] as? String)
        #expect(e[5]["command"] as? String == "rollback" && (e[5]["reason"] as? String)?.contains("nothing to roll back to") == true)

        let text = try mirrorctl("log", "--mirror", f.mirror)
        #expect(text.status == 0)
        let lines = text.out.split(separator: "\n")
        #expect(lines.count == 6)
        #expect(lines[1].contains("apply     feeds v1 seq 1") && lines[1].contains("signed by \(signer)"))
        #expect(lines[3].contains("refuse    1.bundle") && lines[3].contains("replayed or older"))
        #expect(lines[4].contains("rollback") && lines[5].contains("refuse    rollback: no version older"))

        // Refusals before the lock is taken, or of what is not a mirror, are not journaled.
        let before = try sh("cat \(f.mirror)/journal.jsonl")
        #expect(try mirrorctl("apply", f.bundles[2], "--mirror", f.mirror, "--dry-run").status == 0)
        #expect(try mirrorctl("apply", f.bundles[2], "--mirror", f.s.at("nowhere")).status == 2)
        #expect(try sh("cat \(f.mirror)/journal.jsonl") == before)

        let v = try mirrorctl("verify", "--mirror", f.mirror)
        #expect(v.status == 0 && v.out.contains("hash chain intact: 6 entries, last sha256:"), "\(v.text)")
    }

    /// (what is done to journal.jsonl or journal.head, what verify must say)
    @Test("an edited, removed, inserted or reordered line, or a changed head, is named", arguments: [
        ("sed -i '3s/\"version\":\"v2\"/\"version\":\"v9\"/' journal.jsonl", "the journal's hash chain is broken at line 4: journal line 3 was changed"),
        ("sed -i '1s/\"threshold\":1/\"threshold\":2/' journal.jsonl", "broken at line 2: journal line 1 was changed"),
        ("sed -i '6s/nothing to roll back to/rolled back/' journal.jsonl", "journal line 6 was changed: it no longer matches journal.head"),
        ("sed -i '4d' journal.jsonl", "broken at line 4: it holds entry 5, so lines before it were removed, inserted or reordered"),
        ("sed -i '6d' journal.jsonl", "the journal ends at line 5, but journal.head records line 6: its last 1 line(s) were removed"),
        ("sed -i '1d' journal.jsonl", "broken at line 1: it holds entry 2"),
        ("awk 'NR==3{t=$0;next} NR==4{print;print t;next} {print}' journal.jsonl > j && mv j journal.jsonl", "broken at line 3: it holds entry 4"),
        ("sed -i '2p' journal.jsonl", "broken at line 3: it holds entry 2"),
        ("sed -i '3s/$/ /' journal.jsonl", "journal line 3 is not a journal entry"),
        ("printf '{\"event\":\"apply\"}\\n' >> journal.jsonl", "journal line 7 is not a journal entry"),
        ("rm journal.head", "journal.head is missing"),
        ("echo '{\"n\":6,\"sha256\":\"00\"}' > journal.head", "journal.head is not a journal head"),
    ])
    func tampered(_ edit: String, _ message: String) throws {
        let f = try JournalFixture()
        try sh("cd \(f.mirror) && \(edit)")
        let v = try mirrorctl("verify", "--mirror", f.mirror)
        #expect(v.status == 1, "\(v.text)")
        #expect(v.out.contains(message), "verify said: \(v.text)")
        // The log shows what it can and ends with the same finding.
        let log = try mirrorctl("log", "--mirror", f.mirror)
        #expect(log.status == 1 && log.err.contains(message), "\(log.text)")
    }

    @Test("a line cut short by a crash is not a broken chain; the next change drops it and says so")
    func cutShortLine() throws {
        let f = try JournalFixture()
        try sh("printf '{\"event\":\"apply\",\"manif' >> \(f.mirror)/journal.jsonl")
        #expect(try mirrorctl("verify", "--mirror", f.mirror).status == 0)
        #expect(try mirrorctl("apply", f.bundles[2], "--mirror", f.mirror).status == 0)
        let e = try f.entries()
        #expect(e.count == 7 && e[6]["event"] as? String == "apply")
        #expect((e[6]["dropped"] as? String)?.contains("incomplete last line of 23 bytes") == true, "\(e[6])")
        #expect(try mirrorctl("verify", "--mirror", f.mirror).status == 0)
    }

    @Test("a change interrupted between moving current and journaling it is recorded by the next run")
    func unjournaledSwap() throws {
        let f = try JournalFixture()
        // What a kill right after the swap leaves: current on the new version, neither state.json
        // nor the journal updated, and a half-written state file.
        let entries = try f.entries()
        let newer = entries[2]["versionId"] as? String ?? ""
        try sh("cd \(f.mirror) && ln -sfn versions/\(newer)/tree current.tmp && mv -T current.tmp current && echo '{' > state.json.tmp-4242")
        #expect(try mirrorctl("verify", "--mirror", f.mirror).status == 0)
        #expect(try mirrorctl("apply", f.bundles[2], "--mirror", f.mirror).status == 0)
        let e = try f.entries()
        #expect(e.count == 8 && e[6]["event"] as? String == "recover", "\(e)")
        #expect(e[6]["versionId"] as? String == newer && e[6]["signer"] as? String == entries[2]["signer"] as? String)
        #expect(e[6]["manifest"] as? String == entries[2]["manifest"] as? String)
        #expect((e[6]["removed"] as? [String]) == ["state.json.tmp-4242"])
        #expect(e[7]["previous"] as? String == newer)
        #expect(try sh("ls -A \(f.mirror)") == ".lock\ncurrent\njournal.head\njournal.jsonl\nmirror.json\nstaging\nstate.json\nversions\n")
        let log = try mirrorctl("log", "--mirror", f.mirror)
        #expect(log.out.contains("recover   current is \(newer)"), "\(log.out)")
    }
}
