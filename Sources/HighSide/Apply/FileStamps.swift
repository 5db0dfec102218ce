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
            let f = line.split(separator: " ", omittingEmptySubsequences: false)
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

    /// The version's tree folder and listing (shared with `CurrentVersion`, not copied);
    /// `stamps[i]` is entry i's. In listing order, not a map by path: a map of a large tree's
    /// full paths cost ~200 bytes a file, the stamps themselves take 48.
    private var tree = ""
    private var listing = TreeListing(entries: [])
    private var stamps: [Stamp] = []

    /// The stamp of the file at `path` (a full path in the version's tree), if it has one.
    func stamp(at path: String) -> Stamp? {
        guard !stamps.isEmpty, path.utf8.count > tree.utf8.count, path.utf8.starts(with: tree.utf8),
              path.utf8.dropFirst(tree.utf8.count).first == UInt8(ascii: "/"),
              let relative = String(path.utf8.dropFirst(tree.utf8.count + 1)) else { return nil }
        return listing.index(of: relative).map { stamps[$0] }
    }

    /// The stamps of version `id`, or none when the file is missing, damaged or of another
    /// listing: then every file is re-hashed, as before stamps existed.
    static func load(_ id: String, paths: MirrorPaths, listing: TreeListing, listingDigest: SHA256Digest) -> FileStamps {
        let limit = (listing.entries.count + 1) * maxLine
        guard let bytes = try? FS.readFile(paths.version(id) + "/STAMPS", limit: limit, followingLinks: false),
              let stamps = parse(bytes, count: listing.entries.count, header: "\(format) \(listing.entries.count) \(listingDigest.hex)")
        else { return FileStamps() }
        return FileStamps(tree: paths.tree(id), listing: listing, stamps: stamps)
    }

    /// The header line, then `count` stamp lines, each ended by a newline; nil for anything else.
    private static func parse(_ bytes: [UInt8], count: Int, header: String) -> [Stamp]? {
        var stamps: [Stamp] = []
        stamps.reserveCapacity(count)
        var start = 0, sawHeader = false
        while let end = bytes[start...].firstIndex(of: UInt8(ascii: "\n")) {
            let line = Substring(decoding: bytes[start..<end], as: UTF8.self)
            start = end + 1
            if !sawHeader {
                guard line == header else { return nil }
                sawHeader = true
            } else {
                guard stamps.count < count, let s = Stamp(line) else { return nil }
                stamps.append(s)
            }
        }
        return sawHeader && start == bytes.count && stamps.count == count ? stamps : nil
    }

    /// Stamps every file of version `id` as it is now. Call only when its bytes are known to be
    /// the signed ones (just staged and committed, or just verified), after anything that changes
    /// change times (links, pruning). A file that is not a plain file stops it: nothing is written.
    static func record(_ id: String, paths: MirrorPaths, listing: TreeListing, listingDigest: SHA256Digest) throws {
        var out = Array("\(format) \(listing.entries.count) \(listingDigest.hex)\n".utf8)
        let tree = paths.tree(id)
        for e in listing.entries {
            guard let i = try FS.info(tree + "/" + e.path), i.kind == .regular else { return }
            out += (Stamp(i).line + "\n").utf8
        }
        try FS.writeAtomically(paths.version(id) + "/STAMPS", out)
    }
}
