import Collect
import Support

/// Phase 3 of a build: which distinct objects go into which pack. Pure: no I/O, so the same
/// inputs give the same packs, in the same order, on every machine.
///
/// Small objects come first, in path order, those to compress then those kept as they are
/// (compressed already), filling solid packs of at most `solidPackLimit`; then each large
/// object gets a pack of its own. A pack never mixes stored and compressed objects.
struct PackLayout: Equatable {
    /// Objects at least this large get a pack of their own, compressed with all cores.
    static let largeObject: Int64 = 8 << 20
    /// A solid pack holds at most this much; its window covers it all, like `zstd --long`.
    static let solidPackLimit: Int64 = 32 << 20

    /// One distinct content to carry whole.
    struct Object: Equatable {
        var digest: SHA256Digest
        var size: Int64
        /// Where to read it from: the first file that has these bytes.
        var file: Int
        /// Compressed already: goes into a stored pack.
        var stored = false
        var pack: Int = 0
    }

    struct Pack: Equatable {
        /// Its objects: a range of `objects`, which are in pack order.
        var members: Range<Int>
        /// The bytes of its objects, before compression.
        var size: Int64
        /// Holds objects kept as they are.
        var stored: Bool
        /// Holds small objects (or several): one compression window, one thread.
        var solid: Bool
    }

    /// Every object, in the order the packs hold them, with its pack number set.
    var objects: [Object]
    var packs: [Pack]

    /// The distinct contents among the files that `whole` selects, each read from the first
    /// file that has it, in file order.
    static func distinct(_ inputs: HashedInputs, whole: (Int) -> Bool) -> [Object] {
        // Sorted by digest, then by file: the first of each run of equal digests is the file
        // its object is read from. Indices sort in a quarter of the memory a map by digest takes.
        let digests = inputs.digests
        var order = digests.indices.filter(whole)
        order.sort { (digests[$0], $0) < (digests[$1], $1) }
        var first = [Bool](repeating: false, count: digests.count)
        for k in order.indices where k == 0 || digests[order[k - 1]] != digests[order[k]] { first[order[k]] = true }
        return digests.indices.compactMap { i in
            first[i] ? Object(digest: digests[i], size: inputs.files[i].size, file: i, stored: inputs.files[i].compressed) : nil
        }
    }

    /// Lays out `objects` (distinct, in file order) into packs.
    init(_ distinct: [Object]) {
        // Three passes instead of filtered copies: a million objects are 64 MB a copy.
        var objects: [Object] = []
        objects.reserveCapacity(distinct.count)
        for o in distinct where o.size < PackLayout.largeObject && !o.stored { objects.append(o) }
        for o in distinct where o.size < PackLayout.largeObject && o.stored { objects.append(o) }
        for o in distinct where o.size >= PackLayout.largeObject { objects.append(o) }
        var packs: [Pack] = []
        for i in objects.indices {
            let large = objects[i].size >= PackLayout.largeObject
            if let last = packs.last, !large, last.solid, last.stored == objects[i].stored,
               last.size + objects[i].size <= PackLayout.solidPackLimit {
                packs[packs.count - 1].members = last.members.lowerBound..<(i + 1)
                packs[packs.count - 1].size += objects[i].size
            } else {
                packs.append(Pack(members: i..<(i + 1), size: objects[i].size, stored: objects[i].stored, solid: !large))
            }
            objects[i].pack = packs.count - 1
        }
        self.objects = objects
        self.packs = packs
    }

    /// The number of each object by digest, as the index refers to it.
    var objectNumbers: ObjectNumbers { ObjectNumbers(objects) }
}

/// Object numbers by digest, as one array sorted by digest: half the memory of a map.
struct ObjectNumbers {
    private let byDigest: [(digest: SHA256Digest, number: Int)]

    init(_ objects: [PackLayout.Object]) {
        byDigest = objects.enumerated().map { ($1.digest, $0) }.sorted { $0.digest < $1.digest }
    }

    var count: Int { byDigest.count }

    subscript(_ d: SHA256Digest) -> Int? {
        let lo = byDigest.lowerBound { $0.digest < d }
        return lo < byDigest.count && byDigest[lo].digest == d ? byDigest[lo].number : nil
    }
}
