import Changes

/// How a change reads in a transfer log, the same for `mirrorctl apply` and `bundlectl diff`.
extension Summary {
    /// One line per source, then each path ("+", "~", "-") when there are at most 50.
    public mutating func add(_ changes: ChangeSummary) {
        let bySource = changes.sources.sorted { $0.key < $1.key }
        for (name, c) in bySource {
            add("  \(name)", "\(c.added.count) added, \(c.changed.count) changed, \(c.removed.count) removed")
        }
        // Name each file only when the list stays short enough to paste into a transfer log.
        if changes.totalAdded + changes.totalChanged + changes.totalRemoved <= 50 {
            for c in bySource.map(\.value) {
                for p in c.added { add("  +", p) }
                for p in c.changed { add("  ~", p) }
                for p in c.removed { add("  -", p) }
            }
        }
    }

    /// One line per image that appears, goes, or whose name now stands for another image.
    public mutating func add(_ images: ImageChanges) {
        for i in images.added { add("  image +", "\(i.ref ?? "(no name)")  sha256:\(i.digest.hex)") }
        for m in images.moved { add("  image ~", "\(m.ref)  sha256:\(m.from.hex) -> sha256:\(m.to.hex)") }
        for i in images.removed { add("  image -", "\(i.ref ?? "(no name)")  sha256:\(i.digest.hex)") }
    }
}
