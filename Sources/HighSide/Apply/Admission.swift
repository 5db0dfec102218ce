import BundleFormat
import Support

/// Whether this mirror accepts a bundle whose signatures already hold: a pure function of the
/// signed manifest, the mirror's state, its current version, its id and the time. Nothing here
/// touches the file system, so every refusal is unit-tested directly.
///
/// The checks run in a fixed order and the first refusal is the one reported: channel, replay,
/// expiry, cost, then for a delta the mirror it was made for and the base it needs.
struct Admission {
    /// What admission needs of the current version: which one it is and its tree digest.
    struct Current: Equatable {
        var sequence: Int64
        var tree: SHA256Digest
    }

    var state: MirrorState
    var current: Current?
    var mirrorID: String
    var allowExpired: Bool
    var now: Int64
    var limits: ApplyLimits = .defaults

    /// Throws the first refusal, or returns when `m` may be applied.
    func check(_ m: Manifest) throws {
        try checkPolicy(m)
        try checkCost(m)
        try checkBase(m)
    }

    /// What reading the index will cost, from the signed figures, before it is paid: a signed
    /// bundle listing 400,000 empty files takes 143 KB but about 1 KB of memory per file.
    func checkCost(_ m: Manifest) throws {
        if m.treeFiles > limits.maxFiles {
            throw ToolError.refused("bundle '\(m.name)' sequence \(m.sequence) lists \(Format.grouped(m.treeFiles)) files, more than this mirror's limit of \(Format.grouped(limits.maxFiles)); raise it with --max-files if this is expected")
        }
        if m.index.uncompressed > limits.maxIndexBytes {
            throw ToolError.refused("bundle '\(m.name)' sequence \(m.sequence) has a \(Format.grouped(m.index.uncompressed))-byte index, more than this mirror's limit of \(Format.grouped(limits.maxIndexBytes)) bytes; raise it with --max-index-bytes if this is expected")
        }
    }

    func checkPolicy(_ m: Manifest) throws {
        if let channel = state.channel, channel != m.name {
            throw ToolError.refused("bundle '\(m.name)' is for another channel; this mirror follows '\(channel)'")
        }
        if let highest = state.highestSequence, m.sequence <= highest {
            throw ToolError.refused("bundle '\(m.name)' has sequence \(m.sequence), but this mirror has already applied sequence \(highest): replayed or older bundles are refused (use `mirrorctl rollback` to go back)")
        }
        if let expires = m.expires, expires <= now, !allowExpired {
            throw ToolError.refused("bundle '\(m.name)' sequence \(m.sequence) expired at \(Timestamp.format(expires)); pass --allow-expired to apply it anyway")
        }
    }

    /// A delta applies only on top of the exact version it was made from, on this mirror.
    func checkBase(_ m: Manifest) throws {
        guard let base = m.base else { return }
        if let mirror = base.mirror, mirror != mirrorID {
            throw ToolError.refused("this delta was built from the receipt of mirror \(mirror); this is mirror \(mirrorID)")
        }
        guard let current else {
            throw ToolError.refused("this delta needs base \(base.description), but the mirror has no version yet: apply a full bundle first")
        }
        // The base is a tree, not a particular bundle: a version reached through a delta and one
        // installed by a full bundle of the same month are the same base. Every version of a
        // mirror is of its channel, and an intact version's FILES.json is its signed tree (which
        // `checkTree` proves again when it rebuilds the delta's tree).
        guard (state.channel ?? base.name) == base.name, current.tree == base.tree else {
            throw ToolError.refused("this delta needs base \(base.description), but the mirror's current version is sequence \(current.sequence) (tree sha256:\(current.tree.hex)): apply the missing bundles or a full bundle")
        }
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
