import BundleFormat
import Support

/// What a version changes against the one before it, record by record: advisories added,
/// modified, withdrawn and removed (with their CVE ids), KEV entries newly listed or gone,
/// images by name, and every other file (policies, and any file that is not a record the report
/// can read) by path. `mirrorctl apply` keeps it as a version's CHANGES.json; `mirrorctl diff`
/// and `bundlectl inspect --base` show it.
///
/// Only the files that differ between the two trees are read, so the cost follows the size of
/// the change, not of the feed.
public struct ChangeReport: Sendable {
    public static let format = "airgap-changes/1"

    public enum Side: Sendable { case old, new }

    public struct Counts: Equatable, Sendable {
        public var added = 0, changed = 0, removed = 0
        public init(added: Int = 0, changed: Int = 0, removed: Int = 0) { (self.added, self.changed, self.removed) = (added, changed, removed) }
    }

    public struct OtherFiles: Equatable, Sendable {
        public var added: [String] = [], changed: [String] = [], removed: [String] = []
        public init(added: [String] = [], changed: [String] = [], removed: [String] = []) {
            (self.added, self.changed, self.removed) = (added, changed, removed)
        }
    }

    /// The versions compared (`mirrorctl`: version ids); nil where there is none (a first version).
    public var from: String?
    public var to: String?
    /// Every path of the tree, as `ChangeSummary` counts them.
    public var files = Counts()
    public var records = RecordChanges()
    public var images = ImageChanges()
    /// Files that are not records, outside images/: policies, other files, unreadable records.
    public var other = OtherFiles()
    /// A first version, against nothing (`initial(new:images:)`): counts and images only.
    public var initial = false

    public init() {}

    /// The report of a first version, applied to an empty mirror: how many files it brings and
    /// its images, and no record read. Every record is new, so a list of each (2,600 PyPA
    /// advisories, 1,400 KEV entries) tells no one what to act on that "everything" does not
    /// (a scanner evaluates the whole version anyway), and reading them all would cost about
    /// as much as the apply itself. `make(old: nil, ...)` still lists them, for whoever asks.
    public static func initial(new: TreeListing, images: ImageChanges) -> ChangeReport {
        var report = ChangeReport()
        report.initial = true
        report.images = images
        report.files = Counts(added: ChangeSummary.between(nil, new).totalAdded)
        return report
    }

    /// The report of `new` against `old` (nil: an empty mirror). `records` gives the records of
    /// one side's file, and is asked only for changed files `RecordFile.isCandidate` accepts;
    /// nil or `.other` makes the path a changed file. A changed path is read as records only when
    /// both sides hold the same kind of record; else it is a changed file.
    public static func make(old: TreeListing?, new: TreeListing, images: ImageChanges,
                            records: (Side, TreeListing.Entry) -> FileRecords?) -> ChangeReport {
        let summary = ChangeSummary.between(old, new)
        var report = ChangeReport()
        report.images = images
        report.files = Counts(added: summary.totalAdded, changed: summary.totalChanged, removed: summary.totalRemoved)
        // Looked up by binary search: maps of both trees by path cost ~140 bytes a file.
        let before = { (p: String) in old?.entry(at: p) }, after = { (p: String) in new.entry(at: p) }
        func parsed(_ side: Side, _ e: TreeListing.Entry?) -> ParsedFile? {
            guard let e, RecordFile.isCandidate(e.path, size: e.size), let r = records(side, e), r != .other else { return nil }
            return ParsedFile(path: e.path, sha256: e.sha256, records: r)
        }
        var oldFiles: [ParsedFile] = [], newFiles: [ParsedFile] = []
        // Image files are the images' blobs: the images themselves are compared by name.
        for (source, c) in summary.sources where source != "images" {
            for p in c.added {
                if let f = parsed(.new, after(p)) { newFiles.append(f) } else { report.other.added.append(p) }
            }
            for p in c.removed {
                if let f = parsed(.old, before(p)) { oldFiles.append(f) } else { report.other.removed.append(p) }
            }
            for p in c.changed {
                if before(p)?.sha256 != after(p)?.sha256, let o = parsed(.old, before(p)), let n = parsed(.new, after(p)), sameKind(o.records, n.records) {
                    oldFiles.append(o)
                    newFiles.append(n)
                } else {
                    report.other.changed.append(p)
                }
            }
        }
        for k in [\OtherFiles.added, \.changed, \.removed] { report.other[keyPath: k].sort(by: LogicalPath.bytewiseLess) }
        report.records = RecordChanges.between(old: oldFiles, new: newFiles)
        return report
    }

    /// Every file `make` may ask `records` for: the candidates among the added (new side),
    /// removed (old side) and changed files (both sides, when the bytes differ). A caller that
    /// reads them ahead (on several threads) then answers `make` from what it read.
    public static func reads(old: TreeListing?, new: TreeListing) -> [(Side, TreeListing.Entry)] {
        var out: [(Side, TreeListing.Entry)] = []
        TreeListing.pairs(old?.entries ?? [], new.entries) { o, e in
            if let o, let e, o.sha256 == e.sha256 { return }
            if let o, RecordFile.isCandidate(o.path, size: o.size) { out.append((.old, o)) }
            if let e, RecordFile.isCandidate(e.path, size: e.size) { out.append((.new, e)) }
        }
        return out
    }

    private static func sameKind(_ a: FileRecords, _ b: FileRecords) -> Bool {
        switch (a, b) {
        case (.advisory, .advisory), (.exploited, .exploited): true
        default: false
        }
    }

    public var cves: [String] { records.cves }
}
