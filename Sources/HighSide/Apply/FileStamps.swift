import BundleFormat
import Support
import SystemIO

/// What the mirror saw of each file of a version when it last knew the file's bytes to be the
/// signed ones: device, inode, size, modification and change times, mode (as git's index and
/// OSTree do). A file that still shows exactly that is carried into the next version without
/// being read again; any other file is re-hashed, and refused if its bytes changed. A write, a
/// chmod, a link or a rename onto the name all change the change time, which no one can set
/// back, so a file edited with its times restored is re-hashed too.
///
/// Kept in versions/<id>/STAMPS, one line per entry of FILES.json in its order, after a header
/// binding it to that listing. Not signed: a cache. `mirrorctl verify` never uses it.
struct FileStamps: Sendable {
    struct Stamp: Equatable, Sendable {
        var device: UInt64, inode: UInt64, size: Int64, modified: Int64, changed: Int64, mode: UInt32

        init(_ i: FileInfo) {
            (device, inode, size, modified, changed, mode) = (i.device, i.inode, i.size, i.modified, i.changed, i.mode)
        }

        init?(_ line: Substring) {
            let f = line.split(separator: " ")
            guard f.count == 6, let d = UInt64(f[0]), let n = UInt64(f[1]), let s = Int64(f[2]), let m = Int64(f[3]), let c = Int64(f[4]),
                  let mode = UInt32(f[5], radix: 8), s >= 0, mode <= 0o7777 else { return nil }
            (device, inode, size, modified, changed, self.mode) = (d, n, s, m, c, mode)
        }

        var line: String { "\(device) \(inode) \(size) \(modified) \(changed) \(String(mode, radix: 8))" }

        /// The same file, unchanged since it was stamped.
        func holds(_ i: FileInfo) -> Bool { i.kind == .regular && Stamp(i) == self }
    }

    static let format = "airgap-stamps/1"
    /// Each line is at most ~90 bytes; FILES.json bounds the count.
    static let maxLine = 128

    /// Stamps by path in the version's tree (full paths, as `CurrentVersion` names them).
    private(set) var byPath: [String: Stamp] = [:]

    /// The stamps of version `id`, or none when the file is missing, damaged or of another
    /// listing: then every file is re-hashed, as before stamps existed.
    static func load(_ id: String, paths: MirrorPaths, listing: TreeListing, listingDigest: SHA256Digest) -> FileStamps {
        var stamps = FileStamps()
        let limit = (listing.entries.count + 1) * maxLine
        guard let bytes = try? FS.readFile(paths.version(id) + "/STAMPS", limit: limit, followingLinks: false) else { return stamps }
        let lines = String(decoding: bytes, as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: false)
        guard lines.count == listing.entries.count + 2, lines.last == "",
              lines[0] == "\(format) \(listing.entries.count) \(listingDigest.hex)" else { return stamps }
        let tree = paths.tree(id)
        for (e, line) in zip(listing.entries, lines.dropFirst()) {
            guard let s = Stamp(line) else { return FileStamps() }
            stamps.byPath[tree + "/" + e.path] = s
        }
        return stamps
    }

    /// Stamps every file of version `id` as it is now. Call only when its bytes are known to be
    /// the signed ones (just staged and committed, or just verified), after anything that changes
    /// change times (links, pruning). A file that is not a plain file stops it: nothing is written.
    static func record(_ id: String, paths: MirrorPaths, listing: TreeListing, listingDigest: SHA256Digest) throws {
        var out = "\(format) \(listing.entries.count) \(listingDigest.hex)\n"
        let tree = paths.tree(id)
        for e in listing.entries {
            guard let i = try FS.info(tree + "/" + e.path), i.kind == .regular else { return }
            out += Stamp(i).line + "\n"
        }
        try FS.writeAtomically(paths.version(id) + "/STAMPS", Array(out.utf8))
    }
}
