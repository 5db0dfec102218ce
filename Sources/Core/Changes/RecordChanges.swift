import BundleFormat
import Support

/// The records one changed file holds on one side of a change, and where they came from.
public struct ParsedFile: Sendable {
    public var path: String
    public var sha256: SHA256Digest
    public var records: FileRecords
    public var source: String { ChangeSummary.source(of: path) }

    public init(path: String, sha256: SHA256Digest, records: FileRecords) {
        self.path = path
        self.sha256 = sha256
        self.records = records
    }
}

/// An advisory that appeared, changed, was withdrawn or went.
public struct AdvisoryChange: Equatable, Sendable {
    public var id: String
    /// The file that holds it (for one removed: held it), and that file's source.
    public var path: String
    public var source: String { ChangeSummary.source(of: path) }
    /// Its `modified` time: the new record's, or for one removed, the last it had.
    public var modified: String
    /// The old record's `modified`, when there was an old record (modified, withdrawn).
    public var previous: String?
    public var withdrawn: String?
    /// The CVE ids it names (for one modified, in either version).
    public var cves: [String]

    public init(id: String, path: String, modified: String, previous: String? = nil, withdrawn: String? = nil, cves: [String] = []) {
        self.id = id
        self.path = path
        self.modified = modified
        self.previous = previous
        self.withdrawn = withdrawn
        self.cves = cves
    }
}

/// A KEV entry that appeared or went, with the catalog file it is in (or was in).
public struct ExploitedChange: Equatable, Sendable {
    public var entry: ExploitedEntry
    public var path: String
    public var source: String { ChangeSummary.source(of: path) }
    public init(entry: ExploitedEntry, path: String) {
        self.entry = entry
        self.path = path
    }
}

/// A KEV entry whose `knownRansomwareCampaignUse` changed ("Unknown" -> "Known").
public struct RansomwareChange: Equatable, Sendable {
    public var cve: String
    public var path: String
    public var from: String?
    public var to: String?
    public init(cve: String, path: String, from: String?, to: String?) {
        self.cve = cve
        self.path = path
        self.from = from
        self.to = to
    }
}

/// One id held by more than one changed file on one side: the first path (bytewise) counts.
public struct DuplicateRecord: Equatable, Sendable {
    public var id: String
    public var paths: [String]
    public init(id: String, paths: [String]) {
        self.id = id
        self.paths = paths
    }
}

/// What the records of the changed files change, by advisory id and by CVE, from the files
/// parsed on each side. Ids are matched across paths, so a record that moves to another file
/// unchanged changes nothing, and one that moves with new bytes is modified.
public struct RecordChanges: Equatable, Sendable {
    public var added: [AdvisoryChange] = []
    public var modified: [AdvisoryChange] = []
    public var withdrawn: [AdvisoryChange] = []
    public var removed: [AdvisoryChange] = []
    public var exploitedAdded: [ExploitedChange] = []
    public var exploitedRemoved: [ExploitedChange] = []
    public var ransomwareChanged: [RansomwareChange] = []
    public var duplicates: [DuplicateRecord] = []

    public init() {}

    /// Every CVE id the changes name, sorted, each once.
    public var cves: [String] {
        var all = Set<String>()
        for list in [added, modified, withdrawn, removed] { for c in list { all.formUnion(c.cves) } }
        for c in exploitedAdded + exploitedRemoved { all.insert(c.entry.cve) }
        for c in ransomwareChanged { all.insert(c.cve) }
        return all.sorted(by: LogicalPath.bytewiseLess)
    }

    public static func between(old: [ParsedFile], new: [ParsedFile]) -> RecordChanges {
        var changes = RecordChanges()
        let before = changes.advisories(old), after = changes.advisories(new)
        changes.compare(before, after)
        changes.compareCatalogs(old, new)
        changes.duplicates.sort { ($0.id, $0.paths.first ?? "") < ($1.id, $1.paths.first ?? "") }
        return changes
    }

    private struct Held {
        var advisory: Advisory
        var file: ParsedFile
    }

    /// Each id's record on one side; an id in two files is noted and its first file counts.
    private mutating func advisories(_ files: [ParsedFile]) -> [String: Held] {
        var out: [String: Held] = [:], extra: [String: [String]] = [:]
        for f in files.sorted(by: { LogicalPath.bytewiseLess($0.path, $1.path) }) {
            guard case .advisory(let a) = f.records else { continue }
            if let first = out[a.id] {
                extra[a.id, default: [first.file.path]].append(f.path)
            } else {
                out[a.id] = Held(advisory: a, file: f)
            }
        }
        duplicates += extra.map { DuplicateRecord(id: $0.key, paths: $0.value) }
        return out
    }

    private mutating func compare(_ before: [String: Held], _ after: [String: Held]) {
        for (id, n) in after {
            let a = n.advisory
            guard let o = before[id] else {
                let c = AdvisoryChange(id: id, path: n.file.path, modified: a.modified, withdrawn: a.withdrawn, cves: a.cves)
                if a.withdrawn != nil { withdrawn.append(c) } else { added.append(c) }
                continue
            }
            // The same bytes under another path: nothing about the advisory changed.
            if o.file.sha256 == n.file.sha256 { continue }
            let c = AdvisoryChange(id: id, path: n.file.path, modified: a.modified, previous: o.advisory.modified, withdrawn: a.withdrawn,
                                   cves: Array(Set(a.cves + o.advisory.cves)).sorted(by: LogicalPath.bytewiseLess))
            if a.withdrawn != nil && o.advisory.withdrawn == nil { withdrawn.append(c) } else { modified.append(c) }
        }
        for (id, o) in before where after[id] == nil {
            removed.append(AdvisoryChange(id: id, path: o.file.path, modified: o.advisory.modified, withdrawn: o.advisory.withdrawn, cves: o.advisory.cves))
        }
        for i in [\RecordChanges.added, \.modified, \.withdrawn, \.removed] { self[keyPath: i].sort { LogicalPath.bytewiseLess($0.id, $1.id) } }
    }

    /// KEV entries by CVE id across the changed catalogs of each side (a catalog holds
    /// thousands: indexes into the lists, not copies of the entries).
    private mutating func compareCatalogs(_ old: [ParsedFile], _ new: [ParsedFile]) {
        typealias Catalogs = (lists: [(path: String, entries: [ExploitedEntry])], at: [String: (list: Int, entry: Int)])
        func catalogs(_ files: [ParsedFile]) -> Catalogs {
            var c: Catalogs = ([], [:])
            for f in files.sorted(by: { LogicalPath.bytewiseLess($0.path, $1.path) }) {
                guard case .exploited(let list) = f.records else { continue }
                c.lists.append((f.path, list))
            }
            c.at.reserveCapacity(c.lists.reduce(0) { $0 + $1.entries.count })
            // Last to first, each entry stored over any later one: the first of an id stays, for
            // one hash of each id instead of a lookup and then a store.
            for l in c.lists.indices.reversed() {
                for k in c.lists[l].entries.indices.reversed() { c.at[c.lists[l].entries[k].cve] = (l, k) }
            }
            return c
        }
        func change(_ c: Catalogs, _ i: (list: Int, entry: Int)) -> ExploitedChange {
            ExploitedChange(entry: c.lists[i.list].entries[i.entry], path: c.lists[i.list].path)
        }
        let before = catalogs(old), after = catalogs(new)
        for (cve, i) in after.at {
            guard let j = before.at[cve] else { exploitedAdded.append(change(after, i)); continue }
            let (o, n) = (before.lists[j.list].entries[j.entry], after.lists[i.list].entries[i.entry])
            if o.ransomware != n.ransomware {
                ransomwareChanged.append(RansomwareChange(cve: cve, path: after.lists[i.list].path, from: o.ransomware, to: n.ransomware))
            }
        }
        for (cve, j) in before.at where after.at[cve] == nil { exploitedRemoved.append(change(before, j)) }
        exploitedAdded.sort { LogicalPath.bytewiseLess($0.entry.cve, $1.entry.cve) }
        exploitedRemoved.sort { LogicalPath.bytewiseLess($0.entry.cve, $1.entry.cve) }
        ransomwareChanged.sort { LogicalPath.bytewiseLess($0.cve, $1.cve) }
    }
}
