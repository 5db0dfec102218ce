import BundleFormat
import Support

/// What one tree changes against another, per source: what `mirrorctl apply` (and its dry run)
/// reports against the current version, and `bundlectl diff` between two bundles before one
/// travels. Pure: listings and indexes in, paths out.
public struct ChangeSummary: Sendable {
    public struct PerSource: Sendable {
        public var added: [String] = []
        public var changed: [String] = []
        public var removed: [String] = []
    }
    public var sources: [String: PerSource] = [:]
    public var totalAdded: Int { sources.values.reduce(0) { $0 + $1.added.count } }
    public var totalChanged: Int { sources.values.reduce(0) { $0 + $1.changed.count } }
    public var totalRemoved: Int { sources.values.reduce(0) { $0 + $1.removed.count } }

    public init() {}

    /// The source a path belongs to: "kind/name", its first two components, except that all
    /// images share one layout, "images".
    public static func source(of path: String) -> String {
        path.hasPrefix("images/") ? "images" : path.split(separator: "/").prefix(2).joined(separator: "/")
    }

    /// Compares two listings (`old` nil: the mirror had no version), source by source.
    public static func between(_ old: TreeListing?, _ new: TreeListing) -> ChangeSummary {
        var summary = ChangeSummary()
        TreeListing.pairs(old?.entries ?? [], new.entries) { o, e in
            switch (o, e) {
            case let (o?, e?) where o.sha256 != e.sha256 || o.mode != e.mode:
                summary.sources[source(of: e.path), default: PerSource()].changed.append(e.path)
            case let (nil, e?): summary.sources[source(of: e.path), default: PerSource()].added.append(e.path)
            case let (o?, nil): summary.sources[source(of: o.path), default: PerSource()].removed.append(o.path)
            default: break
            }
        }
        return summary
    }

    /// What a delta's index changes on its base's listing, without decoding its patches: a file
    /// it lists is changed where the base has the path (a patch, new bytes or a new mode) and
    /// added where it does not; its removals are removed. A listed file whose digest and mode
    /// the base already has at that path changes nothing.
    public static func applying(_ index: BundleIndex, to base: TreeListing) -> ChangeSummary {
        var summary = ChangeSummary()
        for f in index.files.sorted(by: { LogicalPath.bytewiseLess($0.path, $1.path) }) {
            guard let o = base.entry(at: f.path) else {
                summary.sources[source(of: f.path), default: PerSource()].added.append(f.path)
                continue
            }
            if case .base(let d) = f.source, d == o.sha256, f.mode == o.mode { continue }
            summary.sources[source(of: f.path), default: PerSource()].changed.append(f.path)
        }
        for p in index.removed { summary.sources[source(of: p), default: PerSource()].removed.append(p) }
        return summary
    }

    /// {"added": n, "changed": n, "removed": n, "sources": {"kind/name": {"added": [paths], ...}}}
    public var json: JSON {
        .object([
            "added": .int(Int64(totalAdded)), "changed": .int(Int64(totalChanged)), "removed": .int(Int64(totalRemoved)),
            "sources": .object(sources.mapValues { c in
                .object(["added": .array(c.added.map { .string($0) }), "changed": .array(c.changed.map { .string($0) }),
                         "removed": .array(c.removed.map { .string($0) })])
            }),
        ])
    }
}
