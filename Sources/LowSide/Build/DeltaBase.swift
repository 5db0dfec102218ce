import BundleFormat
import BundleVerify
import Support
import SystemIO

/// The version a delta is built against: its listing, and (from a previous bundle) the bytes
/// of files that may be patched.
struct DeltaBase {
    var ref: BaseRef
    var listing: TreeListing
    /// Scratch copies of base files a patch may be made against, by digest.
    var content: [SHA256Digest: String]

    static func receipt(_ path: String) throws -> DeltaBase {
        guard let info = try FS.info(path), info.kind == .regular else { throw ToolError.usage("receipt '\(path)' does not exist") }
        let r = try Receipt(bytes: FS.readFile(path, limit: 1 << 30), what: "receipt '\(path)'")
        return DeltaBase(ref: r.base, listing: r.listing, content: [:])
    }

    /// Reads a previous full bundle, checked against `trust` (the building key and any
    /// `--base-trust` keys: one signature by any of them will do), keeping the bytes of each file
    /// whose path the new tree has with other bytes (`newDigest` gives the new tree's digest at a path).
    static func bundle(_ path: String, trust: [PublicKey], scratch: String,
                       newDigest: @escaping (String) -> SHA256Digest?) throws -> DeltaBase {
        let keys = distinct(trust)
        let reader: BundleReader
        do {
            reader = try BundleReader(path: path, trust: keys)
        } catch let e as ToolError where e.status == .refused {
            throw untrustedSigner(path, keys) ?? ToolError.refused("base bundle: \(e.message)")
        }
        guard reader.manifest.base == nil else {
            throw ToolError.usage("base '\(path)' is itself a delta; give a full bundle, or the mirror's receipt with --base-receipt")
        }
        let index = try reader.readIndex()
        let keeper = BaseKeeper(index: index, scratch: scratch, newDigest: newDigest)
        let digests = try reader.readObjects(index, into: keeper)
        let listing = try reader.checkTree(index, objectDigests: digests)
        let m = reader.manifest
        return DeltaBase(ref: BaseRef(name: m.name, sequence: m.sequence, manifest: reader.manifestDigest, tree: m.tree, mirror: nil),
                         listing: listing, content: keeper.kept)
    }

    /// One key per Ed25519 key: the building key given again with --base-trust counts once.
    private static func distinct(_ keys: [PublicKey]) -> [PublicKey] {
        keys.reduce(into: []) { out, k in if !out.contains(where: { $0.key == k.key }) { out.append(k) } }
    }

    /// When no signature of the base is by a key in `keys` (and none is broken): the refusal that
    /// says who signed it and how to trust that key. The most common case by far: another officer
    /// built last month, or the keys rotated since. nil for any other refusal.
    private static func untrustedSigner(_ path: String, _ keys: [PublicKey]) -> ToolError? {
        // Opened again without trust only to name the signers; nothing of it is used.
        guard let r = try? BundleReader(path: path, trust: nil) else { return nil }
        let c = Trust.count(r.manifestBytes, r.signatures, keys: keys)
        guard c.counted.isEmpty, c.broken == nil else { return nil }
        let signers = r.signatures.map(\.file.keyIdText).reduce(into: [String]()) { if !$0.contains($1) { $0.append($1) } }
        let trusted = keys.map(\.idText).joined(separator: ", ") + (keys.count == 1 ? ", the building key" : ": the building key and --base-trust")
        return ToolError.refused("base bundle '\(path)' is signed by key\(signers.count == 1 ? "" : "s") \(signers.joined(separator: ", ")), "
            + "which the build does not trust (it trusts \(trusted)); give the signer's public key with --base-trust KEY.pub "
            + "(another officer's key, or one from before a rotation), or build against the mirror's receipt with --base-receipt (no patches then)")
    }
}

/// Keeps the base objects a patch may need, in scratch files named by digest. A small object is
/// held in memory until its digest says whether it is needed; a large one goes to disk as it
/// streams, so a base file of any size takes no more memory than `bufferLimit`.
final class BaseKeeper: ObjectSink {
    let index: BundleIndex
    let scratch: String
    let newDigest: (String) -> SHA256Digest?
    /// Most objects are small and unchanged: kept in memory, they cost no scratch file at all.
    static let bufferLimit = PackLayout.largeObject
    private var pathsByObject: [[String]]
    private var buffer: [UInt8] = []
    private var keeping = false
    /// The large object being kept, in a scratch file until its digest is known.
    private var file: FileDescriptor?
    private var partial: String { "\(scratch)/base-partial" }
    private(set) var kept: [SHA256Digest: String] = [:]

    init(index: BundleIndex, scratch: String, newDigest: @escaping (String) -> SHA256Digest?) {
        self.index = index
        self.scratch = scratch
        self.newDigest = newDigest
        pathsByObject = Array(repeating: [], count: index.objects.count)
        for f in index.files { if case .object(let o) = f.source { pathsByObject[o].append(f.path) } }
    }

    func begin(object: Int, size: Int64) throws {
        buffer.removeAll(keepingCapacity: true)
        // Only a path the new tree still has can be patched; which of them changed is known at the end.
        keeping = pathsByObject[object].contains { newDigest($0) != nil }
        if keeping && size > BaseKeeper.bufferLimit { file = try FileDescriptor.create(partial, mode: 0o600) }
    }

    func write(_ bytes: UnsafeRawBufferPointer) throws {
        guard keeping else { return }
        if let file { try file.write(bytes) } else { buffer.append(contentsOf: bytes) }
    }

    func end(object: Int, sha256: SHA256Digest) throws {
        guard keeping else { return }
        let changed = pathsByObject[object].contains { p in newDigest(p).map { $0 != sha256 } ?? false }
        let wanted = changed && kept[sha256] == nil
        let path = "\(scratch)/base-\(sha256.hex)"
        if let fd = file {
            file = nil
            try fd.close()
            if wanted { try FS.rename(partial, path) } else { try FS.remove(partial) }
        } else if wanted {
            let fd = try FileDescriptor.create(path, mode: 0o600)
            try fd.write(buffer)
            try fd.close()
        }
        if wanted { kept[sha256] = path }
    }
}
