import BundleFormat
import BundleVerify
import Support
import SystemIO

/// The version `current` points at, loaded once under the lock for a whole apply: its listing,
/// the digest of that listing (the tree a delta must be based on), and where each content lives.
///
/// One value serves admission (the delta's base), the stager (files to hard-link instead of
/// writing) and the patch decoder (base bytes), so FILES.json is parsed and indexed once.
struct CurrentVersion {
    let id: String
    let listing: TreeListing
    /// SHA-256 of the stored FILES.json: equal to the signed tree digest of an intact version.
    let tree: SHA256Digest
    private let treePath: String
    /// Where each content is, without a map of full paths by content.
    private let byContent: TreeListing.ContentIndex
    /// What the mirror saw of each file when it last knew its bytes (`FileStamps`).
    var stamps = FileStamps()

    var sequence: Int64 { VersionID.sequence(of: id) ?? 0 }

    init(id: String, treePath: String, listing: TreeListing, tree: SHA256Digest) {
        self.id = id
        self.listing = listing
        self.tree = tree
        self.treePath = treePath
        byContent = TreeListing.ContentIndex(listing.entries)
    }

    /// The path of the first file in listing order holding `digest` in `mode`, or (no mode
    /// given) holding it in any mode.
    func path(holding digest: SHA256Digest, mode: UInt32? = nil) -> String? {
        byContent.first(digest, mode: mode).map { treePath + "/" + $0.path }
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
