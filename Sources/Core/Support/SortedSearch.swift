extension RandomAccessCollection where Index == Int {
    /// The first index whose element is not `below` the sought one, in a collection sorted so
    /// that `below` holds for a prefix: the one binary search every sorted list here uses (tree
    /// listings by path, digests, a base's rolling hashes).
    public func lowerBound(where below: (Element) -> Bool) -> Int {
        var lo = startIndex, hi = endIndex
        while lo < hi {
            let mid = lo + (hi - lo) / 2
            if below(self[mid]) { lo = mid + 1 } else { hi = mid }
        }
        return lo
    }
}
