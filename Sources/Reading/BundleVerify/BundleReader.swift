import BundleFormat
import Libarchive
import Support
import SystemIO
import Zstd

/// Receives the verified contents of a bundle, object by object, in pack order.
/// Nothing it receives may be trusted until `BundleReader.readObjects` returns without error.
public protocol ObjectSink: AnyObject {
    func begin(object: Int, size: Int64) throws
    func write(_ bytes: UnsafeRawBufferPointer) throws
    func end(object: Int, sha256: SHA256Digest) throws
}

/// Opens a bundle and authenticates it step by step, never reading past what it has checked:
/// MANIFEST and its signature first, then the index, then each pack against its signed digest.
///
/// The archive must hold exactly MANIFEST, MANIFEST.sig, INDEX.zst and the manifest's packs, in
/// that order, as regular files; anything else is refused by name.
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
        let first = try BundleReader.expectEntry(tar, "MANIFEST", path: path)
        guard first.size <= Int64(Manifest.maxBytes) else { throw ToolError.refused("MANIFEST in '\(path)' is implausibly large (\(first.size) bytes)") }
        manifestBytes = try tar.readAll(limit: Manifest.maxBytes, what: "MANIFEST")
        _ = try BundleReader.expectEntry(tar, "MANIFEST.sig", path: path)
        var sigs = [try BundleReader.readSignature(tar, entry: "MANIFEST.sig", path: path)]

        // Co-signatures, then an optional new trust policy and its signatures.
        var trustBytes: [UInt8]?
        var trustSigs: [SignedEntry] = []
        var next = try tar.next()
        while let e = next, e.name != manifestIndexName {
            guard e.kind == .regular else { throw ToolError.refused("'\(path)': \(ToolError.shown(e.name)) is not a regular file") }
            if e.name.hasPrefix("MANIFEST.sig."), trustBytes == nil {
                let sig = try BundleReader.readSignature(tar, entry: e.name, path: path)
                guard e.name == TrustPolicy.signatureEntry("MANIFEST", keyId: sig.file.keyId) else {
                    throw ToolError.refused("'\(path)': \(ToolError.shown(e.name)) holds a signature by key \(sig.file.keyIdText); it must be named after it")
                }
                sigs.append(sig)
            } else if e.name == "TRUST", trustBytes == nil {
                trustBytes = try tar.readAll(limit: TrustPolicy.maxBytes, what: "TRUST")
            } else if e.name.hasPrefix("TRUST.sig."), trustBytes != nil {
                let sig = try BundleReader.readSignature(tar, entry: e.name, path: path)
                guard e.name == TrustPolicy.signatureEntry("TRUST", keyId: sig.file.keyId) else {
                    throw ToolError.refused("'\(path)': \(ToolError.shown(e.name)) holds a signature by key \(sig.file.keyIdText); it must be named after it")
                }
                trustSigs.append(sig)
            } else {
                if BundleReader.leading.contains(e.name) { throw ToolError.refused("'\(path)' holds \(e.name) twice") }
                throw ToolError.refused("'\(path)' is not a bundle: expected \(manifestIndexName), found entry '\(ToolError.shown(e.name))'")
            }
            guard sigs.count + trustSigs.count <= 2 * TrustPolicy.maxKeys else { throw ToolError.refused("'\(path)' holds too many signatures") }
            next = try tar.next()
        }
        guard next != nil else { throw ToolError.refused("'\(path)' is truncated: \(manifestIndexName) is missing") }
        lookahead = next
        signatures = sigs

        var effective = pinned
        var update: TrustUpdate?
        if let trustBytes {
            if let pinned {
                // The current officers consent: the threshold of the pinned policy.
                let byOld = try Trust.require(trustBytes, trustSigs, policy: pinned, what: "TRUST", in: path, role: "the mirror's current trust policy")
                let new = try TrustPolicy(canonical: trustBytes, what: "TRUST in '\(path)'")
                guard new.version > pinned.version else {
                    throw ToolError.refused("TRUST in '\(path)' is policy version \(new.version); the pinned policy is version \(pinned.version): an older or replayed policy is refused")
                }
                // The new officers prove they hold their keys: the threshold of the new policy.
                _ = try Trust.require(trustBytes, trustSigs, policy: new, what: "TRUST", in: path, role: "the new trust policy itself")
                update = TrustUpdate(policy: new, bytes: trustBytes, signatures: trustSigs, approvedBy: byOld)
                effective = new
            } else {
                update = TrustUpdate(policy: try TrustPolicy(canonical: trustBytes, what: "TRUST in '\(path)'"), bytes: trustBytes,
                                     signatures: trustSigs, approvedBy: [])
            }
        }
        trustUpdate = update
        policy = effective
        let bytes = manifestBytes
        signers = try effective.map {
            try Trust.require(bytes, sigs, policy: $0, what: "MANIFEST", in: path, role: $0.version == 0 ? "the keys given" : "the trust policy")
        } ?? []
        // Parsed only after the signatures held: the parser never sees unauthenticated bytes.
        manifest = try Manifest(canonical: manifestBytes)
        // The signed MANIFEST names the policy it carries, so none can be added or swapped.
        let carried = trustBytes.map { SHA256Digest.of($0) }
        guard manifest.trust == carried else {
            throw ToolError.refused(carried == nil
                ? "the MANIFEST of '\(path)' names a trust policy that the bundle does not hold"
                : "'\(path)' holds a TRUST policy that its MANIFEST does not name: it was added after signing")
        }
    }

    private let manifestIndexName = "INDEX.zst"

    private static func readSignature(_ tar: TarReader, entry: String, path: String) throws -> SignedEntry {
        let bytes = try tar.readAll(limit: 64 << 10, what: entry)
        guard let text = String(validating: bytes, as: UTF8.self) else { throw ToolError.refused("\(entry) in '\(path)' is not text") }
        return SignedEntry(entry: entry, text: text, file: try SignatureFile(text: text, what: "\(entry) in '\(path)'"))
    }

    /// The entries every bundle starts with, in order.
    private static let leading = ["MANIFEST", "MANIFEST.sig", "INDEX.zst"]

    private static func expectEntry(_ tar: TarReader, _ name: String, path: String) throws -> TarEntry {
        guard let e = try tar.next() else { throw ToolError.refused("'\(path)' is truncated: \(name) is missing") }
        return try check(e, name, path: path)
    }

    private static func check(_ e: TarEntry, _ name: String, path: String) throws -> TarEntry {
        guard e.name == name else {
            if let i = leading.firstIndex(of: name), leading[..<i].contains(e.name) {
                throw ToolError.refused("'\(path)' holds \(e.name) twice")
            }
            throw ToolError.refused("'\(path)' is not a bundle: expected \(name), found entry '\(ToolError.shown(e.name))'")
        }
        guard e.kind == .regular else { throw ToolError.refused("'\(path)': \(name) is not a regular file") }
        return e
    }

    /// Reads and checks the index. Call once, before `readObjects`.
    public func readIndex() throws -> BundleIndex {
        let ref = manifest.index
        guard let ahead = lookahead else { throw ToolError.environment("the index of '\(path)' was read already") }
        lookahead = nil
        let e = try BundleReader.check(ahead, ref.path, path: path)
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
    /// - Parameter base: for a delta, the bytes of the base file with a given digest, which a
    ///   patch was made against. Patches are decoded one frame at a time, in memory bounded by
    ///   the largest base file a builder will patch.
    public func readObjects(_ index: BundleIndex, into sink: ObjectSink, base: ((SHA256Digest) throws -> [UInt8])? = nil,
                            progress: Progress? = nil) throws -> [SHA256Digest] {
        var digests: [SHA256Digest] = []
        digests.reserveCapacity(index.itemCount)
        var nextObject = 0
        var nextPatch = 0
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 1 << 20, alignment: 64)
        defer { buffer.deallocate() }

        var seen = Set(BundleReader.leading)
        for (packNumber, pack) in manifest.packs.enumerated() {
            guard let e = try tar.next() else {
                throw ToolError.refused("'\(path)' is truncated: pack \(pack.path) is missing")
            }
            guard e.name == pack.path else {
                if seen.contains(e.name) { throw ToolError.refused("'\(path)' holds \(e.name) twice") }
                if manifest.packs.contains(where: { $0.path == e.name }) {
                    throw ToolError.refused("'\(path)': pack \(e.name) is out of order (expected \(pack.path))")
                }
                throw ToolError.refused("'\(path)' holds an entry '\(ToolError.shown(e.name))' that the manifest does not list (expected \(pack.path))")
            }
            seen.insert(e.name)
            guard e.kind == .regular else { throw ToolError.refused("'\(path)': \(e.name) is not a regular file") }
            guard e.size == pack.size else { throw ToolError.refused("\(pack.path) in '\(path)' is \(e.size) bytes; the manifest says \(pack.size)") }

            let consume: (UnsafeRawBufferPointer) throws -> Void
            let finish: () throws -> Void
            let collected: () -> [SHA256Digest]
            var decompressor: ZstdDecompressor?
            if nextPatch < index.patches.count && index.patches[nextPatch].pack == packNumber && base == nil {
                // No base at hand (checking a delta on the low side): the pack's signed digest is
                // still checked; what the patches decode to is checked when a mirror applies them.
                var count = 0
                while nextPatch + count < index.patches.count && index.patches[nextPatch + count].pack == packNumber { count += 1 }
                let first = nextPatch
                consume = { _ in }
                finish = { nextPatch = first + count }
                collected = { [] }
            } else if nextPatch < index.patches.count && index.patches[nextPatch].pack == packNumber, let base {
                let splitter = PatchSplitter(index: index, first: nextPatch, pack: packNumber, sink: sink, base: base, what: pack.path)
                consume = splitter.feed
                finish = { try splitter.close(); nextPatch = splitter.next }
                collected = { splitter.digests }
            } else {
                // Objects of this pack, in order; the splitter hands each its exact byte count.
                let splitter = ObjectSplitter(index: index, first: nextObject, pack: packNumber, sink: sink)
                if pack.stored {
                    // Kept as they are (compressed layers): the bytes are the objects.
                    consume = splitter.feed
                } else {
                    let decoder = try ZstdDecompressor("pack \(pack.path)", limit: pack.uncompressed) { try splitter.feed($0) }
                    consume = decoder.write
                    decompressor = decoder
                }
                finish = {
                    if let decoder = decompressor {
                        try decoder.finish()
                        guard decoder.produced == pack.uncompressed else {
                            throw ToolError.refused("\(pack.path) expands to \(decoder.produced) bytes; the manifest says \(pack.uncompressed)")
                        }
                    }
                    try splitter.close()
                    nextObject = splitter.next
                }
                collected = { splitter.digests }
            }
            var compressedHash = SHA256Stream()
            while true {
                let n = try tar.read(into: buffer)
                if n == 0 { break }
                let chunk = UnsafeRawBufferPointer(rebasing: buffer[..<n])
                compressedHash.update(chunk)
                try consume(chunk)
                progress?.advance(Int64(n))
            }
            guard compressedHash.count == pack.size else { throw ToolError.refused("'\(path)' is truncated inside \(pack.path)") }
            guard compressedHash.finalize() == pack.sha256 else {
                throw ToolError.refused("\(pack.path) in '\(path)' does not match its signed digest: the bundle was altered or damaged")
            }
            try finish()
            digests += collected()
        }
        guard nextObject == index.objects.count, nextPatch == index.patches.count else {
            throw ToolError.refused("the index of '\(path)' names objects that no pack holds")
        }
        if let extra = try tar.next() {
            if seen.contains(extra.name) { throw ToolError.refused("'\(path)' holds \(extra.name) twice") }
            throw ToolError.refused("'\(path)' holds an entry '\(ToolError.shown(extra.name))' that the manifest does not list")
        }
        // Every signed part is here, but a writer always ends the archive with its marker: a
        // bundle without one was cut short, and is refused like any other truncation.
        guard tar.endedWithMarker else { throw ToolError.refused("'\(path)' is truncated: its end-of-archive marker is missing") }
        return digests
    }

    /// Rebuilds the complete tree listing, from the index and the items' digests (and for a
    /// delta, the base's listing), and checks it against the signed tree digest: this is what
    /// proves every file's path, mode, size and SHA-256.
    public func checkTree(_ index: BundleIndex, objectDigests: [SHA256Digest], base: TreeListing? = nil) throws -> TreeListing {
        guard objectDigests.count == index.itemCount else {
            throw ToolError.refused("'\(path)' has \(index.itemCount) items but \(objectDigests.count) were checked; its tree cannot be rebuilt")
        }
        var entries: [String: TreeListing.Entry] = [:]
        var baseSizes: [SHA256Digest: Int64] = [:]
        if let baseRef = manifest.base {
            guard let base, base.digest == baseRef.tree else {
                throw ToolError.refused("'\(path)' is a delta of \(baseRef.description); its base tree is not at hand")
            }
            for e in base.entries {
                entries[e.path] = e
                baseSizes[e.sha256] = e.size
            }
            for r in index.removed where entries.removeValue(forKey: r) == nil {
                throw ToolError.refused("'\(path)' removes \"\(r)\", which its base does not have")
            }
        }
        for f in index.files {
            let size: Int64, digest: SHA256Digest
            switch f.source {
            case .object(let i): (size, digest) = (index.objects[i].size, objectDigests[i])
            case .patch(let k): (size, digest) = (index.patches[k].size, objectDigests[index.objects.count + k])
            case .base(let d):
                guard let s = baseSizes[d] else { throw ToolError.refused("'\(path)' reuses content \(d.hex) that its base does not have") }
                (size, digest) = (s, d)
            }
            entries[f.path] = TreeListing.Entry(path: f.path, mode: f.mode, size: size, sha256: digest)
        }
        let listing = TreeListing(entries: entries.values.sorted { LogicalPath.bytewiseLess($0.path, $1.path) })
        try TreeListing.checkShape(listing.entries.map(\.path))
        guard listing.digest == manifest.tree, Int64(listing.entries.count) == manifest.treeFiles, listing.totalSize == manifest.treeSize else {
            throw ToolError.refused("the files of '\(path)' do not add up to the signed tree digest")
        }
        return listing
    }
}

/// Splits a patch pack into its zstd frames and decodes each against its base file.
final class PatchSplitter {
    private let index: BundleIndex
    private let pack: Int
    private let sink: ObjectSink
    private let base: (SHA256Digest) throws -> [UInt8]
    private let what: String
    private(set) var next: Int
    private var remaining: Int64 = 0
    private var decoder: ZstdDecompressor?
    private var hash = SHA256Stream()
    private(set) var digests: [SHA256Digest] = []

    init(index: BundleIndex, first: Int, pack: Int, sink: ObjectSink, base: @escaping (SHA256Digest) throws -> [UInt8], what: String) {
        self.index = index
        self.pack = pack
        self.sink = sink
        self.base = base
        self.what = what
        self.next = first
    }

    private var item: Int { index.objects.count + next }

    func feed(_ bytes: UnsafeRawBufferPointer) throws {
        var rest = bytes
        while !rest.isEmpty {
            if decoder == nil {
                guard next < index.patches.count, index.patches[next].pack == pack else {
                    throw ToolError.refused("\(what) holds more bytes than its patches")
                }
                let p = index.patches[next]
                let reference = try base(p.base)
                try sink.begin(object: item, size: p.size)
                hash = SHA256Stream()
                remaining = p.stored
                decoder = try ZstdDecompressor("patch \(next) in \(what)", limit: p.size, prefix: reference) { [unowned self] out in
                    self.hash.update(out)
                    try self.sink.write(out)
                }
            }
            let n = Int(min(Int64(rest.count), remaining))
            try decoder!.write(UnsafeRawBufferPointer(rebasing: rest[..<n]))
            remaining -= Int64(n)
            rest = UnsafeRawBufferPointer(rebasing: rest[n...])
            if remaining == 0 { try endCurrent() }
        }
    }

    private func endCurrent() throws {
        guard let d = decoder else { return }
        try d.finish()
        let p = index.patches[next]
        guard d.produced == p.size else { throw ToolError.refused("patch \(next) in \(what) gives \(d.produced) bytes, the index says \(p.size)") }
        let digest = hash.finalize()
        try sink.end(object: item, sha256: digest)
        digests.append(digest)
        decoder = nil
        next += 1
    }

    func close() throws {
        guard decoder == nil, next == index.patches.count || index.patches[next].pack != pack else {
            throw ToolError.refused("\(what) ends inside a patch")
        }
    }
}

/// Cuts a pack's decompressed stream into its objects and hashes each as it passes.
final class ObjectSplitter {
    private let index: BundleIndex
    private let pack: Int
    private let sink: ObjectSink
    private(set) var next: Int
    private var remaining: Int64 = 0
    private var open = false
    private var hash = SHA256Stream()
    private(set) var digests: [SHA256Digest] = []

    init(index: BundleIndex, first: Int, pack: Int, sink: ObjectSink) {
        self.index = index
        self.pack = pack
        self.sink = sink
        self.next = first
    }

    /// Opens objects until one has bytes left to receive (empty objects end at once).
    private func openNext() throws -> Bool {
        while next < index.objects.count, index.objects[next].pack == pack {
            let size = index.objects[next].size
            try sink.begin(object: next, size: size)
            hash = SHA256Stream()
            if size == 0 {
                try endCurrent()
                continue
            }
            remaining = size
            open = true
            return true
        }
        return false
    }

    private func endCurrent() throws {
        let d = hash.finalize()
        try sink.end(object: next, sha256: d)
        digests.append(d)
        next += 1
        open = false
    }

    func feed(_ bytes: UnsafeRawBufferPointer) throws {
        var rest = bytes
        while !rest.isEmpty {
            if !open {
                guard try openNext() else { throw ToolError.refused("a pack holds more bytes than its objects") }
            }
            let n = Int(min(Int64(rest.count), remaining))
            let part = UnsafeRawBufferPointer(rebasing: rest[..<n])
            hash.update(part)
            try sink.write(part)
            remaining -= Int64(n)
            rest = UnsafeRawBufferPointer(rebasing: rest[n...])
            if remaining == 0 { try endCurrent() }
        }
    }

    func close() throws {
        if !open { _ = try openNext() }
        guard !open else { throw ToolError.refused("a pack ends inside object \(next)") }
    }
}

/// A sink that keeps nothing: for verifying a bundle without unpacking it.
public final class DiscardingSink: ObjectSink {
    public init() {}
    public func begin(object: Int, size: Int64) throws {}
    public func write(_ bytes: UnsafeRawBufferPointer) throws {}
    public func end(object: Int, sha256: SHA256Digest) throws {}
}
