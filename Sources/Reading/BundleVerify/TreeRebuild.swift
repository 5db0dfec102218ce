import BundleFormat
import Support

/// A bundle's complete tree, rebuilt from its index (and for a delta, its base's listing) before
/// it is checked against the signed tree digest.
///
/// The three lists are sorted by path: the base's listing and the index's files and removals (the
/// index parser refuses them otherwise, and a file listed twice). So they are merged in one walk,
/// without a map of the whole tree by path (~140 bytes a file), and the result comes out sorted.
struct TreeRebuild {
    let index: BundleIndex
    let objectDigests: [SHA256Digest]
    let base: [TreeListing.Entry]
    /// The bundle, as errors name it.
    let bundle: String

    func entries() throws -> [TreeListing.Entry] {
        // The parsers check each list's order; an index made in code is held to it here too.
        guard LogicalPath.strictlySorted(base.lazy.map(\.path)), LogicalPath.strictlySorted(index.files.lazy.map(\.path)),
              LogicalPath.strictlySorted(index.removed) else {
            throw ToolError.refused("'\(bundle)': its index or its base's listing is not sorted by path; its tree cannot be rebuilt")
        }
        var out: [TreeListing.Entry] = []
        out.reserveCapacity(base.count + index.files.count)
        var b = 0, f = 0, r = 0
        let files = index.files, removed = index.removed
        var baseContent: TreeListing.ContentIndex?
        while b < base.count || f < files.count {
            let path = f < files.count && (b == base.count || !LogicalPath.bytewiseLess(base[b].path, files[f].path)) ? files[f].path : base[b].path
            let inBase = b < base.count && base[b].path == path
            // Every removal must name a path of the base, and is met in order on the way.
            if r < removed.count, LogicalPath.bytewiseLess(removed[r], path) { throw notInBase(removed[r]) }
            let isRemoved = r < removed.count && removed[r] == path
            if isRemoved {
                guard inBase else { throw notInBase(path) }
                r += 1
            }
            if f < files.count && files[f].path == path {
                out.append(try entry(files[f], base: &baseContent))
                f += 1
            } else if !isRemoved {
                out.append(base[b])
            }
            if inBase { b += 1 }
        }
        if r < removed.count { throw notInBase(removed[r]) }
        return out
    }

    private func notInBase(_ p: String) -> ToolError {
        ToolError.refused("'\(bundle)' removes \"\(ToolError.shown(p))\", which its base does not have")
    }

    /// The listing entry of one file of the index: its item's size and checked digest, or for
    /// bytes the base already has, the base's size for that digest. The base is indexed by
    /// content on the first such file: a full bundle, or a delta that reuses nothing, never needs it.
    private func entry(_ f: BundleIndex.File, base content: inout TreeListing.ContentIndex?) throws -> TreeListing.Entry {
        let size: Int64, digest: SHA256Digest
        switch f.source {
        case .object(let i): (size, digest) = (index.size(of: .object(i)), objectDigests[index.number(of: .object(i))])
        case .patch(let k): (size, digest) = (index.size(of: .patch(k)), objectDigests[index.number(of: .patch(k))])
        case .base(let d):
            let byContent = content ?? TreeListing.ContentIndex(base)
            content = byContent
            guard let s = byContent.first(d)?.size else { throw ToolError.refused("'\(bundle)' reuses content \(d.hex) that its base does not have") }
            (size, digest) = (s, d)
        }
        return TreeListing.Entry(path: f.path, mode: f.mode, size: size, sha256: digest)
    }
}
