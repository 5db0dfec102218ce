import BundleFormat
import BundleVerify
import Support
import SystemIO

/// The version `current` points at, loaded once under the lock for a whole apply: its listing,
/// the digest of that listing (the tree a delta must be based on), and where each content lives.
///
/// One value serves admission (the delta's base), the stager (files to hard-link instead of
/// writing) and the patch decoder (base bytes), so FILES.json is parsed and the maps built once.
struct CurrentVersion {
    let id: String
    let listing: TreeListing
    /// SHA-256 of the stored FILES.json: equal to the signed tree digest of an intact version.
    let tree: SHA256Digest
    private let treePath: String
    /// The listing's entry numbers sorted by (digest, mode, number): 4 bytes a file where maps
    /// of full paths by content took ~250, and the first file with some content is found by
    /// binary search.
    private let byContent: [Int32]
    /// What the mirror saw of each file when it last knew its bytes (`FileStamps`).
    var stamps = FileStamps()

    var sequence: Int64 { VersionID.sequence(of: id) ?? 0 }

    /// `listing` has at most `Int32.max` entries: FILES.json is bounded far below that.
    init(id: String, treePath: String, listing: TreeListing, tree: SHA256Digest) {
        self.id = id
        self.listing = listing
        self.tree = tree
        self.treePath = treePath
        let entries = listing.entries
        func key(_ i: Int32) -> (SHA256Digest, UInt32, Int32) { (entries[Int(i)].sha256, entries[Int(i)].mode, i) }
        byContent = (0..<Int32(entries.count)).sorted { key($0) < key($1) }
    }

    /// The path of the first file in listing order holding `digest` in `mode`.
    func path(holding digest: SHA256Digest, mode: UInt32) -> String? {
        let entries = listing.entries
        let k = byContent.lowerBound { (entries[Int($0)].sha256, entries[Int($0)].mode) < (digest, mode) }
        guard k < byContent.count, case let e = entries[Int(byContent[k])], e.sha256 == digest, e.mode == mode else { return nil }
        return treePath + "/" + e.path
    }

    /// The path of a file holding `digest`, in any mode.
    func path(holding digest: SHA256Digest) -> String? {
        let entries = listing.entries
        let k = byContent.lowerBound { entries[Int($0)].sha256 < digest }
        guard k < byContent.count, case let e = entries[Int(byContent[k])], e.sha256 == digest else { return nil }
        return treePath + "/" + e.path
    }

    /// Reads version `id`'s FILES.json.
    static func load(_ id: String, paths: MirrorPaths) throws -> CurrentVersion {
        let (listing, digest) = try paths.storedListing(id)
        var current = CurrentVersion(id: id, treePath: paths.tree(id), listing: listing, tree: digest)
        current.stamps = FileStamps.load(id, paths: paths, listing: listing, listingDigest: digest)
        return current
    }

    /// Base content for a patch, re-checked against its digest first.
    func content(_ digest: SHA256Digest) throws -> BaseContent { try CurrentVersion.content(digest, at: path(holding: digest)) }

    /// Base content for patches from `current`, which may be nil (no version yet: every patch is refused).
    static func provider(_ current: CurrentVersion?) -> BaseProvider {
        { try content($0, at: current?.path(holding: $0)) }
    }

    private static func content(_ digest: SHA256Digest, at path: String?) throws -> BaseContent {
        guard let path, let info = try FS.info(path), info.kind == .regular else {
            throw ToolError.refused("a patch needs base content \(digest.hex), which the current version does not have")
        }
        guard let content = try BaseContent.verified(path, digest: digest) else {
            throw ToolError.refused("the current version is damaged at '\(path)'; run `mirrorctl verify`")
        }
        return content
    }
}
