import BundleFormat
import BundleVerify
import Changes
import Support
import SystemIO

/// `bundlectl inspect --base`: the change report of a bundle against a base bundle, read by
/// streaming both (nothing is unpacked or written). As for `inspect`, signatures are not
/// checked; each bundle's bytes are checked against its tree digest before its records count.
///
/// A delta's index says which paths change, so the base is read once: the records of those
/// paths, and the base files the delta's patches need (held in memory, at most `keepLimit`).
/// A full bundle is only known to differ once its digests are, so the base is read twice:
/// for its listing, then for the records of the paths that changed.
enum BaseChanges {
    static let keepLimit: Int64 = 1 << 30

    static func report(_ reader: BundleReader, _ index: BundleIndex, base path: String) throws -> (ChangeReport, BundleReader) {
        let base = try open(path)
        if let ref = reader.manifest.base {
            guard ref.tree == base.reader.manifest.tree else {
                throw ToolError.refused("'\(reader.path)' is a delta of \(ref.description), not of '\(path)' (\(base.reader.manifest.name) sequence \(base.reader.manifest.sequence))")
            }
            return (try delta(reader, index, base: base), base.reader)
        }
        return (try full(reader, index, base: base, path: path), base.reader)
    }

    private static func open(_ path: String) throws -> (reader: BundleReader, index: BundleIndex) {
        let r = try BundleReader(path: path, trust: nil)
        guard r.manifest.base == nil else { throw ToolError.usage("--base '\(path)' is a delta; give a full bundle") }
        return (r, try r.readIndex())
    }

    /// Streams `reader` into `sink` and rebuilds its tree, checked against its tree digest.
    private static func read(_ reader: BundleReader, _ index: BundleIndex, into sink: ObjectSink, base: TreeListing? = nil,
                             patchBase: BaseProvider? = nil) throws -> TreeListing {
        let progress = Progress("reading", total: reader.manifest.packs.reduce(0) { $0 + $1.size })
        defer { progress.finish() }
        let digests = try reader.readObjects(index, into: sink, base: patchBase, progress: progress)
        return try reader.checkTree(index, objectDigests: digests, base: base)
    }

    private static func full(_ reader: BundleReader, _ index: BundleIndex, base: (reader: BundleReader, index: BundleIndex), path: String) throws -> ChangeReport {
        let old = try read(base.reader, base.index, into: DiscardingSink())
        var before: [String: SHA256Digest] = [:]
        for e in old.entries { before[e.path] = e.sha256 }
        let newSide = RecordCollector(index: index) { p, d in before[p] != d }
        let new = try read(reader, index, into: Collecting(newSide))
        // Now the changed paths are known: the base again, for their old records.
        var after: [String: SHA256Digest] = [:]
        for e in new.entries { after[e.path] = e.sha256 }
        let again = try open(path)
        let oldSide = RecordCollector(index: again.index) { p, d in after[p] != d }
        guard try read(again.reader, again.index, into: Collecting(oldSide)) == old else {
            throw ToolError.environment("'\(path)' changed while it was read")
        }
        return make(old, new, base.reader, reader, oldSide, newSide)
    }

    private static func delta(_ reader: BundleReader, _ index: BundleIndex, base: (reader: BundleReader, index: BundleIndex)) throws -> ChangeReport {
        var listed: [String: BundleIndex.Source] = [:]
        for f in index.files { listed[f.path] = f.source }
        let removed = Set(index.removed)
        // The base holds what patches are made against, and the files the delta names by digest.
        var needed = Set(index.patches.map(\.base))
        for f in index.files { if case .base(let d) = f.source { needed.insert(d) } }
        let oldSide = RecordCollector(index: base.index) { p, d in removed.contains(p) || (listed[p] != nil && listed[p] != .base(d)) }
        let keeper = Keeper(needed)
        let old = try read(base.reader, base.index, into: Collecting(oldSide, keeper))
        var before: [String: SHA256Digest] = [:]
        for e in old.entries { before[e.path] = e.sha256 }
        let newSide = RecordCollector(index: index) { p, d in before[p] != d }
        let new = try read(reader, index, into: Collecting(newSide), base: old) { d in
            guard let bytes = keeper.kept[d] else { throw ToolError.refused("a patch of '\(reader.path)' needs base content \(d.hex), which the base does not have") }
            return BaseContent(bytes: bytes)
        }
        for f in index.files {
            guard case .base(let d) = f.source, before[f.path] != d, let bytes = keeper.kept[d] else { continue }
            newSide.note(f.path, RecordFile.read(f.path, bytes))
        }
        return make(old, new, base.reader, reader, oldSide, newSide)
    }

    private static func make(_ old: TreeListing, _ new: TreeListing, _ a: BundleReader, _ b: BundleReader,
                             _ oldSide: RecordCollector, _ newSide: RecordCollector) -> ChangeReport {
        ChangeReport.make(old: old, new: new, images: ImageChanges.between(a.manifest.images, b.manifest.images)) { side, e in
            (side == .old ? oldSide : newSide).records[e.path]
        }
    }
}

/// Hands what streams to a record collector and, when given, a keeper.
private final class Collecting: ObjectSink {
    let collector: RecordCollector
    let keeper: Keeper?
    init(_ collector: RecordCollector, _ keeper: Keeper? = nil) {
        self.collector = collector
        self.keeper = keeper
    }
    func begin(object: Int, size: Int64) throws {
        collector.begin(item: object, size: size)
        keeper?.begin(size: size)
    }
    func write(_ bytes: UnsafeRawBufferPointer) throws {
        collector.write(bytes)
        keeper?.write(bytes)
    }
    func end(object: Int, sha256: SHA256Digest) throws {
        collector.end(item: object, sha256: sha256)
        try keeper?.end(sha256: sha256)
    }
}

/// Keeps the bytes of the base contents a delta needs, in memory, up to `BaseChanges.keepLimit`.
private final class Keeper {
    let needed: Set<SHA256Digest>
    private(set) var kept: [SHA256Digest: [UInt8]] = [:]
    private var total: Int64 = 0
    private var buffer: [UInt8] = []
    private var keeping = false

    init(_ needed: Set<SHA256Digest>) { self.needed = needed }

    func begin(size: Int64) {
        buffer.removeAll(keepingCapacity: true)
        // Any object may be one that is needed: only its digest, at its end, says so.
        keeping = !needed.isEmpty && size <= BundleIndex.patchBaseLimit
    }

    func write(_ bytes: UnsafeRawBufferPointer) { if keeping { buffer.append(contentsOf: bytes) } }

    func end(sha256: SHA256Digest) throws {
        guard keeping, needed.contains(sha256), kept[sha256] == nil else { return }
        guard total + Int64(buffer.count) <= BaseChanges.keepLimit else {
            throw ToolError.usage("the delta's patches need more than \(Format.grouped(BaseChanges.keepLimit)) bytes of base files; inspect --base keeps at most that in memory")
        }
        kept[sha256] = buffer
        total += Int64(buffer.count)
    }
}
