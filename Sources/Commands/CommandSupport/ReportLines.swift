import Changes

/// How a change report reads in a transfer log, the same for `mirrorctl apply`, `mirrorctl
/// diff` and `bundlectl inspect --base`: the counts, then each list cut at `limit` items with
/// "and N more" (the whole list is in CHANGES.json and `--json`), so a big month stays readable.
extension Summary {
    public mutating func add(_ report: ChangeReport, images: Bool = true, limit: Int = 20) {
        let r = report.records
        let o = report.other
        if report.initial {
            add("records", "a first version: \(report.files.added) files, every record in them new (not listed one by one)")
            if images {
                add("images", "\(report.images.added.count) added")
                add(report.images)
            }
            return
        }
        if r.added.count + r.modified.count + r.withdrawn.count + r.removed.count + r.exploitedAdded.count + r.exploitedRemoved.count
            + r.ransomwareChanged.count == 0 {
            add("records", "no advisory or known-exploited entry changed")
        } else {
            add("advisories", "\(r.added.count) added, \(r.modified.count) modified, \(r.withdrawn.count) withdrawn, \(r.removed.count) removed; \(report.cves.count) CVEs")
            add("exploited", "\(r.exploitedAdded.count) newly known exploited, \(r.exploitedRemoved.count) no longer listed, \(r.ransomwareChanged.count) ransomware use changed")
        }
        if images { add("images", "\(report.images.added.count) added, \(report.images.moved.count) moved, \(report.images.removed.count) removed") }
        add("other files", "\(o.added.count) added, \(o.changed.count) changed, \(o.removed.count) removed")
        addLists(report, images: images, limit: limit)
    }

    private mutating func addLists(_ report: ChangeReport, images: Bool, limit: Int) {
        let r = report.records
        list("  advisory +", r.added, limit) { "\($0.id)  \($0.modified)\(Summary.cves($0.cves))  \($0.source)" }
        list("  advisory ~", r.modified, limit) { "\($0.id)  \($0.previous ?? "?") -> \($0.modified)\(Summary.cves($0.cves))  \($0.source)" }
        list("  withdrawn", r.withdrawn, limit) { "\($0.id)  \($0.withdrawn ?? "?")\(Summary.cves($0.cves))  \($0.source)" }
        list("  advisory -", r.removed, limit) { "\($0.id)  \($0.modified)\(Summary.cves($0.cves))  \($0.source)" }
        list("  exploited +", r.exploitedAdded, limit) { Summary.entry($0.entry) }
        list("  exploited -", r.exploitedRemoved, limit) { Summary.entry($0.entry) }
        list("  ransomware", r.ransomwareChanged, limit) { "\($0.cve)  \($0.from ?? "-") -> \($0.to ?? "-")" }
        if images { add(report.images) }
        list("  file +", report.other.added, limit) { $0 }
        list("  file ~", report.other.changed, limit) { $0 }
        list("  file -", report.other.removed, limit) { $0 }
        list("  duplicate", r.duplicates, limit) { "\($0.id) in \($0.paths.joined(separator: ", ")) (the first counts)" }
        let cves = report.cves
        if !cves.isEmpty {
            add("  CVEs", cves.prefix(limit).joined(separator: ", ") + (cves.count > limit ? " and \(cves.count - limit) more" : ""))
        }
    }

    private mutating func list<T>(_ label: String, _ items: [T], _ limit: Int, _ line: (T) -> String) {
        for i in items.prefix(limit) { add(label, line(i)) }
        if items.count > limit { add(label, "... and \(items.count - limit) more (all in CHANGES.json and --json)") }
    }

    /// A record's CVE ids, the first few (a hostile record may name thousands).
    private static func cves(_ list: [String]) -> String {
        list.isEmpty ? "" : "  " + list.prefix(5).joined(separator: ", ") + (list.count > 5 ? " (+\(list.count - 5))" : "")
    }

    private static func entry(_ e: ExploitedEntry) -> String {
        let what = [e.vendor, e.product].compactMap { $0 }.joined(separator: " ")
        return "\(e.cve)  added \(e.dateAdded ?? "-")\(what.isEmpty ? "" : "  " + what)  ransomware: \(e.ransomware ?? "-")"
    }
}
