import Libarchive
import Support
import SystemIO

/// Phase 6 of a build: the archive. MANIFEST and its signature first, so
/// `tar -xf B MANIFEST MANIFEST.sig` is cheap; then TRUST, the index and the packs.
///
/// It is written to a scratch name and renamed into place, so a failed build never leaves a
/// half-written bundle at the output. Each pack's scratch file goes as soon as it is copied in.
struct BundleArchiver {
    /// The container's zstd level: its packs are compressed already, it only has to squeeze tar's
    /// headers and padding, and level 19 would need ~90 MiB of match tables for that.
    static let containerLevel = 6

    /// Bundles below this are written as a zstd-compressed tar.
    static let compressedContainerLimit: Int64 = 8 << 20

    let container: ContainerChoice
    let mtime: Int64
    /// Replace an existing `output`; otherwise publish only under a name nothing holds.
    var replace = false

    static func exists(_ output: String) -> ToolError {
        ToolError.usage("'\(output)' exists; pass --force to replace it (an earlier bundle is what a later --base needs)")
    }

    /// Writes the bundle to `output` (through `scratchFile`); returns its SHA-256 and size.
    func write(_ head: AssembledBundle, packs: WrittenPacks, scratchFile: String, output: String) throws -> (SHA256Digest, Int64) {
        let fd = try FileDescriptor.create(scratchFile)
        let tar = try TarWriter(fd: fd, zstdLevel: compresses(head, packs: packs) ? BundleArchiver.containerLevel : nil)
        try tar.addFile("MANIFEST", bytes: head.manifestBytes, mtime: mtime)
        try tar.addFile("MANIFEST.sig", bytes: Array(head.signature.fileText.utf8), mtime: mtime)
        if let trust = head.trust {
            try tar.addFile("TRUST", bytes: trust.bytes, mtime: mtime)
            for (name, bytes) in trust.signatures { try tar.addFile(name, bytes: bytes, mtime: mtime) }
        }
        try tar.addFile("INDEX.zst", bytes: head.index, mtime: mtime)
        for (p, ref) in packs.refs.enumerated() {
            try copy(tar, name: ref.path, from: packs.files[p], size: ref.size)
            // Once in the bundle a pack's scratch copy is dead weight: removed at once, scratch
            // never holds the whole bundle twice over, only the packs not yet written.
            try FS.remove(packs.files[p])
        }
        let (digest, size) = try tar.finish()
        try fd.sync()
        try fd.close()
        try publish(scratchFile, as: output)
        try FS.syncDirectory(FS.parent(of: FS.absolute(output)))
        return (digest, size)
    }

    /// Moves the finished file to its name. Without `replace`, a hard link publishes it, which
    /// fails if the name was taken meanwhile, where a rename would silently replace it.
    private func publish(_ file: String, as output: String) throws {
        guard !replace else { return try FS.rename(file, output) }
        do {
            try FS.link(file, output)
        } catch let e as ToolError where e.errno == .exists {
            throw BundleArchiver.exists(output)
        }
        try FS.remove(file)
    }

    /// A small bundle (a monthly delta above all) is mostly tar framing: 512-byte headers,
    /// padding and the end marker. Compressing the container removes that; a large one is
    /// left plain, as its packs are compressed already.
    func compresses(_ head: AssembledBundle, packs: WrittenPacks) -> Bool {
        let entryBytes = Int64(head.manifestBytes.count + head.index.count + 1024) + packs.size
        return container == .tarZstd || (container == .auto && entryBytes < BundleArchiver.compressedContainerLimit)
    }

    private func copy(_ tar: TarWriter, name: String, from path: String, size: Int64) throws {
        let input = try FileDescriptor.open(path)
        try tar.addFile(name, size: size, mtime: mtime) { put in try input.forEachChunk(put) }
    }
}
