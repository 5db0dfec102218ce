import BundleFormat
import Support

/// Whether this mirror accepts a bundle whose signatures already hold: a pure function of the
/// signed manifest, the mirror's state, its current version, its id and the time. Nothing here
/// touches the file system, so every refusal is unit-tested directly.
///
/// Every check runs and every failed one is named, in a fixed order: the decisive, cheap facts
/// first (channel, replay, expiry), then cost, then for a delta the mirror it was made for and
/// the base it needs. One reason reads as a sentence of its own; several as one numbered line,
/// so an old bundle is not told only that it lacks a signature.
struct Admission {
    /// What admission needs of the current version: which one it is and its tree digest.
    struct Current: Equatable {
        var sequence: Int64
        var tree: SHA256Digest
    }

    /// One reason to refuse: as the whole message when it is the only one, and as a clause
    /// ("it ...") among others.
    struct Reason: Equatable {
        var alone: String
        var clause: String
    }

    var state: MirrorState
    var current: Current?
    var mirrorID: String
    var allowExpired: Bool
    var now: Int64
    var limits: ApplyLimits = .defaults

    /// Throws the refusal naming every reason, or returns when `m` may be applied.
    func check(_ m: Manifest) throws {
        if let refusal = Admission.refusal(m, decisive(m) + cost(m) + base(m)) { throw refusal }
    }

    /// The refusal of a bundle whose signatures do not count, `signatures` saying why, with the
    /// decisive facts its MANIFEST states that this mirror would refuse anyway.
    ///
    /// `unverified` was parsed although its signatures did not hold. That is safe because it is
    /// reporting only: the result is always a refusal, so nothing the MANIFEST says is accepted,
    /// and the same parser reads any bundle in `bundlectl inspect` and under the fuzzer. What it
    /// adds is what the admin needs to know first: an old or foreign bundle needs no signature.
    func refusal(unverified m: Manifest, signatures: ToolError) -> ToolError {
        let reasons = decisive(m)
        guard !reasons.isEmpty else { return signatures }
        return Admission.refusal(m, reasons + [Reason(alone: signatures.message, clause: signatures.message)]) ?? signatures
    }

    static func refusal(_ m: Manifest, _ reasons: [Reason]) -> ToolError? {
        guard let first = reasons.first else { return nil }
        guard reasons.count > 1 else { return ToolError.refused(first.alone) }
        let listed = reasons.enumerated().map { "\($0.offset + 1)) \($0.element.clause)" }.joined(separator: "; ")
        return ToolError.refused("bundle '\(m.name)' sequence \(m.sequence) is refused for \(reasons.count) reasons: \(listed)")
    }

    /// What an admin who meant to return to `sequence` can do instead of applying it again.
    func wayBack(to sequence: Int64) -> String {
        guard state.versions.contains(where: { VersionID.sequence(of: $0) == sequence }) else {
            return "`mirrorctl rollback` or `mirrorctl switch` goes back to a retained version"
        }
        return "version \(sequence) is retained here: `mirrorctl switch \(sequence)` makes it current again, and `mirrorctl repair` rebuilds it if damaged"
    }

    /// Channel, replay, expiry: facts of the MANIFEST alone, each enough to refuse.
    func decisive(_ m: Manifest) -> [Reason] {
        var reasons: [Reason] = []
        if let channel = state.channel, channel != m.name {
            reasons.append(Reason(alone: "bundle '\(m.name)' is for another channel; this mirror follows '\(channel)'",
                                  clause: "it is for channel '\(m.name)', and this mirror follows '\(channel)'"))
        }
        if let highest = state.highestSequence, m.sequence <= highest {
            let way = wayBack(to: m.sequence)
            reasons.append(Reason(
                alone: "bundle '\(m.name)' has sequence \(m.sequence), but this mirror has already applied sequence \(highest): replayed or older bundles are refused (\(way))",
                clause: "its sequence \(m.sequence) is not above \(highest), the highest this mirror has applied (replayed or older bundles are refused; \(way))"))
        }
        if let expires = m.expires, expires <= now, !allowExpired {
            reasons.append(Reason(alone: "bundle '\(m.name)' sequence \(m.sequence) expired at \(Timestamp.format(expires)); pass --allow-expired to apply it anyway",
                                  clause: "it expired at \(Timestamp.format(expires)) (--allow-expired applies it anyway)"))
        }
        return reasons
    }

    /// What reading the index will cost, from the signed figures, before it is paid: a signed
    /// bundle listing 400,000 empty files takes 143 KB but about 1 KB of memory per file.
    func cost(_ m: Manifest) -> [Reason] {
        var reasons: [Reason] = []
        if m.treeFiles > limits.maxFiles {
            let what = "lists \(Format.grouped(m.treeFiles)) files, more than this mirror's limit of \(Format.grouped(limits.maxFiles))"
            reasons.append(Reason(alone: "bundle '\(m.name)' sequence \(m.sequence) \(what); raise it with --max-files if this is expected",
                                  clause: "it \(what) (raise it with --max-files if this is expected)"))
        }
        if m.index.uncompressed > limits.maxIndexBytes {
            let what = "has a \(Format.grouped(m.index.uncompressed))-byte index, more than this mirror's limit of \(Format.grouped(limits.maxIndexBytes)) bytes"
            reasons.append(Reason(alone: "bundle '\(m.name)' sequence \(m.sequence) \(what); raise it with --max-index-bytes if this is expected",
                                  clause: "it \(what) (raise it with --max-index-bytes if this is expected)"))
        }
        return reasons
    }

    /// A delta applies only on top of the exact version it was made from, on this mirror.
    func base(_ m: Manifest) -> [Reason] {
        guard let base = m.base else { return [] }
        var reasons: [Reason] = []
        if let mirror = base.mirror, mirror != mirrorID {
            reasons.append(Reason(alone: "this delta was built from the receipt of mirror \(mirror); this is mirror \(mirrorID)",
                                  clause: "it is a delta built from the receipt of mirror \(mirror), and this is mirror \(mirrorID)"))
        }
        guard let current else {
            let what = "needs base \(base.description), but the mirror has no version yet: apply a full bundle first"
            return reasons + [Reason(alone: "this delta \(what)", clause: "it is a delta that \(what)")]
        }
        // The base is a tree, not a particular bundle: a version reached through a delta and one
        // installed by a full bundle of the same month are the same base. Every version of a
        // mirror is of its channel, and an intact version's FILES.json is its signed tree (which
        // `checkTree` proves again when it rebuilds the delta's tree).
        if (state.channel ?? base.name) != base.name || current.tree != base.tree {
            let what = "needs base \(base.description), but the mirror's current version is sequence \(current.sequence) (tree sha256:\(current.tree.hex)): apply the missing bundles or a full bundle"
            reasons.append(Reason(alone: "this delta \(what)", clause: "it is a delta that \(what)"))
        }
        return reasons
    }
}

/// How much a bundle may make the high side read and hold before anything is applied. The
/// defaults are far above real feeds (the PyPA advisory tree is about 2,600 files; the CVE list,
/// one file per CVE, about 300,000) and keep a dry run of a hostile index near 1 GB of memory.
public struct ApplyLimits: Sendable, Equatable {
    /// Files in the tree a bundle makes (its signed count).
    public var maxFiles: Int64
    /// Bytes of the decompressed index (its signed size): what parsing it costs.
    public var maxIndexBytes: Int64

    public init(maxFiles: Int64, maxIndexBytes: Int64) {
        self.maxFiles = maxFiles
        self.maxIndexBytes = maxIndexBytes
    }

    public static let defaults = ApplyLimits(maxFiles: 1_000_000, maxIndexBytes: 256 << 20)
}
