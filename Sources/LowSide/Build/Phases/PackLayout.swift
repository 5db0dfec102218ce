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
        var firstFile: [SHA256Digest: Int] = [:]
        for (i, d) in inputs.digests.enumerated() where firstFile[d] == nil && whole(i) { firstFile[d] = i }
        return inputs.digests.enumerated().compactMap { i, d in
            firstFile[d] == i ? Object(digest: d, size: inputs.files[i].size, file: i, stored: inputs.files[i].compressed) : nil
        }
    }

    /// Lays out `objects` (distinct, in file order) into packs.
    init(_ distinct: [Object]) {
        let small = distinct.filter { $0.size < PackLayout.largeObject }
        var objects = small.filter { !$0.stored } + small.filter(\.stored) + distinct.filter { $0.size >= PackLayout.largeObject }
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
    var objectNumbers: [SHA256Digest: Int] {
        var numbers: [SHA256Digest: Int] = [:]
        for (i, o) in objects.enumerated() { numbers[o.digest] = i }
        return numbers
    }
}
