import BundleFormat
import BundleVerify
import Changes
import Support
import SystemIO

/// The change report on the mirror: made while staging (CHANGES.json beside FILES.json, outside
/// the tree `verify` checks), in memory for a dry run, and between any two retained versions
/// for `mirrorctl diff`. Files are read from version trees, never through a link; a file of a
/// version already in place is used only when it still holds the bytes its listing names, else
/// it is reported as a changed file (`mirrorctl verify` is where damage is judged).
enum VersionChanges {
    static let file = "CHANGES.json"
    /// A report of the size of its tree's listing at most (every file of a version added).
    static let readLimit = 1 << 30
    /// Files to read adding up to this many bytes are read on several threads, however few.
    static let parallelBytes: Int64 = 1 << 20

    /// Where one side's files are read: a version's tree, and whether to re-hash what is read
    /// (not for a tree just staged from verified bytes). A file still exactly as its stamp says
    /// (`FileStamps`: what apply already knows of the current version) is not re-hashed either.
    struct Tree: Sendable {
        var path: String
        var check: Bool
        var stamps = FileStamps()
    }

    /// The records of the file at `path`, if it holds the listed bytes of `e` (checked when
    /// `check`, unless `stamp` still holds). Read through one descriptor into `buffer`, which the
    /// caller reuses from file to file.
    static func records(at path: String, _ e: TreeListing.Entry, check: Bool = true, stamp: FileStamps.Stamp? = nil,
                        buffer: inout [UInt8]) -> FileRecords? {
        guard e.size <= RecordFile.jsonLimit, let fd = try? FileDescriptor.open(path, options: .noFollow) else { return nil }
        defer { try? fd.close() }
        guard let info = try? fd.status(), info.kind == .regular, info.size == e.size else { return nil }
        let size = Int(e.size)
        // One byte more than listed: a file that grew since its status was read is noticed.
        // Not zero-filled first: only the bytes `read` wrote are looked at, and filling would be
        // one pass more over a KEV catalog's 1.3 MB.
        if buffer.count < size + 1 { buffer = [UInt8](unsafeUninitializedCapacity: size + 1) { _, n in n = size + 1 } }
        let read = buffer.withUnsafeMutableBytes { b in try? fd.readFully(into: UnsafeMutableRawBufferPointer(rebasing: b[...size])) }
        guard read == size else { return nil }
        return buffer.withUnsafeBufferPointer { b in
            let bytes = UnsafeBufferPointer(rebasing: b[..<size])
            if check, stamp?.holds(info) != true, SHA256Digest.of(UnsafeRawBufferPointer(bytes)) != e.sha256 { return nil }
            return RecordFile.read(e.path, bytes)
        }
    }

    /// The records of `e` in `tree`.
    static func records(in tree: Tree, _ e: TreeListing.Entry, buffer: inout [UInt8]) -> FileRecords? {
        let path = tree.path + "/" + e.path
        return records(at: path, e, check: tree.check, stamp: tree.stamps.stamp(at: path), buffer: &buffer)
    }

    /// The report of `listing` against `old` (nil: none). Each side's files come from its tree;
    /// `collected` answers first for the new side (a dry run's records read as they streamed),
    /// `early` for the old side (`readAhead`).
    static func report(old: TreeListing?, oldTree: Tree?, new listing: TreeListing, newTree: Tree?, collected: [String: FileRecords] = [:],
                       early: [String: FileRecords] = [:], fallback: (TreeListing.Entry) -> FileRecords? = { _ in nil },
                       images: ImageChanges) -> ChangeReport {
        let wanted = ChangeReport.reads(old: old, new: listing).filter { side, e in (side == .old ? early : collected)[e.path] == nil }
        let read = parallelRecords(wanted) { side, e, buffer in
            (side == .old ? oldTree : newTree).flatMap { records(in: $0, e, buffer: &buffer) }
        }
        return ChangeReport.make(old: old, new: listing, images: images) { side, e in
            if let r = (side == .old ? early : collected)[e.path] { return r }
            return read[side == .old ? 0 : 1][e.path] ?? (side == .new ? fallback(e) : nil)
        }
    }

    /// Only `scripts/bench-changes --off` sets this, at compile time: the same sources with the
    /// record report replaced by the first version's counts, to time apply without it.
    #if CHANGE_REPORT_OFF
    static let reportOff = true
    #else
    static let reportOff = false
    #endif

    /// At most this many bytes of the current version's files are read ahead (`readAhead`).
    static let readAheadBytes: Int64 = 64 << 20

    /// The current version's record files the report will most likely read, read and parsed
    /// on a thread of its own while the bundle streams, so that only the new side is left for
    /// when it is staged: those at paths the index gives bytes of their own. In a delta that is
    /// exactly the changed and the removed files; in a full bundle every file has bytes of its
    /// own, so only files of `parallelBytes` and more are taken (a KEV catalog, which changes
    /// every month), not thousands of small records most of which did not change. Largest
    /// first, up to `readAheadBytes`. A file read here is re-checked against the current
    /// listing as any other (`records(at:)`); one that turns out unchanged cost that thread's
    /// time only. A file that cannot be read is kept as `.other`, which the report takes as
    /// it would take the same failure later: a changed file.
    static func readAhead(_ index: BundleIndex, delta: Bool, current: CurrentVersion, paths: MirrorPaths) -> Background<[String: FileRecords]>? {
        guard !reportOff else { return nil }
        // Sizes from the index first: a full bundle's thousands of small files are never looked up.
        var named = index.files.compactMap { f in f.source.item.flatMap { delta || index.size(of: $0) >= parallelBytes ? f.path : nil } }
        if delta { named += index.removed }
        var picked: [TreeListing.Entry] = [], bytes: Int64 = 0
        let candidates = named.compactMap { current.listing.entry(at: $0) }
            .filter { RecordFile.isCandidate($0.path, size: $0.size) && (delta || $0.size >= parallelBytes) }
        for e in candidates.sorted(by: { $0.size > $1.size }) where bytes + e.size <= readAheadBytes {
            picked.append(e)
            bytes += e.size
        }
        guard !picked.isEmpty else { return nil }
        let tree = Tree(path: paths.tree(current.id), check: true, stamps: current.stamps)
        return Background("a record-reading thread") { [picked] in
            let read = parallelRecords(picked.map { (.old, $0) }) { _, e, buffer in records(in: tree, e, buffer: &buffer) }[0]
            var out: [String: FileRecords] = [:]
            for e in picked { out[e.path] = read[e.path] ?? .other }
            return out
        }
    }

    /// Reads the files on up to 4 threads when there are many (a first version's thousands of
    /// YAML records take Yams about 0.3 ms each) or when they are large (a KEV catalog's old and
    /// new versions, 1.3 MB each, take about 3 ms each to read and parse, against tens of
    /// microseconds to start a thread); else on this one: a month's few small files would cost
    /// more in threads than they save. Largest first, so two catalogs go to two threads.
    /// Results by side (0 old, 1 new), then path.
    static func parallelRecords(_ wanted: [(ChangeReport.Side, TreeListing.Entry)],
                                _ read: @escaping @Sendable (ChangeReport.Side, TreeListing.Entry, inout [UInt8]) -> FileRecords?) -> [[String: FileRecords]] {
        let bytes = wanted.reduce(Int64(0)) { $0 + min($1.1.size, RecordFile.jsonLimit) }
        let many = wanted.count >= 64 || (wanted.count >= 2 && bytes >= parallelBytes)
        let workers = many ? min(4, CurrentProcess.processorCount, wanted.count) : 1
        let order = workers > 1 ? wanted.sorted { $0.1.size > $1.1.size } : wanted
        // Nothing here throws: the reader turns every failure into nil (a changed file).
        let results = (try? concurrentMap(order.count, workers: workers, what: "a record-reading thread") { n in
            readOne(order[n], read)
        }) ?? []
        var out: [[String: FileRecords]] = [[:], [:]]
        for (n, r) in results.enumerated() {
            if let r { out[order[n].0 == .old ? 0 : 1][order[n].1.path] = r }
        }
        return out
    }

    /// One file's records, out of line so that a profile counts a record-reading thread's work
    /// as the report's (`scripts/bench-changes --share`).
    @inline(never)
    static func readOne(_ item: (ChangeReport.Side, TreeListing.Entry),
                        _ read: (ChangeReport.Side, TreeListing.Entry, inout [UInt8]) -> FileRecords?) -> FileRecords? {
        var buffer: [UInt8] = []
        return read(item.0, item.1, &buffer)
    }

    /// Writes `report` as `folder`'s CHANGES.json. Written once into a fresh staging folder,
    /// which Commit flushes (syncfs) before the swap: no fsync of its own, which on a busy disk
    /// costs more than building the report. Never inlined, for the same profile as `report`.
    @inline(never)
    static func write(_ report: ChangeReport, into folder: String) throws {
        let changes = try FileDescriptor.create(folder + "/" + file)
        try changes.write(report.json.canonicalBytes + [10])
        try changes.close()
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

extension VersionChanges {
    /// The report of version `to` (being staged, or checked by a dry run) against `current`.
    // Never inlined, so a profile can count the report's own share of an apply
    // (`scripts/bench-changes --share`); one call per apply costs nothing measurable.
    @inline(never)
    static func report(_ listing: TreeListing, to: String, current: CurrentVersion?, paths: MirrorPaths, previousImages: [ImageSummary],
                       images: [ImageSummary], newTree: Tree?, collected: [String: FileRecords] = [:],
                       early: Background<[String: FileRecords]>? = nil) -> ChangeReport {
        let current = reportOff ? nil : current
        guard let current else {
            var report = ChangeReport.initial(new: listing, images: ImageChanges.between(previousImages, images))
            report.to = to
            return report
        }
        var buffer: [UInt8] = []
        var report = report(old: current.listing, oldTree: Tree(path: paths.tree(current.id), check: true, stamps: current.stamps),
                            new: listing, newTree: newTree, collected: collected, early: early?.value() ?? [:],
                            // A delta's file the current version holds under another path.
                            fallback: { e in current.path(holding: e.sha256).flatMap { records(at: $0, e, stamp: current.stamps.stamp(at: $0), buffer: &buffer) } },
                            images: ImageChanges.between(previousImages, images))
        (report.from, report.to) = (current.id, to)
        return report
    }
}

extension OfflineMirror {
    /// A dry run's report: the bundle's records as they stream (its tree is checked before the
    /// report is used), the current version's from its tree.
    func dryRunReport(_ reader: BundleReader, _ index: BundleIndex, current: CurrentVersion?, previousImages: [ImageSummary],
                      id: String, progress: Progress) throws -> (TreeListing, ChangeReport) {
        var before: [String: SHA256Digest] = [:]
        for e in current?.listing.entries ?? [] { before[e.path] = e.sha256 }
        let collector = RecordCollector(index: index) { path, digest in before[path] != digest }
        // A first version's report reads no record (`ChangeReport.initial`): nothing to keep.
        let sink: ObjectSink = current == nil ? DiscardingSink() : CollectingSink(collector)
        let early = current.flatMap { VersionChanges.readAhead(index, delta: reader.manifest.base != nil, current: $0, paths: paths) }
        let listing = try Staging.check(reader, index, into: sink, current: current,
                                        base: current.map { c in { try c.content($0) } }, progress: progress)
        let report = VersionChanges.report(listing, to: id, current: current, paths: paths, previousImages: previousImages,
                                           images: reader.manifest.images, newTree: nil, collected: collector.records, early: early)
        return (listing, report)
    }
}
