import BundleFormat
import Support

/// Reads the records of a bundle's files while its packs stream past, for a report made
/// without the files on disk (`apply --dry-run`, `bundlectl inspect --base`). Each side wraps it
/// in its `ObjectSink`; this type knows only the index.
///
/// An item is kept in memory only while it streams, only if one of its files is a record
/// candidate (`RecordFile.isCandidate`), and is parsed only for the files `wanted` accepts once
/// its digest is known (a file the other side has with the same bytes is not read). What stays
/// is the records, not the bytes. Nothing it holds may be used before the bundle's tree has been
/// checked (`BundleReader.checkTree`), as for any sink.
public final class RecordCollector {
    private let index: BundleIndex
    private let wanted: (String, SHA256Digest) -> Bool
    /// For each item, the paths of its files that may hold records.
    private var candidates: [[String]]
    private var keeping = false
    private var buffer: [UInt8] = []
    /// The records read, by path.
    public private(set) var records: [String: FileRecords] = [:]

    public init(index: BundleIndex, wanted: @escaping (_ path: String, _ sha256: SHA256Digest) -> Bool) {
        self.index = index
        self.wanted = wanted
        candidates = Array(repeating: [], count: index.itemCount)
        for f in index.files {
            guard let item = f.source.item else { continue }
            let n = index.number(of: item)
            if RecordFile.isCandidate(f.path, size: index.size(of: item)) { candidates[n].append(f.path) }
        }
    }

    public func begin(item: Int, size: Int64) {
        keeping = item >= 0 && item < candidates.count && !candidates[item].isEmpty
        buffer.removeAll(keepingCapacity: true)
        // The index's size is a ceiling checked as the bytes come; reserve no more than the limit.
        if keeping { buffer.reserveCapacity(Int(min(max(size, 0), RecordFile.jsonLimit))) }
    }

    public func write(_ bytes: UnsafeRawBufferPointer) {
        guard keeping else { return }
        if Int64(buffer.count) + Int64(bytes.count) > RecordFile.jsonLimit {
            keeping = false
            buffer = []
            return
        }
        buffer.append(contentsOf: bytes)
    }

    public func end(item: Int, sha256: SHA256Digest) {
        guard keeping else { return }
        keeping = false
        for path in candidates[item] where wanted(path, sha256) { records[path] = RecordFile.read(path, buffer) }
        buffer.removeAll(keepingCapacity: false)
    }

    /// Records read from bytes the stream did not carry (a delta's file the base already holds).
    public func note(_ path: String, _ r: FileRecords) { records[path] = r }
}
