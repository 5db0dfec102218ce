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
    struct Content: Hashable { var digest: SHA256Digest; var mode: UInt32 }

    let id: String
    let listing: TreeListing
    /// SHA-256 of the stored FILES.json: equal to the signed tree digest of an intact version.
    let tree: SHA256Digest
    /// A path in the current tree holding each (digest, mode), and each digest in any mode.
    private(set) var pathByContent: [Content: String] = [:]
    private(set) var pathByDigest: [SHA256Digest: String] = [:]
    /// What the mirror saw of each file when it last knew its bytes (`FileStamps`).
    var stamps = FileStamps()

    var sequence: Int64 { VersionID.sequence(of: id) ?? 0 }

    init(id: String, treePath: String, listing: TreeListing, tree: SHA256Digest) {
        self.id = id
        self.listing = listing
        self.tree = tree
        for e in listing.entries {
            let path = treePath + "/" + e.path
            if pathByContent[Content(digest: e.sha256, mode: e.mode)] == nil { pathByContent[Content(digest: e.sha256, mode: e.mode)] = path }
            if pathByDigest[e.sha256] == nil { pathByDigest[e.sha256] = path }
        }
    }

    /// Reads version `id`'s FILES.json.
    static func load(_ id: String, paths: MirrorPaths) throws -> CurrentVersion {
        let (listing, digest) = try paths.storedListing(id)
        var current = CurrentVersion(id: id, treePath: paths.tree(id), listing: listing, tree: digest)
        current.stamps = FileStamps.load(id, paths: paths, listing: listing, listingDigest: digest)
        return current
    }

    /// Base content for a patch, re-checked against its digest first.
    func content(_ digest: SHA256Digest) throws -> BaseContent { try CurrentVersion.content(digest, at: pathByDigest[digest]) }

    /// Base content for patches from `current`, which may be nil (no version yet: every patch is refused).
    static func provider(_ current: CurrentVersion?) -> BaseProvider {
        { try content($0, at: current?.pathByDigest[$0]) }
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
