import BundleFormat
import Support

/// What applying a bundle changes, per source.
public struct ChangeSummary {
    public struct PerSource {
        public var added: [String] = []
        public var changed: [String] = []
        public var removed: [String] = []
    }
    public var sources: [String: PerSource] = [:]
    public var totalAdded: Int { sources.values.reduce(0) { $0 + $1.added.count } }
    public var totalChanged: Int { sources.values.reduce(0) { $0 + $1.changed.count } }
    public var totalRemoved: Int { sources.values.reduce(0) { $0 + $1.removed.count } }

    /// The source a path belongs to: "kind/name", its first two components, except that all
    /// images share one layout, "images".
    static func source(of path: String) -> String {
        path.hasPrefix("images/") ? "images" : path.split(separator: "/").prefix(2).joined(separator: "/")
    }

    /// Compares two listings (`old` nil: the mirror had no version), source by source.
    static func between(_ old: TreeListing?, _ new: TreeListing) -> ChangeSummary {
        var summary = ChangeSummary()
        var before: [String: TreeListing.Entry] = [:]
        for e in old?.entries ?? [] { before[e.path] = e }
        for e in new.entries {
            if let o = before.removeValue(forKey: e.path) {
                if o.sha256 != e.sha256 || o.mode != e.mode { summary.sources[source(of: e.path), default: PerSource()].changed.append(e.path) }
            } else {
                summary.sources[source(of: e.path), default: PerSource()].added.append(e.path)
            }
        }
        for p in before.keys.sorted(by: LogicalPath.bytewiseLess) { summary.sources[source(of: p), default: PerSource()].removed.append(p) }
        return summary
    }
}
