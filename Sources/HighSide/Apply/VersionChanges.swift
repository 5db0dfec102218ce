import BundleFormat
import BundleVerify
import Changes
import Support
import SystemIO

/// The change report on the mirror: made while staging (CHANGES.json beside FILES.json, outside
/// the tree `verify` checks), in memory for a dry run, and between any two retained versions
/// for `mirrorctl diff`. Files are read from version trees, never through a link, and only when
/// they still hold the bytes their listing names; one that does not is reported as a changed
/// file (`mirrorctl verify` is where damage is judged).
enum VersionChanges {
    static let file = "CHANGES.json"
    /// A report of the size of its tree's listing at most (every file of a version added).
    static let readLimit = 1 << 30

    /// The records of `e`, read from the tree at `tree`.
    static func records(in tree: String, _ e: TreeListing.Entry) -> FileRecords? {
        records(at: tree + "/" + e.path, e)
    }

    /// The records of the file at `path`, if it holds the listed bytes of `e`.
    static func records(at path: String, _ e: TreeListing.Entry) -> FileRecords? {
        guard e.size <= RecordFile.jsonLimit, let bytes = try? FS.readFile(path, limit: Int(e.size), followingLinks: false),
              Int64(bytes.count) == e.size, SHA256Digest.of(bytes) == e.sha256 else { return nil }
        return RecordFile.read(e.path, bytes)
    }

    /// The report of `listing` (version `to`) against `current`, reading the new side through `new`.
    static func report(current: CurrentVersion?, previousImages: [ImageSummary], paths: MirrorPaths, to: String, listing: TreeListing,
                       images: [ImageSummary], new: (TreeListing.Entry) -> FileRecords?) -> ChangeReport {
        var report = ChangeReport.make(old: current?.listing, new: listing, images: ImageChanges.between(previousImages, images)) { side, e in
            guard side == .old else { return new(e) }
            return current.flatMap { records(in: paths.tree($0.id), e) }
        }
        (report.from, report.to) = (current?.id, to)
        return report
    }

    /// A report stored with version `id`, if it reads as one.
    static func stored(_ id: String, paths: MirrorPaths) -> ChangeReport? {
        guard let bytes = try? FS.readFile(paths.version(id) + "/" + file, limit: readLimit, followingLinks: false),
              let json = try? JSON.parse(bytes, what: file) else { return nil }
        return ChangeReport(json: json)
    }
}

/// An `ObjectSink` that hands what streams to a `RecordCollector` and keeps nothing else: the
/// dry run's sink, so it reads the same records an apply reads back from its staged tree.
final class CollectingSink: ObjectSink {
    let collector: RecordCollector
    init(_ collector: RecordCollector) { self.collector = collector }
    func begin(object: Int, size: Int64) throws { collector.begin(item: object, size: size) }
    func write(_ bytes: UnsafeRawBufferPointer) throws { collector.write(bytes) }
    func end(object: Int, sha256: SHA256Digest) throws { collector.end(item: object, sha256: sha256) }
}

extension OfflineMirror {
    /// A dry run's report: the bundle's records as they stream (its tree is checked before the
    /// report is used), the current version's from its tree. A delta's file that the current
    /// version holds under another path is read from there.
    func dryRunReport(_ reader: BundleReader, _ index: BundleIndex, current: CurrentVersion?, previousImages: [ImageSummary],
                      id: String, progress: Progress) throws -> (TreeListing, ChangeReport) {
        var before: [String: SHA256Digest] = [:]
        for e in current?.listing.entries ?? [] { before[e.path] = e.sha256 }
        let collector = RecordCollector(index: index) { path, digest in before[path] != digest }
        let listing = try Staging.check(reader, index, into: CollectingSink(collector), current: current,
                                        base: current.map { c in { try c.content($0) } }, progress: progress)
        let report = VersionChanges.report(current: current, previousImages: previousImages, paths: paths, to: id, listing: listing,
                                           images: reader.manifest.images) { e in
            if let r = collector.records[e.path] { return r }
            return current?.pathByDigest[e.sha256].flatMap { VersionChanges.records(at: $0, e) }
        }
        return (listing, report)
    }
}
