import Foundation
import Testing

/// Three months of the real feeds (PyPA 2024-08-01, 09-01, 10-01 as one source, CISA KEV
/// 2025-06-01, 07-01, 08-01 as another), as bundles, trees for the oracle, and a mirror.
private struct Months {
    let s: Scratch
    let key: String, pub: String
    let mirror: String
    /// Per month: a tree laid out as the mirror's (advisories/pypa, advisories/kev), for the oracle.
    var trees: [String] = []
    var bundles: [String] = []

    init() throws {
        s = try Scratch()
        (key, pub) = try s.key("op")
        mirror = s.at("mirror")
        let months = [("2024-08-01", "2025-06-01"), ("2024-09-01", "2025-07-01"), ("2024-10-01", "2025-08-01")]
        for (n, (pypa, kev)) in months.enumerated() {
            let pypaDir = try s.pypa(pypa), kevDir = (try s.kev(kev) as NSString).deletingLastPathComponent
            let tree = s.at("tree\(n + 1)")
            try sh("mkdir -p \(tree)/advisories && ln -s \(pypaDir) \(tree)/advisories/pypa && ln -s \(kevDir) \(tree)/advisories/kev")
            trees.append(tree)
            let spec = try s.spec("m\(n + 1).yaml", sequence: n + 1, sources: [("pypa", "advisories", pypaDir), ("kev", "advisories", kevDir)])
            // Months 1 and 2 travel as full bundles, month 3 as a delta of month 2 (patches).
            let base = n == 2 ? ["--base", bundles[1]] : []
            let r = try run(Env.bundlectl, ["build", spec, "--key", key, "--output", s.at("m\(n + 1).bundle")] + base,
                            env: ["SOURCE_DATE_EPOCH": "1722470400"])
            #expect(r.status == 0, "\(r.text)")
            bundles.append(s.at("m\(n + 1).bundle"))
        }
        #expect(try mirrorctl("init", "--mirror", mirror, "--trust", pub).status == 0)
    }

    /// The folder of the retained version of sequence `n`.
    func version(_ n: Int) throws -> String {
        let name = try sh("ls \(mirror)/versions | grep '^\(n)-'").trimmingCharacters(in: .whitespacesAndNewlines)
        return mirror + "/versions/" + name
    }
}

/// The Python oracle's verdict on a report (CHANGES.json, or --json output) for OLD -> NEW.
private func oracle(_ old: String, _ new: String, _ report: String, sourceLocation: SourceLocation = #_sourceLocation) throws {
    let r = try run("/usr/bin/env", ["python3", Env.packageRoot + "/Tests/Tools/changes_oracle.py", old, new, report])
    #expect(r.status == 0 && r.out == "ok\n", "the report disagrees with Python's json and yaml:\n\(r.text)", sourceLocation: sourceLocation)
}

private func jsonFile(_ path: String) throws -> [String: Any] {
    try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: path))) as? [String: Any] ?? [:]
}

/// `o` without the members naming the versions compared (a bundle pair has no version ids).
private func withoutEnds(_ o: Any?) -> NSDictionary {
    var d = o as? [String: Any] ?? [:]
    d["from"] = nil
    d["to"] = nil
    return d as NSDictionary
}

private func save(_ r: Outcome, _ path: String) throws -> String {
    try r.out.write(toFile: path, atomically: true, encoding: .utf8)
    return path
}

/// The report's block of a text output: from its counts ("records" or "advisories") to before
/// the apply's own closing lines.
private func reportLines(_ text: String) -> [String] {
    let lines = text.split(separator: "\n").map(String.init)
    guard let start = lines.firstIndex(where: { $0.hasPrefix("advisories ") || $0.hasPrefix("records ") }) else { return [] }
    return Array(lines[start...].prefix { !$0.hasPrefix("disk ") && !$0.hasPrefix("time ") && !$0.hasPrefix("current ") })
}

/// The text a report's counts must read as, from its JSON.
private func countLines(_ report: [String: Any]) -> [String] {
    func c(_ k: String, _ f: String) -> Int { member(report, "counts", k, f) as? Int ?? -1 }
    let cves = member(report, "counts", "cves") as? Int ?? -1
    return ["\(c("advisories", "added")) added, \(c("advisories", "modified")) modified, \(c("advisories", "withdrawn")) withdrawn, \(c("advisories", "removed")) removed; \(cves) CVEs",
            "\(c("exploited", "added")) newly known exploited, \(c("exploited", "removed")) no longer listed, \(c("exploited", "ransomwareChanged")) ransomware use changed"]
}

@Suite("What changed: CHANGES.json, apply, mirrorctl diff and bundlectl inspect --base on real feeds")
struct ChangesReportTests {
    @Test("each month's report lists exactly the advisories and CVEs that differ; every command shows the same one")
    func realMonths() throws {
        let m = try Months()
        // Month 1 to an empty mirror: a first version's report, counts only, the same in a dry run.
        let dry1 = try mirrorctl("apply", m.bundles[0], "--mirror", m.mirror, "--dry-run", "--json")
        let first = try mirrorctl("apply", m.bundles[0], "--mirror", m.mirror)
        #expect(first.status == 0 && first.out.split(separator: "\n").contains { $0.hasPrefix("records ") && $0.contains("a first version: ") }, "\(first.text)")
        try oracle("-", m.trees[0], try m.version(1) + "/CHANGES.json")
        let stored1 = try jsonFile(try m.version(1) + "/CHANGES.json")
        #expect(NSDictionary(dictionary: object(dry1)["changeReport"] as? [String: Any] ?? [:]) == stored1 as NSDictionary)

        // Month 2 (full): the dry run, then the apply, in text.
        let dryJSON = try mirrorctl("apply", m.bundles[1], "--mirror", m.mirror, "--dry-run", "--json")
        let dryText = try mirrorctl("apply", m.bundles[1], "--mirror", m.mirror, "--dry-run")
        let applied = try mirrorctl("apply", m.bundles[1], "--mirror", m.mirror)
        #expect(dryJSON.status == 0 && dryText.status == 0 && applied.status == 0, "\(applied.text)")
        let v2 = try m.version(2)
        let stored2 = try jsonFile(v2 + "/CHANGES.json")
        try oracle(m.trees[0], m.trees[1], v2 + "/CHANGES.json")
        #expect(NSDictionary(dictionary: object(dryJSON)["changeReport"] as? [String: Any] ?? [:]) == stored2 as NSDictionary)
        #expect(!reportLines(applied.out).isEmpty && reportLines(applied.out) == reportLines(dryText.out), "\(applied.out)\n\(dryText.out)")
        checkReadable(applied.out, stored2)

        // Month 3 (a delta): dry run and apply, both in JSON.
        let dry3 = try mirrorctl("apply", m.bundles[2], "--mirror", m.mirror, "--dry-run", "--json")
        let apply3 = try mirrorctl("apply", m.bundles[2], "--mirror", m.mirror, "--json")
        let v3 = try m.version(3)
        let stored3 = try jsonFile(v3 + "/CHANGES.json")
        try oracle(m.trees[1], m.trees[2], v3 + "/CHANGES.json")
        #expect(NSDictionary(dictionary: object(dry3)["changeReport"] as? [String: Any] ?? [:]) == stored3 as NSDictionary)
        #expect(NSDictionary(dictionary: object(apply3)["changeReport"] as? [String: Any] ?? [:]) == stored3 as NSDictionary)
        #expect(try mirrorctl("verify", "--mirror", m.mirror).status == 0, "CHANGES.json lies beside the tree, not in it")

        try checkDiff(m, stored3)
        try checkInspect(m, stored2, stored3)
    }

    /// Counts first, then at most 20 items per list with "and N more".
    private func checkReadable(_ text: String, _ report: [String: Any]) {
        let lines = reportLines(text)
        for (label, expected) in zip(["advisories", "exploited"], countLines(report)) {
            #expect(lines.contains { $0.hasPrefix(label + " ") && $0.hasSuffix("  " + expected) }, "no '\(label)  \(expected)' in:\n\(text)")
        }
        let added = member(report, "exploited", "added") as? [Any] ?? []
        let shown = lines.filter { $0.hasPrefix("  exploited +") }
        #expect(added.count > 20 && shown.count == 21 && shown.last?.hasSuffix("... and \(added.count - 20) more (all in CHANGES.json and --json)") == true,
                "\(added.count) entries, shown:\n\(shown.joined(separator: "\n"))")
    }

    /// mirrorctl diff: the stored report by default, one computed from the trees otherwise.
    private func checkDiff(_ m: Months, _ stored3: [String: Any]) throws {
        let d = try mirrorctl("diff", "--mirror", m.mirror, "--json")
        #expect(d.status == 0 && object(d)["stored"] as? Bool == true, "\(d.text)")
        #expect(NSDictionary(dictionary: object(d)["changeReport"] as? [String: Any] ?? [:]) == stored3 as NSDictionary)
        #expect(member(object(d), "from", "sequence") as? Int == 2 && member(object(d), "to", "sequence") as? Int == 3)
        let text = try mirrorctl("diff", "2", "3", "--mirror", m.mirror)
        #expect(text.status == 0 && text.out.contains("CHANGES.json (made when it was applied over 2-"), "\(text.text)")
        for expected in countLines(stored3) { #expect(text.out.contains("  " + expected + "\n"), "\(text.out)") }

        let v1 = URL(fileURLWithPath: try m.version(1)).lastPathComponent
        let wide = try mirrorctl("diff", v1, "3", "--mirror", m.mirror, "--json")
        #expect(wide.status == 0 && object(wide)["stored"] as? Bool == false, "\(wide.text)")
        try oracle(m.trees[0], m.trees[2], try save(wide, m.s.at("diff-1-3.json")))
        let unknown = try mirrorctl("diff", "7", "--mirror", m.mirror)
        #expect(unknown.status == 2 && unknown.err.contains("no retained version '7'") && unknown.out.isEmpty, "\(unknown.text)")
    }

    /// bundlectl inspect --base agrees with what the mirror kept: for a full bundle (its base
    /// read twice) and for a delta (its base read once); a delta as the base is refused.
    private func checkInspect(_ m: Months, _ stored2: [String: Any], _ stored3: [String: Any]) throws {
        let full = try bundlectl("inspect", m.bundles[1], "--base", m.bundles[0], "--json")
        #expect(full.status == 0, "\(full.text)")
        #expect(withoutEnds(object(full)["changeReport"]) == withoutEnds(stored2))
        let delta = try bundlectl("inspect", m.bundles[2], "--base", m.bundles[1], "--json")
        #expect(delta.status == 0, "\(delta.text)")
        #expect(withoutEnds(object(delta)["changeReport"]) == withoutEnds(stored3))
        #expect(member(object(delta), "base", "sequence") as? Int == 2)
        let text = try bundlectl("inspect", m.bundles[2], "--base", m.bundles[1])
        let diff = try mirrorctl("diff", "--mirror", m.mirror)
        #expect(!reportLines(text.out).isEmpty && reportLines(text.out) == reportLines(diff.out), "\(text.out)\n\(diff.out)")
        let refused = try bundlectl("inspect", m.bundles[1], "--base", m.bundles[2])
        #expect(refused.status == 2 && refused.err.contains("is a delta; give a full bundle") && refused.out.isEmpty, "\(refused.text)")
    }

    @Test("a current catalog changed in place with its times restored is read ahead as a changed file, never as entries")
    func tamperedOldSide() throws {
        let s = try Scratch()
        let (key, pub) = try s.key("op")
        let b = try [("2025-06-01", 1), ("2025-07-01", 2)].map { month, seq in
            let dir = (try s.kev(month) as NSString).deletingLastPathComponent
            return try s.build(try s.spec("k\(seq).yaml", sequence: seq, sources: [("kev", "advisories", dir)]), key: key, output: "k\(seq).bundle")
        }
        let mirror = s.at("mirror")
        #expect(try mirrorctl("init", "--mirror", mirror, "--trust", pub).status == 0)
        #expect(try mirrorctl("apply", b[0], "--mirror", mirror).status == 0)
        // Same size, still valid JSON, one CVE id renamed, written in place (same inode) with
        // its times put back: read unchecked, the renamed id would be reported.
        let catalog = "\(mirror)/current/advisories/kev/known_exploited_vulnerabilities.json"
        try sh("chmod u+w \(catalog) && cp -p \(catalog) \(s.at("times"))")
        var text = try String(contentsOfFile: catalog, encoding: .utf8)
        let first = try #require(text.range(of: "\"cveID\": \"CVE-"))
        text.replaceSubrange(first, with: "\"cveID\": \"XVE-")
        try text.write(toFile: catalog, atomically: false, encoding: .utf8)
        try sh("touch -r \(s.at("times")) \(catalog)")
        let dry = try mirrorctl("apply", b[1], "--mirror", mirror, "--json", "--dry-run")
        let real = try mirrorctl("apply", b[1], "--mirror", mirror, "--json")
        for r in [dry, real] {
            #expect(r.status == 0, "\(r.text)")
            let report = object(r)["changeReport"] as? [String: Any] ?? [:]
            #expect(member(report, "otherFiles", "changed") as? [String] == ["advisories/kev/known_exploited_vulnerabilities.json"], "\(report)")
            #expect(member(report, "counts", "exploited", "added") as? Int == 0, "\(report)")
        }
    }

    @Test("an unreadable record is a changed file and the apply succeeds; hostile ids are shown escaped")
    func unreadable() throws {
        let f = try ReachFeeds()
        let good = #"{"id":"OSV-1","modified":"2024-01-01T00:00:00Z","aliases":["CVE-2024-0001"]}"#
        let b1 = try f.bundle("u1.bundle", seq: 1, ["a.json": good, "keep.json": good.replacingOccurrences(of: "OSV-1", with: "OSV-0")])
        let b2 = try f.bundle("u2.bundle", seq: 2, [
            "a.json": #"{"id":"OSV-1","modified":"2024-02-01T00:00:00Z","#,  // now truncated
            "keep.json": good.replacingOccurrences(of: "OSV-1", with: "OSV-0"),
            "b.json": #"{"id":"OSV-2\u001b[2J","modified":"2024-02-01T00:00:00Z","aliases":["CVE-2024-0002"]}"#,
            "c.json": "[1, 2, {\"id\": ",
        ])
        let mirror = f.s.at("mirror")
        #expect(try mirrorctl("init", "--mirror", mirror, "--trust", f.pub).status == 0)
        #expect(try mirrorctl("apply", b1, "--mirror", mirror).status == 0)
        let dry = try mirrorctl("apply", b2, "--mirror", mirror, "--dry-run", "--json")
        let r = try mirrorctl("apply", b2, "--mirror", mirror)
        #expect(r.status == 0 && dry.status == 0, "\(r.text)")
        #expect(r.out.contains("  file ~") && r.out.contains("advisories/f/a.json") && r.out.contains("  file +"), "\(r.out)")
        #expect(!r.out.contains("\u{1B}") && r.out.contains("OSV-2\\u{1b}[2J"), "\(r.out)")
        let name = try sh("ls \(mirror)/versions | grep '^2-'").trimmingCharacters(in: .whitespacesAndNewlines)
        let report = try jsonFile("\(mirror)/versions/\(name)/CHANGES.json")
        #expect(member(report, "otherFiles", "changed") as? [String] == ["advisories/f/a.json"])
        #expect(member(report, "otherFiles", "added") as? [String] == ["advisories/f/c.json"])
        #expect((member(report, "advisories", "added") as? [[String: Any]])?.map { $0["id"] as? String } == ["OSV-2\u{1B}[2J"])
        #expect((member(report, "advisories", "removed") as? [Any])?.isEmpty == true, "an unreadable file removes nothing")
        #expect(NSDictionary(dictionary: object(dry)["changeReport"] as? [String: Any] ?? [:]) == report as NSDictionary)
        try sh("mkdir -p \(f.s.at("t1"))/advisories \(f.s.at("t2"))/advisories && ln -s \(f.s.at("feed-u1.bundle")) \(f.s.at("t1"))/advisories/f && ln -s \(f.s.at("feed-u2.bundle")) \(f.s.at("t2"))/advisories/f")
        try oracle(f.s.at("t1"), f.s.at("t2"), "\(mirror)/versions/\(name)/CHANGES.json")
        #expect(try mirrorctl("verify", "--mirror", mirror).status == 0)
    }
}
