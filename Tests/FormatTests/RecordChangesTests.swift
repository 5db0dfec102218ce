import BundleFormat
import Changes
import Support
import Testing

/// Small trees of feed files, and the report between two of them, read from the fixtures' text.
private struct Tree {
    var files: [String: String]

    var listing: TreeListing {
        TreeListing(entries: files.keys.sorted(by: LogicalPath.bytewiseLess).map { p in
            let b = Array(files[p]!.utf8)
            return TreeListing.Entry(path: p, mode: 0o644, size: Int64(b.count), sha256: SHA256Digest.of(b))
        })
    }

    static func report(_ old: Tree?, _ new: Tree) -> ChangeReport {
        ChangeReport.make(old: old?.listing, new: new.listing, images: ImageChanges()) { side, e in
            guard let text = (side == .old ? old : new)?.files[e.path] else { return nil }
            return RecordFile.read(e.path, Array(text.utf8))
        }
    }
}

private func osv(_ id: String, _ modified: String, aliases: [String] = [], withdrawn: String? = nil) -> String {
    let a = aliases.map { "\"\($0)\"" }.joined(separator: ",")
    return "{\"id\":\"\(id)\",\"modified\":\"\(modified)\",\"aliases\":[\(a)]" + (withdrawn.map { ",\"withdrawn\":\"\($0)\"" } ?? "") + "}"
}

private func kev(_ entries: [(String, String)]) -> String {
    let list = entries.map { "{\"cveID\":\"\($0.0)\",\"dateAdded\":\"2025-06-01\",\"knownRansomwareCampaignUse\":\"\($0.1)\",\"cwes\":[\"CWE-22\"]}" }
    return "{\"title\":\"CISA KEV\",\"count\":\(entries.count),\"vulnerabilities\":[\(list.joined(separator: ","))]}"
}

@Suite("Records: reading OSV (JSON, YAML) and KEV files")
struct RecordReadingTests {
    @Test("an OSV JSON record: id, modified, withdrawn, and its CVE ids from aliases and id")
    func osvJSON() {
        let r = RecordFile.read("advisories/osv/a.json", Array(osv("CVE-2024-1", "2024-08-01T00:00:00Z", aliases: ["GHSA-x", "CVE-2024-2", "CVE-2024-2"], withdrawn: "2024-09-01T00:00:00Z").utf8))
        #expect(r == .advisory(Advisory(id: "CVE-2024-1", modified: "2024-08-01T00:00:00Z", withdrawn: "2024-09-01T00:00:00Z", cves: ["CVE-2024-1", "CVE-2024-2"])))
    }

    @Test("a PyPA YAML record: times stay the text they were written as, quoted or not")
    func osvYAML() {
        let yaml = """
            id: PYSEC-2024-1
            details: "text"
            aliases:
            - GHSA-aaaa
            - CVE-2024-42
            modified: 2024-08-01T12:00:00.123456Z
            withdrawn: '2024-09-01T00:00:00Z'
            """
        #expect(RecordFile.read("advisories/pypa/x/PYSEC-2024-1.yaml", Array(yaml.utf8))
            == .advisory(Advisory(id: "PYSEC-2024-1", modified: "2024-08-01T12:00:00.123456Z", withdrawn: "2024-09-01T00:00:00Z", cves: ["CVE-2024-42"])))
        #expect(RecordFile.read("advisories/pypa/r.yml", Array("id: A\nmodified: x\nwithdrawn: ~\n".utf8)) == .advisory(Advisory(id: "A", modified: "x")))
    }

    @Test("a KEV catalog: every entry with its CVE id, date and ransomware use; floats and other fields pass")
    func catalog() {
        let text = "{\"catalogVersion\":\"2025.06.01\",\"score\":9.8e1,\"vulnerabilities\":[{\"cveID\":\"CVE-2025-1\",\"dateAdded\":\"2025-06-02\",\"knownRansomwareCampaignUse\":\"Known\",\"vendorProject\":\"V\",\"product\":\"P\",\"notes\":\"a \\\"quote\\\" \\u00e9\"}]}"
        #expect(RecordFile.read("advisories/kev/kev.json", Array(text.utf8))
            == .exploited([ExploitedEntry(cve: "CVE-2025-1", dateAdded: "2025-06-02", ransomware: "Known", vendor: "V", product: "P")]))
    }

    @Test("what is not a record is a file", arguments: [
        ("advisories/a/x.json", "{\"id\":\"A\",\"modified\":\"m\""),               // truncated
        ("advisories/a/x.json", "{\"id\":\"A\",\"modified\":\"m\"} trailing"),     // data after the value
        ("advisories/a/x.json", "{\"id\":42,\"modified\":\"m\"}"),                  // a non-string id
        ("advisories/a/x.json", "{\"id\":[\"A\"],\"modified\":\"m\"}"),
        ("advisories/a/x.json", "{\"id\":\"\",\"modified\":\"m\"}"),                // an empty id
        ("advisories/a/x.json", "{\"id\":\"A\"}"),                                  // no modified
        ("advisories/a/x.json", "{\"id\":\"A\",\"id\":\"B\",\"modified\":\"m\"}"),  // an id twice: which one?
        ("advisories/a/x.json", "{\"id\":\"A\",\"modified\":\"m\",\"withdrawn\":7}"),
        ("advisories/a/x.json", "[{\"id\":\"A\",\"modified\":\"m\"}]"),             // not an object
        ("advisories/a/x.json", "{\"vulnerabilities\":[{\"cveID\":\"CVE-1\"},{\"name\":\"no id\"}]}"),
        ("advisories/a/x.json", "{\"vulnerabilities\":[{\"cveID\":7}]}"),
        ("advisories/a/x.json", "{\"id\":\"A\",\"modified\":\"m\",\"x\":01}"),      // a leading zero
        ("advisories/a/x.json", "{\"id\":\"A\",\"modified\":\"m\",\"x\":\"\\ud800\"}"),  // a lone surrogate
        ("advisories/a/x.json", "{\"id\":\"A\",\"modified\":\"m\",\"x\":\"tab\there\"}"),  // a raw control character
        ("advisories/a/x.yaml", "id: [A]\nmodified: m\n"),
        ("advisories/a/x.yaml", "id: A\nid: B\nmodified: m\n"),
        ("advisories/a/x.yaml", "id: A\nmodified: m\n---\nid: B\nmodified: m\n"),   // two documents
        ("advisories/a/x.yaml", "id: 'unterminated\n"),
        ("advisories/a/x.txt", "{\"id\":\"A\",\"modified\":\"m\"}"),                // not .json or .yaml
        ("policies/p/x.json", "{\"id\":\"A\",\"modified\":\"m\"}"),                 // policies are files
    ])
    func notRecords(_ path: String, _ text: String) {
        #expect(RecordFile.read(path, Array(text.utf8)) == .other)
    }

    @Test("hostile JSON: deep nesting, huge numbers, invalid UTF-8, overlong ids neither crash nor count")
    func hostile() {
        let deep = String(repeating: "[", count: 100_000) + String(repeating: "]", count: 100_000)
        #expect(RecordFile.read("advisories/a/deep.json", Array("{\"id\":\"A\",\"modified\":\"m\",\"x\":\(deep)}".utf8)) == .other)
        let nested63 = String(repeating: "[", count: 62) + String(repeating: "]", count: 62)
        #expect(RecordFile.read("advisories/a/ok.json", Array("{\"id\":\"A\",\"modified\":\"m\",\"x\":\(nested63)}".utf8)) == .advisory(Advisory(id: "A", modified: "m")))
        let huge = String(repeating: "9", count: 100_000)
        #expect(RecordFile.read("advisories/a/n.json", Array("{\"id\":\"A\",\"modified\":\"m\",\"n\":-\(huge).5e+\(huge)}".utf8)) == .advisory(Advisory(id: "A", modified: "m")))
        #expect(RecordFile.read("advisories/a/u.json", Array("{\"id\":\"A\",\"modified\":\"m\",\"x\":\"".utf8) + [0xFF, 0xFE] + Array("\"}".utf8)) == .other)
        let long = String(repeating: "A", count: 10_000)
        #expect(RecordFile.read("advisories/a/l.json", Array(osv(long, "m").utf8)) == .other)
        // A YAML bomb: aliases are shared by Yams, and only the top-level `aliases` scalars are read.
        let bomb = "a: &a [x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a]\nc: &c [*b, *b, *b, *b, *b, *b, *b, *b]\n"
            + "d: &d [*c, *c, *c, *c, *c, *c, *c, *c]\nid: A\nmodified: m\naliases: *d\n"
        #expect(RecordFile.read("advisories/a/bomb.yaml", Array(bomb.utf8)) == .advisory(Advisory(id: "A", modified: "m")))
        let deepYAML = String(repeating: "[", count: 5_000) + String(repeating: "]", count: 5_000)
        #expect(RecordFile.read("advisories/a/deep.yaml", Array("id: A\nmodified: m\nx: \(deepYAML)\n".utf8)) == .other)
    }

    @Test("strings are scanned eight bytes at a time: a quote, backslash or control at any offset is found")
    func stringScan() {
        for length in 0..<24 {
            for at in 0..<length {
                let plain = String(repeating: "é", count: length / 2) + String(repeating: "x", count: length - length / 2)
                var chars = Array(plain)
                chars[at] = "\\"
                let escaped = String(chars).replacingOccurrences(of: "\\", with: "\\\\")  // a backslash, escaped in JSON
                let ok = RecordFile.read("advisories/a/s.json", Array("{\"id\":\"\(escaped)\",\"modified\":\"m\"}".utf8))
                #expect(ok == .advisory(Advisory(id: String(chars), modified: "m")), "backslash at \(at) of \(length)")
                chars[at] = "\""
                let quoted = String(chars).replacingOccurrences(of: "\"", with: "\\\"")
                #expect(RecordFile.read("advisories/a/s.json", Array("{\"id\":\"\(quoted)\",\"modified\":\"m\"}".utf8))
                    == .advisory(Advisory(id: String(chars), modified: "m")), "quote at \(at) of \(length)")
                chars[at] = "\u{1}"
                #expect(RecordFile.read("advisories/a/s.json", Array("{\"id\":\"\(String(chars))\",\"modified\":\"m\"}".utf8)) == .other,
                        "a raw control character at \(at) of \(length)")
            }
            let id = String(repeating: "y", count: length + 1)
            #expect(RecordFile.read("advisories/a/s.json", Array("{\"id\":\"\(id)\",\"modified\":\"m\"}".utf8)) == .advisory(Advisory(id: id, modified: "m")))
        }
    }

    @Test("two stops in one word: the first is found, and the scan goes on to the second")
    func twoStops() {
        for a in 0..<16 {
            for b in (a + 1)..<18 {
                var chars = Array(repeating: "x" as Character, count: 18)
                (chars[a], chars[b]) = ("\"", "\\")
                let decoded = String(chars)
                let escaped = decoded.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"")
                #expect(RecordFile.read("advisories/a/s.json", Array("{\"id\":\"\(escaped)\",\"modified\":\"m\"}".utf8))
                    == .advisory(Advisory(id: decoded, modified: "m")), "a quote at \(a), a backslash at \(b)")
                chars[b] = "\u{1F}"
                let raw = String(chars).replacingOccurrences(of: "\"", with: "\\\"")
                #expect(RecordFile.read("advisories/a/s.json", Array("{\"id\":\"\(raw)\",\"modified\":\"m\"}".utf8)) == .other,
                        "a quote at \(a), a raw control character at \(b)")
            }
        }
    }

    @Test("the in-place UTF-8 check agrees with the standard library at every offset of a word")
    func utf8AtEveryOffset() {
        let sequences: [[UInt8]] = [[0xC3, 0xA9], [0xE2, 0x82, 0xAC], [0xF0, 0x9F, 0x98, 0x80], [0xC0, 0x80], [0xED, 0xA0, 0x80],
                                    [0xF4, 0x90, 0x80, 0x80], [0x80], [0xE2, 0x82], [0xFF], [0xF0, 0x9F, 0x98]]
        for run in 0..<70 {
            for seq in sequences {
                for tail in [0, 1, 9, 33] {
                    let bytes = Array(repeating: UInt8(ascii: "a"), count: run) + seq + Array(repeating: UInt8(ascii: "b"), count: tail)
                    #expect(bytes.withUnsafeBufferPointer(WellFormedUTF8.check) == (String(validating: bytes, as: UTF8.self) != nil),
                            "\(seq) after \(run) ASCII bytes, \(tail) after")
                }
            }
        }
    }

    @Test("only candidates are read: under advisories/, JSON up to 64 MiB, YAML up to 4 MiB")
    func candidates() {
        #expect(RecordFile.isCandidate("advisories/kev/kev.json", size: 64 << 20))
        #expect(!RecordFile.isCandidate("advisories/kev/kev.json", size: (64 << 20) + 1))
        #expect(!RecordFile.isCandidate("advisories/pypa/a.yaml", size: (4 << 20) + 1))
        #expect(!RecordFile.isCandidate("policies/p/a.json", size: 10))
        #expect(!RecordFile.isCandidate("images/index.json", size: 10))
    }
}

@Suite("Record changes: advisories and KEV entries between two trees")
struct RecordChangesTests {
    @Test("added, modified (old and new times), withdrawn and removed, with their CVE ids; other files by path")
    func advisories() {
        let old = Tree(files: [
            "advisories/osv/a.json": osv("A", "t1", aliases: ["CVE-1"]),
            "advisories/osv/b.json": osv("B", "t1", aliases: ["CVE-2"]),
            "advisories/osv/c.json": osv("C", "t1"),
            "advisories/osv/same.json": osv("S", "t1"),
            "policies/base/p.rego": "allow",
        ])
        let new = Tree(files: [
            "advisories/osv/a.json": osv("A", "t2", aliases: ["CVE-1", "CVE-9"]),
            "advisories/osv/b.json": osv("B", "t2", aliases: ["CVE-2"], withdrawn: "t2"),
            "advisories/osv/d.json": osv("CVE-4", "t2"),
            "advisories/osv/same.json": osv("S", "t1"),
            "policies/base/p.rego": "deny",
            "policies/base/q.rego": "new",
        ])
        let r = Tree.report(old, new)
        #expect(r.records.added == [AdvisoryChange(id: "CVE-4", path: "advisories/osv/d.json", modified: "t2", cves: ["CVE-4"])])
        #expect(r.records.modified == [AdvisoryChange(id: "A", path: "advisories/osv/a.json", modified: "t2", previous: "t1", cves: ["CVE-1", "CVE-9"])])
        #expect(r.records.withdrawn == [AdvisoryChange(id: "B", path: "advisories/osv/b.json", modified: "t2", previous: "t1", withdrawn: "t2", cves: ["CVE-2"])])
        #expect(r.records.removed == [AdvisoryChange(id: "C", path: "advisories/osv/c.json", modified: "t1")])
        #expect(r.cves == ["CVE-1", "CVE-2", "CVE-4", "CVE-9"])
        #expect(r.other == ChangeReport.OtherFiles(added: ["policies/base/q.rego"], changed: ["policies/base/p.rego"], removed: []))
        #expect(r.files == ChangeReport.Counts(added: 2, changed: 3, removed: 1))
    }

    @Test("a record that moves unchanged changes nothing; moved with new bytes it is modified")
    func moves() {
        let old = Tree(files: ["advisories/osv/x/a.json": osv("A", "t1"), "advisories/osv/x/b.json": osv("B", "t1")])
        let new = Tree(files: ["advisories/osv/y/a.json": osv("A", "t1"), "advisories/osv/y/b.json": osv("B", "t2")])
        let r = Tree.report(old, new)
        #expect(r.records.added.isEmpty && r.records.removed.isEmpty && r.other == ChangeReport.OtherFiles())
        #expect(r.records.modified.map(\.id) == ["B"])
        #expect(r.records.modified.first?.path == "advisories/osv/y/b.json")
    }

    @Test("an unparseable record is a changed file, and its advisory neither added nor removed")
    func unparseable() {
        let old = Tree(files: ["advisories/osv/a.json": osv("A", "t1")])
        let new = Tree(files: ["advisories/osv/a.json": "{not json", "advisories/osv/b.json": "[1,2"])
        let r = Tree.report(old, new)
        #expect(r.other == ChangeReport.OtherFiles(added: ["advisories/osv/b.json"], changed: ["advisories/osv/a.json"], removed: []))
        #expect(r.records == RecordChanges())
    }

    @Test("one id in two changed files on one side: reported once, from the first path, and named as a duplicate")
    func duplicates() {
        let new = Tree(files: ["advisories/osv/b.json": osv("A", "t2"), "advisories/osv/a.json": osv("A", "t1")])
        let r = Tree.report(nil, new)
        #expect(r.records.added == [AdvisoryChange(id: "A", path: "advisories/osv/a.json", modified: "t1")])
        #expect(r.records.duplicates == [DuplicateRecord(id: "A", paths: ["advisories/osv/a.json", "advisories/osv/b.json"])])
    }

    @Test("KEV: CVEs newly listed, no longer listed, and whose ransomware use changed")
    func exploited() {
        let old = Tree(files: ["advisories/kev/kev.json": kev([("CVE-1", "Unknown"), ("CVE-2", "Unknown"), ("CVE-3", "Known")])])
        let new = Tree(files: ["advisories/kev/kev.json": kev([("CVE-1", "Unknown"), ("CVE-2", "Known"), ("CVE-4", "Unknown"), ("CVE-4", "Known")])])
        let r = Tree.report(old, new)
        #expect(r.records.exploitedAdded.map(\.entry.cve) == ["CVE-4"])
        #expect(r.records.exploitedAdded.first?.entry.ransomware == "Unknown")  // the first entry of a CVE listed twice counts
        #expect(r.records.exploitedRemoved.map(\.entry.cve) == ["CVE-3"])
        #expect(r.records.ransomwareChanged == [RansomwareChange(cve: "CVE-2", path: "advisories/kev/kev.json", from: "Unknown", to: "Known")])
        #expect(r.cves == ["CVE-2", "CVE-3", "CVE-4"])
    }

    @Test("a first version: every record added; unchanged files are never read")
    func onlyChangedFilesAreRead() {
        let old = Tree(files: ["advisories/osv/a.json": osv("A", "t1"), "advisories/osv/b.json": osv("B", "t1")])
        let new = Tree(files: ["advisories/osv/a.json": osv("A", "t1"), "advisories/osv/b.json": osv("B", "t2")])
        var asked: [String] = []
        _ = ChangeReport.make(old: old.listing, new: new.listing, images: ImageChanges()) { side, e in
            asked.append("\(side == .old ? "old" : "new"):\(e.path)")
            return RecordFile.read(e.path, Array(((side == .old ? old : new).files[e.path] ?? "").utf8))
        }
        #expect(asked.sorted() == ["new:advisories/osv/b.json", "old:advisories/osv/b.json"])
        #expect(Tree.report(nil, new).records.added.map(\.id) == ["A", "B"])
    }

    @Test("the JSON reads back to the same report, and counts come first")
    func roundTrip() throws {
        let old = Tree(files: ["advisories/osv/a.json": osv("A", "t1", aliases: ["CVE-1"]), "advisories/kev/k.json": kev([("CVE-3", "Known")]),
                               "policies/p/x": "1"])
        let new = Tree(files: ["advisories/osv/a.json": osv("A", "t2", aliases: ["CVE-1"]), "advisories/osv/b.json": osv("B", "t2", withdrawn: "t2"),
                               "advisories/kev/k.json": kev([("CVE-5", "Unknown")]), "policies/p/y": "2"])
        var r = Tree.report(old, new)
        (r.from, r.to) = ("1-aaaaaaaaaaaa", "2-bbbbbbbbbbbb")
        let back = try #require(ChangeReport(json: JSON.parse(r.json.canonicalBytes, what: "CHANGES.json")))
        #expect(back.json == r.json)
        #expect(back.records == r.records && back.other == r.other && back.from == "1-aaaaaaaaaaaa")
        guard case .object(let o) = r.json, case .object(let counts)? = o["counts"] else { Issue.record("no counts"); return }
        #expect(counts["advisories"] == .object(["added": .int(0), "modified": .int(1), "withdrawn": .int(1), "removed": .int(0)]))
        #expect(counts["cves"] == .int(3))
        #expect(ChangeReport(json: .object(["format": .string("something/else")])) == nil)
    }
}
