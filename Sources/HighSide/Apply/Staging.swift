import BundleFormat
import BundleVerify
import Changes
import Support
import SystemIO

/// Staging: every object of a bundle streamed, checked and written under `staging/<id>/`, with
/// the records a version keeps beside its tree. Nothing outside `staging/` changes here.
struct Staging {
    /// A version complete in `staging/`, ready for `Commit`.
    struct Staged {
        var folder: String
        var listing: TreeListing
        var linkedFiles: Int
        var writtenBytes: Int64
        /// What it changes against the current version (CHANGES.json).
        var report: ChangeReport
    }

    let paths: MirrorPaths

    /// Streams every object into `sink` and rebuilds the tree, proven against the signed digest.
    /// The dry run calls this with a sink that keeps nothing; `stage` with the stager.
    static func check(_ reader: BundleReader, _ index: BundleIndex, into sink: ObjectSink, current: CurrentVersion?,
                      base: BaseProvider?, progress: Progress) throws -> TreeListing {
        let digests = try reader.readObjects(index, into: sink, base: base, progress: progress)
        return try reader.checkTree(index, objectDigests: digests, base: reader.manifest.base == nil ? nil : current?.listing)
    }

    /// The folder a version is staged in before it is committed.
    func folder(_ id: String) -> String { paths.staging + "/" + id }

    /// Stages version `id`: the tree (new files written, unchanged ones hard-linked from
    /// `current`), then MANIFEST, its signatures, FILES.json, BUNDLE.json (with `record`'s fields
    /// over its own: a repair keeps when the version was first applied) and CHANGES.json (read
    /// from the staged tree and `current`'s, both checked by then).
    func stage(_ reader: BundleReader, id: String, current: CurrentVersion?, previousImages: [ImageSummary], now: Int64,
               progress: Progress, record: [String: JSON] = [:]) throws -> Staged {
        let stage = folder(id)
        try FS.makeDirectory(stage, mode: 0o755)
        let index = try reader.readIndex()
        let stager = Stager(tree: stage + "/tree", index: index, current: current)
        try FS.makeDirectory(stage + "/tree")
        let early = current.flatMap { [paths] in VersionChanges.readAhead(index, delta: reader.manifest.base != nil, current: $0, paths: paths) }
        let listing = try Staging.check(reader, index, into: stager, current: current,
                                        base: CurrentVersion.provider(current), progress: progress)
        try stager.carryOver(listing)
        progress.finish()
        // The report reads and compares records on threads of its own while this one writes the
        // version's records, each flushed to disk: time the processors would spend waiting. The
        // staged files were just written from verified bytes: read back without re-hashing.
        let (paths, images) = (paths, reader.manifest.images)
        let pending = Background("the change report") {
            VersionChanges.report(listing, to: id, current: current, paths: paths, previousImages: previousImages, images: images,
                                  newTree: .init(path: stage + "/tree", check: false), early: early)
        }
        try writeRecords(reader, listing: listing, into: stage, now: now, extra: record)
        let report = pending.value()
        try VersionChanges.write(report, into: stage)
        return Staged(folder: stage, listing: listing, linkedFiles: stager.linked, writtenBytes: stager.written, report: report)
    }

    /// What a version keeps beside its tree, and BUNDLE.json in it.
    private func writeRecords(_ reader: BundleReader, listing: TreeListing, into stage: String, now: Int64, extra: [String: JSON]) throws {
        let manifest = reader.manifest
        try FS.writeAtomically(stage + "/MANIFEST", reader.manifestBytes)
        for sig in reader.signatures { try FS.writeAtomically(stage + "/" + sig.entry, Array(sig.text.utf8)) }
        let files = try FileDescriptor.create(stage + "/FILES.json")
        try listing.write { try files.write($0) }
        try files.close()
        let record = JSON.object(Staging.identity(reader).merging([
            "created": .string(Timestamp.format(manifest.created)),
            "expires": manifest.expires.map { .string(Timestamp.format($0)) } ?? .null,
            "appliedAt": .string(Timestamp.format(now)),
            "files": .int(manifest.treeFiles),
            "size": .int(manifest.treeSize),
        ]) { $1 }.merging(extra) { $1 })
        try FS.writeAtomically(stage + "/tree/BUNDLE.json", record.canonicalBytes + [10], mode: 0o444)
    }

    /// What names a bundle in BUNDLE.json and the journal: which bundle, which manifest, who signed.
    static func identity(_ reader: BundleReader) -> [String: JSON] {
        let m = reader.manifest
        return [
            "name": .string(m.name),
            "version": .string(m.version),
            "sequence": .int(m.sequence),
            "manifest": .string("sha256:" + reader.manifestDigest.hex),
            // Only keys whose signatures counted; never MANIFEST.sig's key when it did not.
            "signer": reader.signer.map { .string($0.idText) } ?? .null,
            "signers": .array(reader.signers.map { .string($0.idText) }),
        ]
    }
}
