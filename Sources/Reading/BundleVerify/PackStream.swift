import BundleFormat
import Libarchive
import Support
import SystemIO

/// The packs of a bundle, streamed once in manifest order. Each entry is checked against the
/// manifest (name, order, kind, size) and its stored bytes against their signed digest, while the
/// decoder for its kind of pack turns them into items for the sink.
struct PackStream {
    let tar: TarReader
    let manifest: Manifest
    let path: String

    /// Every item's SHA-256, in item order (see `BundleReader.readObjects`).
    func read(_ index: BundleIndex, into sink: ObjectSink, base: BaseProvider?,
              progress: Progress?) throws -> [SHA256Digest] {
        var digests: [SHA256Digest] = []
        digests.reserveCapacity(index.itemCount)
        var cursor = ItemCursor()
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 1 << 20, alignment: 64)
        defer { buffer.deallocate() }
        var seen = Set(EntryOrder.leading)
        for (number, pack) in manifest.packs.enumerated() {
            try expectEntry(of: pack, seen: &seen)
            let contents = cursor.contents(ofPack: number, in: index)
            let decoder = try makePackDecoder(pack, holding: contents, index: index, sink: sink, base: base)
            try pump(pack, into: decoder, buffer: buffer, progress: progress)
            digests += try decoder.finish()
            cursor.pass(contents)
        }
        guard cursor.object == index.objects.count, cursor.patch == index.patches.count else {
            throw ToolError.refused("the index of '\(path)' names objects that no pack holds")
        }
        try expectEnd(seen: seen)
        return digests
    }

    /// The next entry, which must be `pack`, a regular file of its signed size.
    private func expectEntry(of pack: PartRef, seen: inout Set<String>) throws {
        guard let e = try tar.next() else {
            throw ToolError.refused("'\(path)' is truncated: pack \(pack.path) is missing")
        }
        guard e.name == pack.path else {
            if seen.contains(e.name) { throw ToolError.refused("'\(path)' holds \(e.name) twice") }
            if manifest.packs.contains(where: { $0.path == e.name }) {
                throw ToolError.refused("'\(path)': pack \(e.name) is out of order (expected \(pack.path))")
            }
            throw ToolError.refused("'\(path)' holds an entry '\(ToolError.shown(e.name))' that the manifest does not list (expected \(pack.path))")
        }
        seen.insert(e.name)
        guard e.kind == .regular else { throw ToolError.refused("'\(path)': \(e.name) is not a regular file") }
        guard e.size == pack.size else { throw ToolError.refused("\(pack.path) in '\(path)' is \(e.size) bytes; the manifest says \(pack.size)") }
    }

    /// Hands the pack's stored bytes to `decoder` as they pass, and checks them against the
    /// pack's signed size and digest.
    private func pump(_ pack: PartRef, into decoder: PackDecoder, buffer: UnsafeMutableRawBufferPointer, progress: Progress?) throws {
        var storedHash = SHA256Stream()
        while true {
            let n = try tar.read(into: buffer)
            if n == 0 { break }
            let chunk = UnsafeRawBufferPointer(rebasing: buffer[..<n])
            storedHash.update(chunk)
            try decoder.feed(chunk)
            progress?.advance(Int64(n))
        }
        guard storedHash.count == pack.size else { throw ToolError.refused("'\(path)' is truncated inside \(pack.path)") }
        guard storedHash.finalize() == pack.sha256 else {
            throw ToolError.refused("\(pack.path) in '\(path)' does not match its signed digest: the bundle was altered or damaged")
        }
    }

    /// Nothing after the last pack, and the archive's end marker.
    private func expectEnd(seen: Set<String>) throws {
        if let extra = try tar.next() {
            if seen.contains(extra.name) { throw ToolError.refused("'\(path)' holds \(extra.name) twice") }
            throw ToolError.refused("'\(path)' holds an entry '\(ToolError.shown(extra.name))' that the manifest does not list")
        }
        // Every signed part is here, but a writer always ends the archive with its marker: a
        // bundle without one was cut short, and is refused like any other truncation.
        guard tar.endedWithMarker else { throw ToolError.refused("'\(path)' is truncated: its end-of-archive marker is missing") }
    }
}

/// The items one pack holds: a run of patches, or a run of objects (the index keeps them in
/// pack order and never mixes the two in one pack).
enum PackContents: Equatable {
    case objects(Range<Int>)
    case patches(Range<Int>)
}

/// Where the stream is in the index: the first object and the first patch not yet read.
struct ItemCursor: Equatable {
    var object = 0
    var patch = 0

    /// What pack `pack` holds from here: its patches when the next patch is in it, else its
    /// objects (none, when the index puts nothing there).
    func contents(ofPack pack: Int, in index: BundleIndex) -> PackContents {
        let patches = index.patches[patch...].prefix { $0.pack == pack }.count
        if patches > 0 { return .patches(patch ..< patch + patches) }
        return .objects(object ..< object + index.objects[object...].prefix { $0.pack == pack }.count)
    }

    /// Moves past a pack that held `contents`.
    mutating func pass(_ contents: PackContents) {
        switch contents {
        case .objects(let r): object = r.upperBound
        case .patches(let r): patch = r.upperBound
        }
    }
}
