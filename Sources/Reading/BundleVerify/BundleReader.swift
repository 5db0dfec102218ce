import BundleFormat
import Libarchive
import Support
import SystemIO
import Zstd

/// Opens a bundle and authenticates it step by step, never reading past what it has checked:
/// MANIFEST and its signature first, then the index, then each pack against its signed digest.
///
/// The archive must hold exactly MANIFEST, MANIFEST.sig, INDEX.zst and the manifest's packs, in
/// that order, as regular files; anything else is refused by name.
///
/// The steps have owners: `SignedHead` reads the signatures and TRUST and names them,
/// `TrustRotation` checks a carried TRUST against the pinned policy, `Trust.require` counts, and
/// `PackStream` checks each pack and decodes it with the `PackDecoder` of its kind.
public final class BundleReader {
    public let path: String
    public let manifest: Manifest
    public let manifestBytes: [UInt8]
    /// Every signature of MANIFEST, in archive order: the builder's (MANIFEST.sig) first.
    public let signatures: [SignedEntry]
    /// The builder's signature (MANIFEST.sig).
    public var signature: SignatureFile { signatures[0].file }
    public var signatureText: String { signatures[0].text }
    /// Distinct trusted keys whose signature held; empty when opened without trust (inspect).
    public let signers: [PublicKey]
    public var signer: PublicKey? { signers.first }
    /// A new trust policy the bundle carries, already checked against the pinned one.
    public let trustUpdate: TrustUpdate?
    /// The bundle carries the very policy it was counted against (a rotation this mirror has
    /// made already): nothing to adopt, and `trustUpdate` is nil.
    public let carriesPinnedPolicy: Bool
    /// The policy the MANIFEST's signatures were counted against.
    public let policy: TrustPolicy?
    private let tar: TarReader
    /// The entry after the signatures and policy: read ahead, handed to `readIndex`.
    private var lookahead: TarEntry?

    public var manifestDigest: SHA256Digest { Manifest.digest(of: manifestBytes) }

    /// The signers as people read them: "3F49..., 77AB... (2 of 3)".
    public var signerText: String {
        let ids = (signers.isEmpty ? [signature.keyIdText] : signers.map(\.idText)).joined(separator: ", ")
        guard let policy else { return ids }
        return "\(ids) (\(signers.count) of \(policy.keys.count), \(policy.threshold) needed)"
    }

    /// Opens a bundle trusting any one of `trust`; nil reads without checking (inspect only).
    public convenience init(path: String, trust: [PublicKey]?, threshold: Int = 1) throws {
        try self.init(path: path, policy: trust.map { try TrustPolicy(version: 0, threshold: threshold, keys: $0, created: 0) })
    }

    /// Opens a bundle and counts its signatures against `policy` (nil: inspect, nothing checked).
    ///
    /// A bundle carrying a new policy (TRUST) has it checked first: signed by the threshold of
    /// `policy` and of its own keys, and newer than `policy`. The MANIFEST's signatures are then
    /// counted against the new policy, so a revoked key's signature no longer counts.
    public init(path: String, policy pinned: TrustPolicy?) throws {
        self.path = path
        guard let info = try FS.info(path) else { throw ToolError.usage("bundle '\(path)' does not exist") }
        guard info.kind == .regular else { throw ToolError.usage("bundle '\(path)' is not a regular file") }
        tar = try TarReader(path: path)
        let head = try SignedHead(reading: tar, path: path)
        (manifestBytes, signatures, lookahead) = (head.manifestBytes, head.signatures, head.next)
        let rotation = try TrustRotation(pinned: pinned, carried: head.trust, path: path)
        (trustUpdate, policy, carriesPinnedPolicy) = (rotation.update, rotation.effective, rotation.carriesPinned)
        signers = try rotation.effective.map {
            try Trust.require(head.manifestBytes, head.signatures, policy: $0, what: "MANIFEST", in: path,
                              role: $0.version == 0 ? "the keys given" : "the trust policy")
        } ?? []
        // Parsed only after the signatures held: the parser never sees unauthenticated bytes.
        manifest = try Manifest(canonical: head.manifestBytes)
        try head.checkTrustNamed(by: manifest, path: path)
    }

    /// Reads and checks the index. Call once, before `readObjects`.
    public func readIndex() throws -> BundleIndex {
        let ref = manifest.index
        guard let ahead = lookahead else { throw ToolError.environment("the index of '\(path)' was read already") }
        lookahead = nil
        let e = try EntryOrder.check(ahead, ref.path, path: path)
        guard e.size == ref.size else { throw ToolError.refused("\(ref.path) in '\(path)' is \(e.size) bytes; the manifest says \(ref.size)") }
        guard ref.size <= 1 << 30, ref.uncompressed <= 4 << 30 else { throw ToolError.refused("the index of '\(path)' is implausibly large") }
        let compressed = try tar.readAll(limit: Int(ref.size), what: ref.path)
        guard Int64(compressed.count) == ref.size else { throw ToolError.refused("'\(path)' is truncated inside \(ref.path)") }
        guard SHA256Digest.of(compressed) == ref.sha256 else {
            throw ToolError.refused("\(ref.path) in '\(path)' does not match its signed digest: the bundle was altered or damaged")
        }
        var plain: [UInt8] = []
        // The declared size is a ceiling, not a promise: reserve no more than a typical index.
        plain.reserveCapacity(Int(min(ref.uncompressed, 16 << 20)))
        let d = try ZstdDecompressor(ref.path, limit: ref.uncompressed) { plain.append(contentsOf: $0) }
        try compressed.withUnsafeBytes { try d.write($0) }
        try d.finish()
        guard Int64(plain.count) == ref.uncompressed else { throw ToolError.refused("\(ref.path) is shorter than its declared size") }
        return try BundleIndex(canonical: plain, manifest: manifest)
    }

    /// Streams every pack, checking each against its signed digest and splitting it into
    /// objects for `sink`. Returns each item's SHA-256 (objects, then patches' results).
    /// Refuses any entry the manifest does not list.
    ///
    /// - Parameter base: for a delta, the base file with a given digest, which a patch was made
    ///   against. Patches are decoded one frame at a time, in memory bounded by the largest base
    ///   file a builder patches in one frame, or by one segment and its extents of the base.
    public func readObjects(_ index: BundleIndex, into sink: ObjectSink, base: BaseProvider? = nil,
                            progress: Progress? = nil) throws -> [SHA256Digest] {
        try PackStream(tar: tar, manifest: manifest, path: path).read(index, into: sink, base: base, progress: progress)
    }

    /// Rebuilds the complete tree listing, from the index and the items' digests (and for a
    /// delta, the base's listing), and checks it against the signed tree digest: this is what
    /// proves every file's path, mode, size and SHA-256.
    public func checkTree(_ index: BundleIndex, objectDigests: [SHA256Digest], base: TreeListing? = nil) throws -> TreeListing {
        guard objectDigests.count == index.itemCount else {
            throw ToolError.refused("'\(path)' has \(index.itemCount) items but \(objectDigests.count) were checked; its tree cannot be rebuilt")
        }
        var baseEntries: [TreeListing.Entry] = []
        if let baseRef = manifest.base {
            guard let base, base.digest == baseRef.tree else {
                throw ToolError.refused("'\(path)' is a delta of \(baseRef.description); its base tree is not at hand")
            }
            baseEntries = base.entries
        }
        let rebuild = TreeRebuild(index: index, objectDigests: objectDigests, base: baseEntries, bundle: path)
        let listing = TreeListing(entries: try rebuild.entries())
        try TreeListing.checkShape(listing.entries.lazy.map(\.path))
        guard listing.digest == manifest.tree, Int64(listing.entries.count) == manifest.treeFiles, listing.totalSize == manifest.treeSize else {
            throw ToolError.refused("the files of '\(path)' do not add up to the signed tree digest")
        }
        return listing
    }
}
