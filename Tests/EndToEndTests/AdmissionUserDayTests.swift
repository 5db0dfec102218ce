import Foundation
import Testing

/// Issue 13, items 2, 7, 8, 10, 11 and 12: what the operator and the enclave admin hit when a
/// bundle is built against another officer's base, refused, pushed or carries a policy again.
@Suite("The users' day: deltas across officers, refusals that name every reason, the spec's own mistakes")
struct AdmissionUserDayTests {
    /// PyPA of two months as two specs, officers A..E (TrustTests' `Officers`).
    private func twoMonths(_ o: Officers) throws -> [String] {
        try ["2024-08-01", "2024-09-01"].enumerated().map { i, month in
            try o.s.spec("m\(i + 1).yaml", sequence: i + 1, sources: [("pypa", "advisories", try o.s.pypa(month))])
        }
    }

    private func build(_ o: Officers, _ spec: String, by officer: String, _ output: String, _ extra: [String] = []) throws -> Outcome {
        try run(Env.bundlectl, ["build", spec, "--key", o.secret(officer), "--output", o.s.at(output)] + extra,
                env: ["SOURCE_DATE_EPOCH": "1722470400"])
    }

    /// "changes  8 whole, 3 patched, ..." -> 3.
    private func patched(_ out: String) -> Int {
        let line = out.split(separator: "\n").first { $0.hasPrefix("changes") }.map(String.init) ?? ""
        return count(line, "patched")
    }

    @Test("a delta against a base another officer signed: --base-trust gives patches; without it the refusal names the signer and --base-trust")
    func deltaAcrossOfficers() throws {
        let o = try Officers()
        let specs = try twoMonths(o)
        #expect(try build(o, specs[0], by: "A", "full1.bundle").status == 0)

        let refused = try build(o, specs[1], by: "B", "d2.bundle", ["--base", o.s.at("full1.bundle")])
        #expect(refused.status == 1, "\(refused.text)")
        #expect(refused.err.contains("base bundle '\(o.s.at("full1.bundle"))' is signed by key \(o.id("A")), which the build does not trust (it trusts \(o.id("B")), the building key)"), "\(refused.err)")
        #expect(refused.err.contains("give the signer's public key with --base-trust KEY.pub"), "\(refused.err)")
        #expect(!FileManager.default.fileExists(atPath: o.s.at("d2.bundle")))
        let wrongKey = try build(o, specs[1], by: "B", "d2.bundle", ["--base", o.s.at("full1.bundle"), "--base-trust", o.pub("C")])
        #expect(wrongKey.status == 1 && wrongKey.err.contains("(it trusts \(o.id("B")), \(o.id("C")): the building key and --base-trust)"), "\(wrongKey.err)")

        let delta = try build(o, specs[1], by: "B", "d2.bundle", ["--base", o.s.at("full1.bundle"), "--base-trust", o.pub("A")])
        #expect(delta.status == 0, "\(delta.text)")
        #expect(patched(delta.out) == 3, "\(delta.out)")

        // The receipt path, the only way before: the same change, but nothing patched.
        let m = o.s.at("mirror")
        #expect(try mirrorctl("init", "--mirror", m, "--trust", o.pub("A"), "--trust", o.pub("B")).status == 0)
        #expect(try mirrorctl("apply", o.s.at("full1.bundle"), "--mirror", m).status == 0)
        #expect(try mirrorctl("receipt", "--mirror", m, "--output", o.s.at("r.json")).status == 0)
        let viaReceipt = try build(o, specs[1], by: "B", "r2.bundle", ["--base-receipt", o.s.at("r.json")])
        #expect(viaReceipt.status == 0 && patched(viaReceipt.out) == 0, "\(viaReceipt.out)")
        let size = { (f: String) in (try FileManager.default.attributesOfItem(atPath: o.s.at(f))[.size] as? Int) ?? 0 }
        #expect(try size("d2.bundle") < size("r2.bundle"), "patches make the delta smaller")

        let applied = try mirrorctl("apply", o.s.at("d2.bundle"), "--mirror", m)
        #expect(applied.status == 0, "\(applied.text)")
        #expect(try sameTree(m + "/current/advisories/pypa", o.s.at("pypa-2024-09-01/vulns")))

        let alone = try run(Env.bundlectl, ["build", specs[1], "--key", o.secret("B"), "--output", o.s.at("x.bundle"), "--base-trust", o.pub("A")])
        #expect(alone.status == 2 && alone.err.contains("--base-trust names keys for the --base bundle; give --base too"), "\(alone.err)")
    }

    @Test("push without --insecure to a plain-HTTP registry: one try, and the line says it speaks HTTP and that --insecure exists")
    func pushToPlainHTTP() throws {
        let p = try PushFixture()
        let (m, _) = try p.mirror([p.f.archive("example-base-1.oci.tar")])
        let reg = try TestRegistry(p.s)
        let r = try run(Env.mirrorctl, ["push", "--mirror", m, "--registry", reg.host])
        #expect(r.status == 3, "\(r.text)")
        #expect(r.err.hasPrefix("mirrorctl: registry \(reg.host) speaks plain HTTP, not HTTPS: it answered the TLS handshake without TLS ("), "\(r.err)")
        #expect(r.err.hasSuffix("); if it is a plain-HTTP registry, pass --insecure (no TLS at all: only on a network you trust)\n"), "\(r.err)")
        #expect(!r.err.contains("attempts"), "a deterministic error is not retried: \(r.err)")
        #expect(try reg.requests("PUT") == 0)

        let insecure = try push(m, reg)
        #expect(insecure.status == 0, "\(insecure.text)")
        #expect(try reg.manifestDigest("example/base:1") != nil)
    }

    @Test("YAML mistakes: one position, one sentence (a tab says to use spaces); nothing is built", arguments: [
        ("name: feeds\nversion: \"1\"\nsources:\n\t- name: x\n", ":4:1: a tab is not allowed for indentation in YAML; use spaces"),
        ("name: feeds\nsources:\n  - name: x\n    kind: advisories\n\tpath: y\n", ":5:1: a tab is not allowed for indentation in YAML; use spaces"),
        ("name: feeds\nversion: \"1\nsources: [\n", ":4:1: not valid YAML: found unexpected end of stream while scanning a quoted scalar that starts on line 2"),
        ("name: feeds\n  x: y\n", ":2:4: not valid YAML: mapping values are not allowed in this context"),
        ("name: feeds\nversion: \"1\u{01}\"\n", ":2:12: not valid YAML: control characters are not allowed"),
    ])
    func yamlMistakes(_ yaml: String, _ message: String) throws {
        let s = try Scratch()
        let (key, _) = try s.key("k")
        try yaml.write(toFile: s.at("spec.yaml"), atomically: true, encoding: .utf8)
        let r = try bundlectl("build", s.at("spec.yaml"), "--key", key, "--output", s.at("x.bundle"))
        #expect(r.status == 2, "\(r.text)")
        #expect(r.err == "bundlectl: \(s.at("spec.yaml"))\(message)\n", "\(r.err)")
        #expect(!FileManager.default.fileExists(atPath: s.at("x.bundle")))
    }

    @Test("a source path: or image archive that is itself a link is refused naming the spec line and the real path; the real path builds")
    func sourcePathThatIsALink() throws {
        let s = try Scratch()
        let (key, _) = try s.key("k")
        try sh("cd \(s.path) && mkdir -p feeds/2026-06 && echo '{}' > feeds/2026-06/r.json && ln -s 2026-06 feeds/latest && ln -s nowhere feeds/gone")
        try sh("ln -s \(ImageFixture.images)/example-base-1.oci.tar \(s.at("base.tar"))")
        let real = try sh("realpath \(s.at("feeds/2026-06"))").trimmingCharacters(in: .whitespacesAndNewlines)
        let cases: [(String, String)] = [
            ("feeds/latest", ":5: source 'feed': 'feeds/latest' is a symbolic link; bundles never follow links: name the real path, '\(real)', in the spec"),
            ("feeds/gone", ":5: source 'feed': 'feeds/gone' is a symbolic link; bundles never follow links: it points nowhere (a dangling link)"),
        ]
        for (path, message) in cases {
            let spec = try s.spec(sequence: 1, sources: [("feed", "advisories", path)])
            let r = try bundlectl("build", spec, "--key", key, "--output", s.at("x.bundle"))
            #expect(r.status == 2 && r.err == "bundlectl: \(spec)\(message)\n", "\(r.text)")
            #expect(!FileManager.default.fileExists(atPath: s.at("x.bundle")))
        }
        let images = s.at("images.yaml")
        try "name: feeds\nversion: \"1\"\nsequence: 1\nsources:\n  - name: platform\n    kind: images\n    archives: [base.tar]\n"
            .write(toFile: images, atomically: true, encoding: .utf8)
        let img = try bundlectl("build", images, "--key", key, "--output", s.at("x.bundle"))
        #expect(img.status == 2 && img.err.hasPrefix("bundlectl: \(images):5: source 'platform': image archive '\(s.at("base.tar"))' is a symbolic link; bundles never follow links: name the real path, '"), "\(img.text)")

        let spec = try s.spec(sequence: 1, sources: [("feed", "advisories", "feeds/2026-06")])
        #expect(try bundlectl("build", spec, "--key", key, "--output", s.at("x.bundle")).status == 0)
    }

    @Test("inspect names the two image byte counts for what they count: as listed (shared blobs again per image) and in the layout (each once, with its two files)")
    func inspectImageBytes() throws {
        let f = try ImageFixture()
        let one = try f.spec("one.yaml", sequence: 1, [("platform", [f.archive("example-base-1.oci.tar")])])
        let two = try f.spec("two.yaml", sequence: 1, [("platform", [f.archive("example-base-1.oci.tar"), f.archive("example-app-1.0.oci.tar")])])
        #expect(try f.build(one, "one.bundle").status == 0 && f.build(two, "two.bundle").status == 0)
        // The layout's own files, index.json and oci-layout, as the mirror would hold them.
        let layoutFiles = { (bundle: String) -> Int in
            let m = try f.mirror("m-" + bundle)
            #expect(try mirrorctl("apply", f.s.at(bundle), "--mirror", m).status == 0)
            return Int(try sh("cat \(m)/current/images/index.json \(m)/current/images/oci-layout | wc -c").trimmingCharacters(in: .whitespacesAndNewlines)) ?? -1
        }
        for (bundle, images) in [("one.bundle", 1), ("two.bundle", 2)] {
            let out = try bundlectl("inspect", f.s.at(bundle), "--json")
            let json = try JSONSerialization.jsonObject(with: Data(out.out.utf8)) as? [String: Any] ?? [:]
            let listed = json["imageBytesAsListed"] as? Int ?? -1, inLayout = json["imageBytesInLayout"] as? Int ?? -1
            #expect(json["imageBytes"] == nil && json["imageBytesDistinct"] == nil, "\(out.out)")
            let sizes = (json["images"] as? [[String: Any]] ?? []).map { $0["size"] as? Int ?? 0 }
            #expect(sizes.count == images && listed == sizes.reduce(0, +), "as listed is each image's blobs added up: \(out.out)")
            if images == 1 {
                // One image: the layout is its blobs plus the layout's two files.
                #expect(try inLayout == listed + layoutFiles(bundle), "\(out.out)")
            } else {
                #expect(listed > inLayout, "shared blobs are listed twice, stored once: \(out.out)")
            }
            let text = try bundlectl("inspect", f.s.at(bundle)).out
            let noun = images == 1 ? "image lists" : "images list"
            #expect(text.contains("dedup      \(images) \(noun) \(grouped(listed)) bytes of blobs (a blob counted for each image that lists it); "
                + "the layout holds \(grouped(inLayout)) bytes (each blob once, with index.json and oci-layout): sharing saves \(grouped(max(0, listed - inLayout))) bytes"), "\(text)")
        }
    }

    @Test("a bundle carrying the policy a mirror adopted already applies as no change; a mirror that has not rotated adopts it; another policy of that version is refused")
    func samePolicyAgain() throws {
        let o = try Officers()
        let (m1, m2) = (o.s.at("m1"), o.s.at("m2"))
        let b1 = try o.bundle("1.bundle", seq: 1, signers: ["A"])
        for m in [m1, m2] {
            #expect(try mirrorctl("init", "--mirror", m, "--trust", o.pub("A")).status == 0)
            #expect(try mirrorctl("apply", b1, "--mirror", m).status == 0)
        }
        let v2 = try o.policy("v2.json", version: 2, threshold: 1, keys: ["B", "C"], signers: ["A", "B"])
        #expect(try mirrorctl("apply", try o.bundle("2.bundle", seq: 2, signers: ["B"], policy: v2), "--mirror", m1).status == 0)
        let config = try sh("cat \(m1)/mirror.json")
        let trustEvents = { try sh("grep -c '\"event\":\"trust\"' \(m1)/journal.jsonl || true").trimmingCharacters(in: .whitespacesAndNewlines) }
        #expect(try trustEvents() == "1")

        // Next month's bundle carries v2 again, for the mirrors that have not rotated yet.
        let b3 = try o.bundle("3.bundle", seq: 3, signers: ["B"], policy: v2)
        let line = "  the bundle carries policy version 2: 1 of 2 (\(o.id("B")), \(o.id("C"))), already in force here: nothing to adopt"
        let dry = try mirrorctl("apply", b3, "--mirror", m1, "--dry-run")
        #expect(dry.status == 0 && dry.out.contains(line), "\(dry.text)")
        let again = try mirrorctl("apply", b3, "--mirror", m1)
        #expect(again.status == 0 && again.out.contains(line) && !again.out.contains("adopted"), "\(again.text)")
        #expect(try sh("cat \(m1)/mirror.json") == config, "the pinned policy and its history are unchanged")
        #expect(try trustEvents() == "1", "no second rotation is journaled")
        #expect(try mirrorctl("verify", "--mirror", m1).status == 0)
        let late = try mirrorctl("apply", b3, "--mirror", m2)
        #expect(late.status == 0 && late.out.contains("adopted policy version 2"), "\(late.text)")

        // Another policy with the same version number is still refused, and nothing changes.
        let other = try o.policy("v2-other.json", version: 2, threshold: 1, keys: ["B", "D"], signers: ["B", "D"])
        let before = try MirrorSnapshot(m1)
        let r = try mirrorctl("apply", try o.bundle("4.bundle", seq: 4, signers: ["B"], policy: other), "--mirror", m1)
        #expect(r.status == 1 && r.err.contains("is policy version 2; the pinned policy is version 2: an older or replayed policy is refused"), "\(r.err)")
        #expect(try MirrorSnapshot(m1) == before && sh("cat \(m1)/mirror.json") == config)
    }

    /// Bundle `name` of the small feed, built as of 2023 (so an expiry in 2025 is allowed), signed by `signers`.
    private func dated(_ o: Officers, _ name: String, seq: Int, expires: String?, signers: [String], container: String = "auto") throws -> String {
        try sh("echo \(seq) > \(o.feed)/seq.json")
        let spec = try o.s.spec("\(name).yaml", sequence: seq, extra: expires.map { "expires: \($0)\n" } ?? "", sources: [("f", "advisories", o.feed)])
        let r = try run(Env.bundlectl, ["build", spec, "--key", o.secret(signers[0]), "--output", o.s.at(name), "--container", container],
                        env: ["SOURCE_DATE_EPOCH": "1700000000"])
        #expect(r.status == 0, "\(r.text)")
        for k in signers.dropFirst() { #expect(try bundlectl("sign", o.s.at(name), "--key", o.secret(k)).status == 0) }
        return o.s.at(name)
    }

    @Test("a refusal names every failed check, the decisive ones first: an old, expired, under-signed bundle is told all three; dry run alike")
    func everyReason() throws {
        let o = try Officers()
        let m = o.s.at("mirror")
        #expect(try mirrorctl("init", "--mirror", m, "--trust", o.pub("A"), "--trust", o.pub("B"), "--threshold", "2").status == 0)
        #expect(try mirrorctl("apply", try dated(o, "5.bundle", seq: 5, expires: nil, signers: ["A", "B"]), "--mirror", m).status == 0)
        let old = try dated(o, "3.bundle", seq: 3, expires: "2025-01-01T00:00:00Z", signers: ["A"])
        let signatures = "the MANIFEST of '\(old)' is signed by 1 trusted key (\(o.id("A"))), but the trust policy needs 2 of 2 (\(o.id("A")), \(o.id("B"))): 1 more signature needed"
        let replay = "its sequence 3 is not above 5, the highest this mirror has applied (replayed or older bundles are refused; `mirrorctl rollback` or `mirrorctl switch` goes back to a retained version)"
        let before = try MirrorSnapshot(m)

        let r = try mirrorctl("apply", old, "--mirror", m)
        let all = "bundle 'feeds' sequence 3 is refused for 3 reasons: 1) \(replay); 2) it expired at 2025-01-01T00:00:00Z (--allow-expired applies it anyway); 3) \(signatures)"
        #expect(r.status == 1 && r.err == "mirrorctl: \(all)\n", "\(r.err)")
        #expect(try MirrorSnapshot(m) == before)
        let journaled = try JSONSerialization.jsonObject(with: Data(try sh("tail -1 \(m)/journal.jsonl").utf8)) as? [String: Any]
        #expect(journaled?["event"] as? String == "refuse" && journaled?["reason"] as? String == all, "\(String(describing: journaled))")
        let dry = try mirrorctl("apply", old, "--mirror", m, "--dry-run", "--allow-expired")
        #expect(dry.status == 1 && dry.err == "mirrorctl: bundle 'feeds' sequence 3 is refused for 2 reasons: 1) \(replay); 2) \(signatures)\n", "\(dry.err)")

        // Fully signed but old and expired: both named, no signature is asked for.
        let signedOld = try dated(o, "4.bundle", seq: 4, expires: "2025-01-01T00:00:00Z", signers: ["A", "B"])
        let r4 = try mirrorctl("apply", signedOld, "--mirror", m)
        #expect(r4.status == 1 && r4.err.hasPrefix("mirrorctl: bundle 'feeds' sequence 4 is refused for 2 reasons: 1) its sequence 4 is not above 5") && !r4.err.contains("signature"), "\(r4.err)")
        // Only a signature missing: its own sentence, as before.
        let newer = try dated(o, "6.bundle", seq: 6, expires: nil, signers: ["A"])
        let r6 = try mirrorctl("apply", newer, "--mirror", m)
        #expect(r6.status == 1 && r6.err == "mirrorctl: \(signatures.replacingOccurrences(of: old, with: newer))\n", "\(r6.err)")

        // An altered MANIFEST (still valid JSON): its words are not repeated, only that it was altered.
        let altered = try dated(o, "3t.bundle", seq: 3, expires: "2025-01-01T00:00:00Z", signers: ["A"], container: "tar")
        let data = try Data(contentsOf: URL(fileURLWithPath: altered))
        let at = data.range(of: Data("\"version\":\"v".utf8), in: try entryOffset(altered, "MANIFEST")..<data.count)!.upperBound - 1
        try flipByte(altered, at: at)
        let rt = try mirrorctl("apply", altered, "--mirror", m)
        #expect(rt.status == 1 && rt.err.contains("does not match the MANIFEST") && !rt.err.contains("reasons"), "\(rt.err)")
        #expect(try MirrorSnapshot(m) == before)
    }
}
