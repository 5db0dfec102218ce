import BundleFormat
import Support
import Zstd

/// Turns the stored bytes of one pack into the items it holds, for a sink. One type per kind of
/// pack the format has (see `makePackDecoder`).
protocol PackDecoder: AnyObject {
    /// The pack's next stored bytes, in order.
    func feed(_ bytes: UnsafeRawBufferPointer) throws
    /// Called once every byte was fed and the pack's signed digest held: checks the pack ended
    /// where its last item does, and returns its items' digests in item order.
    func finish() throws -> [SHA256Digest]
}

/// The decoder for a pack holding `contents`, by kind: objects compressed as one stream
/// (`SolidPack`) or kept as they are (`StoredPack`), patches decoded against their base files
/// (`PatchPack`), or passed over when no base is at hand (`UncheckedPatchPack`).
func makePackDecoder(_ pack: PartRef, holding contents: PackContents, index: BundleIndex, sink: ObjectSink,
                     base: BaseProvider?) throws -> PackDecoder {
    switch contents {
    case .patches(let r):
        guard let base else { return UncheckedPatchPack() }
        return PatchPack(pack, patches: r, index: index, sink: sink, base: base)
    case .objects(let r):
        let objects = ObjectSplitter(index: index, objects: r, sink: sink)
        return pack.stored ? StoredPack(objects) : try SolidPack(pack, objects: objects)
    }
}

/// A solid pack: its objects concatenated and compressed as one zstd stream.
final class SolidPack: PackDecoder {
    private let pack: PartRef
    private let objects: ObjectSplitter
    private let zstd: ZstdDecompressor

    init(_ pack: PartRef, objects: ObjectSplitter) throws {
        self.pack = pack
        self.objects = objects
        zstd = try ZstdDecompressor("pack \(pack.path)", limit: pack.uncompressed) { try objects.feed($0) }
    }

    func feed(_ bytes: UnsafeRawBufferPointer) throws { try zstd.write(bytes) }

    func finish() throws -> [SHA256Digest] {
        try zstd.finish()
        guard zstd.produced == pack.uncompressed else {
            throw ToolError.refused("\(pack.path) expands to \(zstd.produced) bytes; the manifest says \(pack.uncompressed)")
        }
        try objects.close()
        return objects.digests
    }
}

/// A stored pack: objects kept as they are (compressed layers), concatenated: the bytes are the objects.
final class StoredPack: PackDecoder {
    private let objects: ObjectSplitter

    init(_ objects: ObjectSplitter) { self.objects = objects }

    func feed(_ bytes: UnsafeRawBufferPointer) throws { try objects.feed(bytes) }

    func finish() throws -> [SHA256Digest] {
        try objects.close()
        return objects.digests
    }
}

/// A patch pack with no base at hand (checking a delta on the low side): the pack's signed
/// digest is still checked; what the patches decode to is checked when a mirror applies them.
final class UncheckedPatchPack: PackDecoder {
    func feed(_ bytes: UnsafeRawBufferPointer) throws {}
    func finish() throws -> [SHA256Digest] { [] }
}
