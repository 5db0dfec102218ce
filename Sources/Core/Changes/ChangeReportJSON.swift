import BundleFormat
import Support

/// CHANGES.json, and the `changeReport` of `--json`: counts first, then the lists.
///
///     {"format": "airgap-changes/1", "from", "to", "initial",
///      "counts": {"files": {"added","changed","removed"}, "advisories": {"added","modified","withdrawn","removed"},
///                 "cves", "exploited": {"added","removed","ransomwareChanged"}, "images": {"added","moved","removed"},
///                 "otherFiles": {"added","changed","removed"}, "duplicates"},
///      "advisories": {"added","modified","withdrawn","removed": [{"id","source","path","modified","previous","withdrawn","cves"}]},
///      "cves": [ids],
///      "exploited": {"added","removed": [{"cve","source","path","dateAdded","knownRansomwareCampaignUse","vendorProject","product"}],
///                    "ransomwareChanged": [{"cve","source","path","from","to"}]},
///      "imageChanges": ImageChanges, "otherFiles": {"added","changed","removed": [paths]}, "duplicates": [{"id","paths"}]}
extension ChangeReport {
    public var json: JSON {
        let r = records
        func n(_ v: Int) -> JSON { .int(Int64(v)) }
        let counts: JSON = .object([
            "files": .object(["added": n(files.added), "changed": n(files.changed), "removed": n(files.removed)]),
            "advisories": .object(["added": n(r.added.count), "modified": n(r.modified.count), "withdrawn": n(r.withdrawn.count), "removed": n(r.removed.count)]),
            "cves": n(r.cves.count),
            "exploited": .object(["added": n(r.exploitedAdded.count), "removed": n(r.exploitedRemoved.count), "ransomwareChanged": n(r.ransomwareChanged.count)]),
            "images": .object(["added": n(images.added.count), "moved": n(images.moved.count), "removed": n(images.removed.count)]),
            "otherFiles": .object(["added": n(other.added.count), "changed": n(other.changed.count), "removed": n(other.removed.count)]),
            "duplicates": n(r.duplicates.count),
        ])
        return .object([
            "format": .string(ChangeReport.format), "from": ChangeReport.text(from), "to": ChangeReport.text(to), "counts": counts,
            "initial": .bool(initial),
            "advisories": .object(["added": .array(r.added.map(\.json)), "modified": .array(r.modified.map(\.json)),
                                   "withdrawn": .array(r.withdrawn.map(\.json)), "removed": .array(r.removed.map(\.json))]),
            "cves": ChangeReport.strings(r.cves),
            "exploited": .object(["added": .array(r.exploitedAdded.map(\.json)), "removed": .array(r.exploitedRemoved.map(\.json)),
                                  "ransomwareChanged": .array(r.ransomwareChanged.map(\.json))]),
            "imageChanges": images.json,
            "otherFiles": .object(["added": ChangeReport.strings(other.added), "changed": ChangeReport.strings(other.changed),
                                   "removed": ChangeReport.strings(other.removed)]),
            "duplicates": .array(r.duplicates.map { .object(["id": .string($0.id), "paths": ChangeReport.strings($0.paths)]) }),
        ])
    }

    static func text(_ s: String?) -> JSON { s.map { .string($0) } ?? .null }
    static func strings(_ list: [String]) -> JSON { .array(list.map { .string($0) }) }

    /// Reads back what `json` wrote (a version's CHANGES.json); nil for anything else, so a
    /// damaged or foreign file makes the caller compute the report again instead.
    public init?(json value: JSON) {
        guard let o = Reader(value), o.string("format") == ChangeReport.format, let counts = o.object("counts"),
              let f = counts.object("files"), let a = o.object("advisories"), let x = o.object("exploited"),
              let other = o.object("otherFiles"), let images = o.object("imageChanges").flatMap(ChangeReport.images) else { return nil }
        self.init()
        (from, to) = (o.string("from"), o.string("to"))
        initial = o.members["initial"] == .bool(true)  // absent in reports made before it existed
        files = Counts(added: f.int("added") ?? 0, changed: f.int("changed") ?? 0, removed: f.int("removed") ?? 0)
        self.images = images
        guard let added = a.list("added", AdvisoryChange.init), let modified = a.list("modified", AdvisoryChange.init),
              let withdrawn = a.list("withdrawn", AdvisoryChange.init), let removed = a.list("removed", AdvisoryChange.init),
              let xAdded = x.list("added", ExploitedChange.init), let xRemoved = x.list("removed", ExploitedChange.init),
              let ransomware = x.list("ransomwareChanged", RansomwareChange.init), let duplicates = o.list("duplicates", DuplicateRecord.init),
              let oAdded = other.strings("added"), let oChanged = other.strings("changed"), let oRemoved = other.strings("removed") else { return nil }
        records = RecordChanges()
        (records.added, records.modified, records.withdrawn, records.removed) = (added, modified, withdrawn, removed)
        (records.exploitedAdded, records.exploitedRemoved, records.ransomwareChanged, records.duplicates) = (xAdded, xRemoved, ransomware, duplicates)
        self.other = OtherFiles(added: oAdded, changed: oChanged, removed: oRemoved)
    }

    /// Image changes read back: only names and digests are kept in a report.
    private static func images(_ o: Reader) -> ImageChanges? {
        func image(_ r: Reader) -> ImageSummary? {
            guard let d = r.digest("digest") else { return nil }
            return ImageSummary(ref: r.string("ref"), digest: d, mediaType: "", platforms: [], size: 0)
        }
        guard let added = o.list("added", image), let removed = o.list("removed", image),
              let moved = o.list("moved", { r -> ImageChanges.Moved? in
                  guard let ref = r.string("ref"), let from = r.digest("from"), let to = r.digest("to") else { return nil }
                  return ImageChanges.Moved(ref: ref, from: from, to: to)
              }) else { return nil }
        var c = ImageChanges()
        (c.added, c.removed, c.moved) = (added, removed, moved)
        return c
    }
}

extension AdvisoryChange {
    var json: JSON {
        .object(["id": .string(id), "source": .string(source), "path": .string(path), "modified": .string(modified),
                 "previous": ChangeReport.text(previous), "withdrawn": ChangeReport.text(withdrawn), "cves": ChangeReport.strings(cves)])
    }

    fileprivate init?(_ r: Reader) {
        guard let id = r.string("id"), let path = r.string("path"), let modified = r.string("modified"), let cves = r.strings("cves") else { return nil }
        self.init(id: id, path: path, modified: modified, previous: r.string("previous"), withdrawn: r.string("withdrawn"), cves: cves)
    }
}

extension ExploitedChange {
    var json: JSON {
        let e = entry
        return .object(["cve": .string(e.cve), "source": .string(source), "path": .string(path), "dateAdded": ChangeReport.text(e.dateAdded),
                        "knownRansomwareCampaignUse": ChangeReport.text(e.ransomware), "vendorProject": ChangeReport.text(e.vendor),
                        "product": ChangeReport.text(e.product)])
    }

    fileprivate init?(_ r: Reader) {
        guard let cve = r.string("cve"), let path = r.string("path") else { return nil }
        self.init(entry: ExploitedEntry(cve: cve, dateAdded: r.string("dateAdded"), ransomware: r.string("knownRansomwareCampaignUse"),
                                        vendor: r.string("vendorProject"), product: r.string("product")), path: path)
    }
}

extension RansomwareChange {
    var json: JSON {
        .object(["cve": .string(cve), "source": .string(ChangeSummary.source(of: path)), "path": .string(path),
                 "from": ChangeReport.text(from), "to": ChangeReport.text(to)])
    }

    fileprivate init?(_ r: Reader) {
        guard let cve = r.string("cve"), let path = r.string("path") else { return nil }
        self.init(cve: cve, path: path, from: r.string("from"), to: r.string("to"))
    }
}

extension DuplicateRecord {
    fileprivate init?(_ r: Reader) {
        guard let id = r.string("id"), let paths = r.strings("paths") else { return nil }
        self.init(id: id, paths: paths)
    }
}

/// Lenient typed access for reading a report back: a missing or mistyped field is nil.
private struct Reader {
    let members: [String: JSON]
    init?(_ v: JSON) {
        guard case .object(let m) = v else { return nil }
        members = m
    }
    func string(_ k: String) -> String? { if case .string(let s)? = members[k] { s } else { nil } }
    func int(_ k: String) -> Int? { if case .int(let i)? = members[k], i >= 0, i <= Int64(Int32.max) { Int(i) } else { nil } }
    func object(_ k: String) -> Reader? { members[k].flatMap(Reader.init) }
    func digest(_ k: String) -> SHA256Digest? {
        guard let s = string(k), s.hasPrefix("sha256:") else { return nil }
        return SHA256Digest(hex: String(s.dropFirst(7)))
    }
    func strings(_ k: String) -> [String]? {
        guard case .array(let a)? = members[k] else { return nil }
        let out = a.compactMap { v -> String? in if case .string(let s) = v { s } else { nil } }
        return out.count == a.count ? out : nil
    }
    func list<T>(_ k: String, _ make: (Reader) -> T?) -> [T]? {
        guard case .array(let a)? = members[k] else { return nil }
        let out = a.compactMap { Reader($0).flatMap(make) }
        return out.count == a.count ? out : nil
    }
}
