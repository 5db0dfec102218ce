import BundleFormat
import Collect
import Support

/// How one file of the new tree reaches the mirror.
enum FileSource: Equatable {
    /// Its bytes are in a pack of this bundle.
    case whole
    /// Rebuilt from the base by patch number k.
    case patch(Int)
    /// The base holds the same bytes under another path: reused by digest.
    case base
    /// The base holds it at the same path, with the same mode: not listed in the index at all.
    case unchanged
}

/// The stored bytes of one patch, as the patch maker made them.
enum PatchBody: Equatable {
    /// One zstd frame made against the whole base file (files under `PackLayout.largeObject`).
    case frame([UInt8])
    /// The frames of a segmented patch, one per segment, concatenated in a scratch file.
    case segmented(file: String, stored: Int64, segments: [PatchSegment])

    var stored: Int64 {
        switch self {
        case .frame(let f): Int64(f.count)
        case .segmented(_, let stored, _): stored
        }
    }

    var segments: [PatchSegment]? {
        if case .segmented(_, _, let s) = self { return s }
        return nil
    }
}

/// What a bundle carries for each file, and for a delta what it patches and removes.
struct DeltaPlan {
    /// `sources[i]` says how `files[i]` reaches the mirror.
    var sources: [FileSource]
    var patches: [BundleIndex.Patch] = []
    /// `patchBodies[k]` holds the stored bytes of patch k.
    var patchBodies: [PatchBody] = []
    /// Paths of the base that the new tree no longer has.
    var removed: [String] = []
    /// The version the delta is built against; nil for a full bundle.
    var base: BaseRef?

    /// A full bundle: every file carried whole.
    static func full(files: Int) -> DeltaPlan { DeltaPlan(sources: Array(repeating: .whole, count: files)) }

    var reused: Int { sources.filter { $0 == .base }.count }
    var unchanged: Int { sources.filter { $0 == .unchanged }.count }
}

/// Phase 2 of a build: for a delta, what the base already has, what can be patched, what goes whole.
enum DeltaPlanner {
    /// Makes a patch of a new file against a base file (its scratch path), or nil to carry it whole.
    typealias PatchMaker = (_ file: CollectedFile, _ digest: SHA256Digest, _ baseFile: String) throws -> PatchBody?

    /// Reads the base named by `choice` and checks that the new bundle can follow it.
    static func loadBase(_ choice: BaseChoice, for inputs: HashedInputs, name: String, sequence: Int64,
                         trust: [PublicKey], scratch: String) throws -> DeltaBase {
        let base: DeltaBase
        switch choice {
        case .receipt(let path): base = try DeltaBase.receipt(path)
        case .bundle(let path):
            base = try DeltaBase.bundle(path, trust: trust, scratch: scratch) { inputs.digest(at: $0) }
        }
        guard base.ref.name == name else {
            throw ToolError.usage("the base is bundle '\(base.ref.name)'; this spec builds '\(name)'")
        }
        guard sequence > base.ref.sequence else {
            throw ToolError.usage("sequence \(sequence) must be higher than the base's (\(base.ref.sequence))")
        }
        return base
    }

    /// Decides, file by file in order, how each reaches the mirror. A file the base has at the
    /// same path and mode is unchanged; bytes the base has anywhere are reused; a file whose
    /// path the base had may be patched (once per distinct content); the rest goes whole.
    ///
    /// Both lists are sorted by path, so they are walked side by side: the base file at a path,
    /// and the base paths the new tree lacks, come without a map of either tree by path.
    static func plan(_ inputs: HashedInputs, against base: DeltaBase, patch: PatchMaker) throws -> DeltaPlan {
        var plan = DeltaPlan.full(files: inputs.files.count)
        plan.base = base.ref
        let baseEntries = base.listing.entries
        let baseDigests = SortedDigests(baseEntries.lazy.map(\.sha256))
        var patched: [SHA256Digest: Int] = [:]
        precondition(LogicalPath.strictlySorted(inputs.files.lazy.map(\.logicalPath)), "a build's files are sorted by path, each once")
        var j = 0
        for (i, f) in inputs.files.enumerated() {
            while j < baseEntries.count, LogicalPath.bytewiseLess(baseEntries[j].path, f.logicalPath) {
                plan.removed.append(baseEntries[j].path)
                j += 1
            }
            var b: TreeListing.Entry?
            if j < baseEntries.count && baseEntries[j].path == f.logicalPath {
                b = baseEntries[j]
                j += 1
            }
            let d = inputs.digests[i]
            if let b, b.sha256 == d, b.mode == f.mode {
                plan.sources[i] = .unchanged
            } else if baseDigests.contains(d) {
                plan.sources[i] = .base
            } else if let k = patched[d] {
                plan.sources[i] = .patch(k)
            } else if let b, let baseFile = base.content[b.sha256], !f.compressed, let body = try patch(f, d, baseFile) {
                patched[d] = plan.patches.count
                plan.sources[i] = .patch(plan.patches.count)
                plan.patches.append(BundleIndex.Patch(pack: 0, stored: body.stored, size: f.size, base: b.sha256, segments: body.segments))
                plan.patchBodies.append(body)
            }
        }
        plan.removed += baseEntries[j...].lazy.map(\.path)
        return plan
    }
}
