import BundleFormat
import BundleVerify
import Sodium
import Support
import SystemIO
#if canImport(Glibc)
import Glibc
#endif

/// What applying a bundle changes, per source.
public struct ChangeSummary {
    public struct PerSource {
        public var added: [String] = []
        public var changed: [String] = []
        public var removed: [String] = []
    }
    public var sources: [String: PerSource] = [:]
    public var totalAdded: Int { sources.values.reduce(0) { $0 + $1.added.count } }
    public var totalChanged: Int { sources.values.reduce(0) { $0 + $1.changed.count } }
    public var totalRemoved: Int { sources.values.reduce(0) { $0 + $1.removed.count } }

    /// Compares two listings; a source is "kind/name", the first two path components, except
    /// that all images share one layout, "images".
    static func between(_ old: TreeListing?, _ new: TreeListing) -> ChangeSummary {
        func source(_ p: String) -> String { p.hasPrefix("images/") ? "images" : p.split(separator: "/").prefix(2).joined(separator: "/") }
        var summary = ChangeSummary()
        var before: [String: TreeListing.Entry] = [:]
        for e in old?.entries ?? [] { before[e.path] = e }
        for e in new.entries {
            if let o = before.removeValue(forKey: e.path) {
                if o.sha256 != e.sha256 || o.mode != e.mode { summary.sources[source(e.path), default: PerSource()].changed.append(e.path) }
            } else {
                summary.sources[source(e.path), default: PerSource()].added.append(e.path)
            }
        }
        for p in before.keys.sorted(by: LogicalPath.bytewiseLess) { summary.sources[source(p), default: PerSource()].removed.append(p) }
        return summary
    }
}

public struct ApplyReport {
    public var manifest: Manifest
    public var manifestDigest: SHA256Digest
    public var signer: String
    public var version: String
    public var changes: ChangeSummary
    public var linkedFiles: Int
    public var writtenBytes: Int64
    public var seconds: Double
    public var dryRun: Bool
    public var pruned: [String]
    /// A new trust policy the bundle brought (adopted unless this was a dry run).
    public var trustUpdate: TrustPolicy?
    /// Problems after the new version went live (it is current; recording it is left to the next run).
    public var warnings: [String]
}

/// A version as `status` shows it.
public struct VersionInfo {
    public var id: String
    public var name: String
    public var version: String
    public var sequence: Int64
    public var manifestDigest: String
    public var signer: String
    public var appliedAt: String
    public var files: Int64
    public var size: Int64
    public var isCurrent: Bool
}

/// The offline mirror: verified versions side by side, `current` pointing at one of them.
///
/// Every change follows one order: verify everything, stage in the mirror's own file system,
/// flush it, then move `current` with a single rename. A crash at any point leaves `current` on a
/// complete, verified version; leftovers of an interrupted apply are removed by the next run.
public final class Mirror {
    let paths: MirrorPaths
    public let config: MirrorConfig
    static let retained = 3

    public var root: String { paths.root }

    /// Creates a mirror folder that trusts `keys`. Refuses a folder that is already a mirror.
    public static func initialize(at root: String, keys: [PublicKey], threshold: Int) throws -> Mirror {
        let paths = MirrorPaths(root: root)
        guard !keys.isEmpty else { throw ToolError.usage("give at least one --trust key") }
        guard Set(keys.map(\.keyId)).count == keys.count else { throw ToolError.usage("the same key is given twice") }
        guard threshold >= 1 && threshold <= keys.count else {
            throw ToolError.usage("--threshold must be between 1 and the number of keys (\(keys.count))")
        }
        if let info = try FS.info(root) {
            guard info.kind == .directory else { throw ToolError.usage("'\(root)' exists and is not a folder") }
            if try FS.info(paths.config) != nil {
                throw ToolError.usage("'\(root)' is already a mirror; its trusted keys change only through a signed bundle")
            }
        } else {
            try FS.makeDirectories(root)
        }
        let now = Timestamp.now()
        let config = MirrorConfig(id: Hex.encode(try Sodium.randomBytes(16)), created: now,
                                  policy: try TrustPolicy(version: 1, threshold: threshold, keys: keys, created: now))
        try FS.makeDirectory(paths.versions)
        try FS.makeDirectory(paths.staging, mode: 0o700)
        try FS.writeAtomically(paths.state, MirrorState().json.canonicalBytes)
        try FS.writeAtomically(paths.config, config.json.canonicalBytes)
        try Journal(path: paths.journal).append("init", [
            "mirror": .string(config.id),
            "trust": .array(keys.map { .string($0.idText) }),
            "threshold": .int(Int64(threshold)),
            "policyVersion": .int(1),
        ])
        return try Mirror(root)
    }

    public init(_ root: String) throws {
        paths = MirrorPaths(root: root)
        guard let info = try FS.info(paths.config), info.kind == .regular else {
            throw ToolError.usage("'\(root)' is not a mirror (no mirror.json); create it with `mirrorctl init`")
        }
        config = try MirrorConfig(bytes: FS.readFile(paths.config), path: paths.config)
    }

    var journal: Journal { Journal(path: paths.journal) }

    // MARK: State

    func loadState() throws -> MirrorState {
        guard try FS.info(paths.state) != nil else { return MirrorState() }
        return try MirrorState(bytes: FS.readFile(paths.state), path: paths.state)
    }

    /// The version `current` points at, if any.
    func currentID() throws -> String? {
        guard let target = try FS.readLink(paths.current) else { return nil }
        // "versions/<id>/tree"
        let parts = target.split(separator: "/")
        guard parts.count == 3, parts[0] == "versions", parts[2] == "tree", VersionID.isValid(String(parts[1])) else {
            throw ToolError.environment("'\(paths.current)' points at '\(target)', which is not a mirror version")
        }
        return String(parts[1])
    }

    /// Brings state.json in line with `current` after a crash and removes half-made versions
    /// and staging leftovers. Call with the lock held.
    func recover() throws -> MirrorState {
        var state = try loadState()
        if let cur = try currentID(), !state.versions.contains(cur) {
            // `current` moved but state.json was not yet written: the swap happened, record it.
            let manifest = try storedManifest(cur)
            state.versions.append(cur)
            state.highestSequence = max(state.highestSequence ?? manifest.sequence, manifest.sequence)
            state.channel = state.channel ?? manifest.name
            try FS.writeAtomically(paths.state, state.json.canonicalBytes)
        }
        let keep = Set(state.versions)
        var removed: [String] = []
        if try FS.info(paths.versions) != nil {
            for name in try FS.list(paths.versions) where !keep.contains(name) {
                try FS.removeTree(paths.version(name))
                removed.append("versions/\(name)")
            }
        }
        removed += ((try? FS.list(paths.staging)) ?? []).map { "staging/\($0)" }
        try? FS.removeTree(paths.staging)
        try FS.makeDirectory(paths.staging, mode: 0o700)
        // Half-written small files (`FS.writeAtomically`) and the link a swap had not renamed yet.
        for name in try FS.list(paths.root) where name == ".current.new" || Mirror.isScratch(name) {
            try FS.remove(paths.root + "/" + name)
            removed.append(name)
        }
        try journalRecovery(current: try currentID(), removed: removed)
        return state
    }

    /// "state.json.tmp-1234": what `FS.writeAtomically` leaves when killed before its rename.
    static func isScratch(_ name: String) -> Bool {
        guard let dash = name.lastIndex(of: "-"), name[..<dash].hasSuffix(".tmp") else { return false }
        let pid = name[name.index(after: dash)...]
        return !pid.isEmpty && pid.allSatisfy { $0 >= "0" && $0 <= "9" }
    }

    /// An apply or rollback killed after moving `current` but before journaling it still leaves
    /// a record of what is current and who signed it; leftovers of an interrupted apply are
    /// named, so the journal shows that it was interrupted.
    private func journalRecovery(current: String?, removed: [String]) throws {
        let journaled = try journal.lastCurrent()
        guard current != journaled || !removed.isEmpty else { return }
        var fields: [String: JSON] = ["removed": .array(removed.map { .string($0) })]
        if let current, current != journaled {
            fields.merge(["versionId": .string(current), "previous": journaled.map { .string($0) } ?? .null,
                          "note": .string("current moved to this version but the change was not journaled before it was interrupted")]) { $1 }
            // What `verify` would read; a damaged version is for it to report, not a reason to stop here.
            if let v = try? info(current, current: true) {
                fields.merge(["name": .string(v.name), "version": .string(v.version), "sequence": .int(v.sequence),
                              "manifest": .string(v.manifestDigest), "signer": .string(v.signer)]) { $1 }
            }
        }
        try journal.append("recover", fields)
    }

    func storedManifest(_ id: String) throws -> Manifest {
        try Manifest(canonical: FS.readFile(paths.version(id) + "/MANIFEST", limit: Manifest.maxBytes))
    }

    func storedListing(_ id: String) throws -> TreeListing {
        try TreeListing(canonical: FS.readFile(paths.version(id) + "/FILES.json", limit: 1 << 30), what: "FILES.json of version \(id)")
    }

    // MARK: Apply

    public func apply(bundle: String, dryRun: Bool, allowExpired: Bool = false, now: Int64 = Timestamp.now()) throws -> ApplyReport {
        try apply(bundle: bundle, dryRun: dryRun, allowExpired: allowExpired, now: now, held: nil)
    }

    /// - Parameter held: the mirror's lock, when the caller already holds it (an apply from
    ///   volumes reassembles the bundle under the lock and keeps it until the swap).
    func apply(bundle: String, dryRun: Bool, allowExpired: Bool, now: Int64, held: MirrorLock?) throws -> ApplyReport {
        let started = Clock.now()
        let lock: MirrorLock? = dryRun ? nil : try held ?? MirrorLock(paths)
        defer { _ = lock }
        let state = dryRun ? try loadState() : try recover()

        var opened: BundleReader?
        do {
            opened = try BundleReader(path: bundle, policy: config.policy)
            try checkPolicy(opened!.manifest, state: state, allowExpired: allowExpired, now: now)
            try checkBase(opened!.manifest)
        } catch let e as ToolError {
            if !dryRun { try? refusal(bundle, e, opened) }
            throw e
        }
        let reader = opened!
        let manifest = reader.manifest
        let id = VersionID.make(sequence: manifest.sequence, manifest: reader.manifestDigest)
        let currentID = try self.currentID()
        let oldListing = try currentID.map { try storedListing($0) }
        let progress = Progress(dryRun ? "verifying" : "applying", total: manifest.packs.reduce(0) { $0 + $1.size })

        let baseProvider = currentID.flatMap { id in oldListing.map { CurrentContent.provider(tree: paths.tree(id), listing: $0) } }
        let baseListing = manifest.base == nil ? nil : oldListing
        if dryRun {
            let index = try reader.readIndex()
            let digests = try reader.readObjects(index, into: DiscardingSink(), base: baseProvider, progress: progress)
            let listing = try reader.checkTree(index, objectDigests: digests, base: baseListing)
            progress.finish()
            return ApplyReport(manifest: manifest, manifestDigest: reader.manifestDigest, signer: reader.signerText, version: id,
                               changes: ChangeSummary.between(oldListing, listing), linkedFiles: 0, writtenBytes: 0,
                               seconds: Clock.now() - started, dryRun: true, pruned: [], trustUpdate: reader.trustUpdate?.policy, warnings: [])
        }

        let stage = paths.staging + "/" + id
        do {
            try FS.makeDirectory(stage, mode: 0o755)
            let index = try reader.readIndex()
            let stager = Stager(tree: stage + "/tree", index: index, reuse: try currentID.map { (paths.tree($0), try storedListing($0)) })
            try FS.makeDirectory(stage + "/tree")
            let digests = try reader.readObjects(index, into: stager, base: stager.baseContent, progress: progress)
            let listing = try reader.checkTree(index, objectDigests: digests, base: baseListing)
            try stager.carryOver(listing)
            progress.finish()

            try FS.writeAtomically(stage + "/MANIFEST", reader.manifestBytes)
            for sig in reader.signatures { try FS.writeAtomically(stage + "/" + sig.entry, Array(sig.text.utf8)) }
            // The policy the signatures were counted against, so `verify` can count them again.
            if let policy = reader.policy { try FS.writeAtomically(stage + "/POLICY.json", policy.canonicalBytes) }
            try FS.writeAtomically(stage + "/FILES.json", listing.canonicalBytes)
            let record = JSON.object(Mirror.identity(reader).merging([
                "created": .string(Timestamp.format(manifest.created)),
                "expires": manifest.expires.map { .string(Timestamp.format($0)) } ?? .null,
                "appliedAt": .string(Timestamp.format(now)),
                "files": .int(manifest.treeFiles),
                "size": .int(manifest.treeSize),
            ]) { $1 })
            try FS.writeAtomically(stage + "/tree/BUNDLE.json", record.canonicalBytes + [10], mode: 0o444)
            // One flush of the whole file system instead of an fsync per file.
            try FS.syncFileSystem(containing: stage)
            try FS.rename(stage, paths.version(id))
            try FS.syncDirectory(paths.versions)
            let reportChanges = ChangeSummary.between(oldListing, listing)
            if let update = reader.trustUpdate { try adopt(update, from: bundle, manifest: reader.manifestDigest) }
            try swapCurrent(to: id)

            var newState = state
            newState.versions.removeAll { $0 == id }
            newState.versions.append(id)
            newState.channel = manifest.name
            newState.highestSequence = max(newState.highestSequence ?? manifest.sequence, manifest.sequence)
            let pruned = prunable(newState, current: id)
            newState.versions.removeAll { pruned.contains($0) }
            // `current` has moved: the new version is live, and a failure from here on (a full
            // disk) must not be reported as a failed apply. It only delays the record, which the
            // next run repairs from `current` (`recover`); old versions stay until then.
            var warnings: [String] = []
            do {
                try FS.writeAtomically(paths.state, newState.json.canonicalBytes)
                try journal.append("apply", Mirror.identity(reader).merging([
                    "bundle": .string(FS.baseName(bundle)),
                    "policyVersion": .int(reader.policy?.version ?? 0),
                    "versionId": .string(id),
                    "previous": currentID.map { .string($0) } ?? .null,
                    // Applied past its expiry only because the admin said so: that choice is on record.
                    "expiredAt": manifest.expires.flatMap { $0 <= now ? .string(Timestamp.format($0)) : nil } ?? .null,
                ]) { $1 })
                for p in pruned { try? FS.removeTree(paths.version(p)) }
            } catch let e as ToolError {
                warnings.append("version \(id) is current, but recording it failed (\(e.message)); the next apply or rollback records it")
            }
            return ApplyReport(manifest: manifest, manifestDigest: reader.manifestDigest, signer: reader.signerText, version: id,
                               changes: reportChanges, linkedFiles: stager.linked, writtenBytes: stager.written,
                               seconds: Clock.now() - started, dryRun: false, pruned: warnings.isEmpty ? pruned : [],
                               trustUpdate: reader.trustUpdate?.policy, warnings: warnings)
        } catch {
            progress.finish()
            // Give the staging space back; `current` was never touched.
            try? FS.removeTree(stage)
            if let e = error as? ToolError { try? refusal(bundle, e, reader) }
            throw error
        }
    }

    /// What names a bundle in BUNDLE.json and the journal: which bundle, which manifest, who signed.
    static func identity(_ reader: BundleReader) -> [String: JSON] {
        let m = reader.manifest
        return [
            "name": .string(m.name),
            "version": .string(m.version),
            "sequence": .int(m.sequence),
            "manifest": .string("sha256:" + reader.manifestDigest.hex),
            "signer": .string(reader.signature.keyIdText),
            "signers": .array(reader.signers.map { .string($0.idText) }),
        ]
    }

    /// Pins a new trust policy, after everything in the bundle has been verified and staged and
    /// just before the swap. Kept with its signatures under policies/ and journaled.
    func adopt(_ update: TrustUpdate, from bundle: String, manifest: SHA256Digest) throws {
        let dir = paths.policies + "/\(update.policy.version)"
        try FS.makeDirectories(dir)
        try FS.writeAtomically(dir + "/TRUST", update.bytes)
        for sig in update.signatures { try FS.writeAtomically(dir + "/" + sig.entry, Array(sig.text.utf8)) }
        let old = config.policy
        try FS.writeAtomically(paths.config, MirrorConfig(id: config.id, created: config.created, policy: update.policy).json.canonicalBytes)
        try journal.append("trust", [
            "bundle": .string(FS.baseName(bundle)),
            "manifest": .string("sha256:" + manifest.hex),
            "from": .object(["version": .int(old.version), "threshold": .int(Int64(old.threshold)), "keys": .array(old.keys.map { .string($0.idText) })]),
            "to": .object(["version": .int(update.policy.version), "threshold": .int(Int64(update.policy.threshold)),
                           "keys": .array(update.policy.keys.map { .string($0.idText) })]),
            "approvedBy": .array(update.approvedBy.map { .string($0.idText) }),
            "revoked": .array(old.keys.filter { !update.policy.keys.contains($0) }.map { .string($0.idText) }),
        ])
    }

    func checkPolicy(_ m: Manifest, state: MirrorState, allowExpired: Bool, now: Int64) throws {
        if let channel = state.channel, channel != m.name {
            throw ToolError.refused("bundle '\(m.name)' is for another channel; this mirror follows '\(channel)'")
        }
        if let highest = state.highestSequence, m.sequence <= highest {
            throw ToolError.refused("bundle '\(m.name)' has sequence \(m.sequence), but this mirror has already applied sequence \(highest): replayed or older bundles are refused (use `mirrorctl rollback` to go back)")
        }
        if let expires = m.expires, expires <= now {
            if !allowExpired {
                throw ToolError.refused("bundle '\(m.name)' sequence \(m.sequence) expired at \(Timestamp.format(expires)); pass --allow-expired to apply it anyway")
            }
        }
    }

    /// A delta applies only on top of the exact version it was made from, on this mirror.
    func checkBase(_ m: Manifest) throws {
        guard let base = m.base else { return }
        if let mirror = base.mirror, mirror != config.id {
            throw ToolError.refused("this delta was built from the receipt of mirror \(mirror); this is mirror \(config.id)")
        }
        guard let cur = try currentID() else {
            throw ToolError.refused("this delta needs base \(base.description), but the mirror has no version yet: apply a full bundle first")
        }
        // The base is a tree, not a particular bundle: a version reached through a delta and one
        // installed by a full bundle of the same month are the same base.
        let current = try storedManifest(cur)
        guard current.name == base.name, current.tree == base.tree else {
            throw ToolError.refused("this delta needs base \(base.description), but the mirror's current version is sequence \(current.sequence) (tree sha256:\(current.tree.hex)): apply the missing bundles or a full bundle")
        }
    }

    /// Journals a refused bundle ("refuse"), or an apply the environment stopped ("fail": no
    /// space, an I/O error), with what is known of the bundle by then.
    func refusal(_ bundle: String, _ e: ToolError, _ reader: BundleReader? = nil) throws {
        var fields: [String: JSON] = ["bundle": .string(FS.baseName(bundle)), "reason": .string(e.message)]
        if let reader {
            fields["name"] = .string(reader.manifest.name)
            fields["sequence"] = .int(reader.manifest.sequence)
            fields["manifest"] = .string("sha256:" + reader.manifestDigest.hex)
            fields["signer"] = .string(reader.signature.keyIdText)
        }
        try journal.append(e.status == .environment ? "fail" : "refuse", fields)
    }

    /// Points `current` at a version with one rename: readers see the old tree or the new one.
    func swapCurrent(to id: String) throws {
        let tmp = paths.root + "/.current.new"
        try FS.remove(tmp)
        try FS.symlink(target: "versions/\(id)/tree", at: tmp)
        try FS.rename(tmp, paths.current)
        try FS.syncDirectory(paths.root)
    }

    /// Versions beyond the newest `retained` (by sequence), never the current one.
    func prunable(_ state: MirrorState, current: String) -> [String] {
        let bySequence = state.versions.sorted { (VersionID.sequence(of: $0) ?? 0) > (VersionID.sequence(of: $1) ?? 0) }
        return bySequence.dropFirst(Mirror.retained).filter { $0 != current }
    }

    // MARK: Rollback

    /// Moves `current` to the newest retained version older than it.
    public func rollback() throws -> (from: VersionInfo, to: VersionInfo) {
        let lock = try MirrorLock(paths)
        defer { _ = lock }
        let state = try recover()
        do {
            return try rollback(state)
        } catch let e as ToolError {
            try? journal.append(e.status == .environment ? "fail" : "refuse", ["command": .string("rollback"), "reason": .string(e.message)])
            throw e
        }
    }

    private func rollback(_ state: MirrorState) throws -> (from: VersionInfo, to: VersionInfo) {
        guard let cur = try currentID() else { throw ToolError.refused("'\(paths.root)' has no current version to roll back from") }
        let curSeq = VersionID.sequence(of: cur) ?? 0
        let older = state.versions.filter { (VersionID.sequence(of: $0) ?? 0) < curSeq }
            .sorted { (VersionID.sequence(of: $0) ?? 0) < (VersionID.sequence(of: $1) ?? 0) }
        guard let target = older.last else {
            throw ToolError.refused("no version older than \(cur) is retained; nothing to roll back to")
        }
        // Only to a version that is still intact.
        let problems = try checkVersion(target)
        guard problems.isEmpty else {
            throw ToolError.refused("version \(target) no longer matches its signed manifest (\(problems[0])); not rolling back to it")
        }
        try swapCurrent(to: target)
        let to = try info(target, current: true)
        // Done once `current` moved; if the record cannot be written (a full disk), the next
        // run's `recover` journals what is current.
        try? journal.append("rollback", ["from": .string(cur), "to": .string(target), "sequence": .int(to.sequence),
                                        "manifest": .string(to.manifestDigest), "signer": .string(to.signer)])
        return (try info(cur, current: cur == target), to)
    }

    // MARK: Status and verify

    public func info(_ id: String, current: Bool) throws -> VersionInfo {
        let manifestBytes = try FS.readFile(paths.version(id) + "/MANIFEST", limit: Manifest.maxBytes)
        let m = try Manifest(canonical: manifestBytes)
        let sig = try SignatureFile(text: String(decoding: FS.readFile(paths.version(id) + "/MANIFEST.sig"), as: UTF8.self), what: "MANIFEST.sig")
        var applied = ""
        if let rec = try? JSONObject(JSON.parse(FS.readFile(paths.tree(id) + "/BUNDLE.json"), what: "BUNDLE.json"), what: "BUNDLE.json") {
            applied = (try? rec.string("appliedAt")) ?? ""
        }
        return VersionInfo(id: id, name: m.name, version: m.version, sequence: m.sequence,
                           manifestDigest: "sha256:" + Manifest.digest(of: manifestBytes).hex,
                           signer: sig.keyIdText, appliedAt: applied, files: m.treeFiles, size: m.treeSize, isCurrent: current)
    }

    public struct Status {
        public var mirrorID: String
        public var channel: String?
        public var highestSequence: Int64?
        public var current: VersionInfo?
        public var versions: [VersionInfo]
        public var trusted: [String]
        public var threshold: Int
        public var policyVersion: Int64
    }

    public func status() throws -> Status {
        let state = try loadState()
        let cur = try currentID()
        var ids = state.versions
        if let cur, !ids.contains(cur) { ids.append(cur) }
        let versions = try ids.map { try info($0, current: $0 == cur) }
            .sorted { $0.sequence > $1.sequence }
        return Status(mirrorID: config.id, channel: state.channel, highestSequence: state.highestSequence,
                      current: versions.first { $0.isCurrent }, versions: versions,
                      trusted: config.keys.map(\.idText), threshold: config.threshold, policyVersion: config.policy.version)
    }

    /// Re-checks the active version: its manifest's signature against the pinned keys, its file
    /// listing against the signed tree digest, and every file's bytes against the listing.
    /// Returns one line per problem; empty means intact.
    public func verify() throws -> (VersionInfo?, [String]) {
        var problems: [String] = []
        do { _ = try journal.verifiedEntries() } catch let e as ToolError { problems.append(e.message) }
        guard let cur = try currentID() else { return (nil, problems) }
        problems += try checkVersion(cur)
        return (try info(cur, current: true), problems)
    }

    func checkVersion(_ id: String) throws -> [String] {
        let dir = paths.version(id)
        let manifestBytes = try FS.readFile(dir + "/MANIFEST", limit: Manifest.maxBytes)
        // Signatures are counted against the policy in force when the version was applied
        // (versions from before policies were recorded: the pinned one).
        let policy = try FS.info(dir + "/POLICY.json") != nil
            ? try TrustPolicy(canonical: FS.readFile(dir + "/POLICY.json", limit: TrustPolicy.maxBytes), what: "POLICY.json of version \(id)")
            : config.policy
        guard policy.version <= config.policy.version else {
            return ["version \(id) records trust policy version \(policy.version), newer than the mirror's (\(config.policy.version))"]
        }
        var signatures: [SignedEntry] = []
        for name in try FS.list(dir) where name == "MANIFEST.sig" || name.hasPrefix("MANIFEST.sig.") {
            let text = String(decoding: try FS.readFile(dir + "/" + name, limit: 64 << 10), as: UTF8.self)
            signatures.append(SignedEntry(entry: name, text: text, file: try SignatureFile(text: text, what: "\(name) of \(id)")))
        }
        let count = Trust.count(manifestBytes, signatures, keys: policy.keys)
        if let broken = count.broken {
            return ["the signature by key \(broken.key.idText) (\(broken.entry)) does not match the stored MANIFEST of version \(id): it was altered"]
        }
        guard count.counted.count >= policy.threshold else {
            return ["the stored MANIFEST of version \(id) has \(count.counted.count) valid signature(s) from trusted keys; its policy needs \(policy.threshold)"]
        }
        let manifest = try Manifest(canonical: manifestBytes)
        let listingBytes = try FS.readFile(dir + "/FILES.json", limit: 1 << 30)
        guard SHA256Digest.of(listingBytes) == manifest.tree else {
            return ["FILES.json of version \(id) does not match the signed tree digest"]
        }
        let listing = try TreeListing(canonical: listingBytes, what: "FILES.json")
        var problems: [String] = []
        let tree = paths.tree(id)
        var expected: Set<String> = ["BUNDLE.json"]
        for e in listing.entries {
            expected.insert(e.path)
            let full = tree + "/" + e.path
            guard let info = try FS.info(full) else { problems.append("missing: \(e.path)"); continue }
            guard info.kind == .regular else { problems.append("not a regular file: \(e.path)"); continue }
            guard info.size == e.size else { problems.append("changed: \(e.path) (size \(info.size), expected \(e.size))"); continue }
            let (digest, _) = try SHA256Stream.file(full)
            if digest != e.sha256 { problems.append("changed: \(e.path) (SHA-256 differs)"); continue }
            if info.mode & 0o111 != e.mode & 0o111 { problems.append("mode changed: \(e.path)") }
        }
        try walkExtras(tree, relative: "", expected: expected, problems: &problems)
        return problems
    }

    private func walkExtras(_ dir: String, relative: String, expected: Set<String>, problems: inout [String]) throws {
        for name in try FS.list(dir) {
            let rel = relative.isEmpty ? name : relative + "/" + name
            guard let info = try FS.info(dir + "/" + name) else { continue }
            if info.kind == .directory {
                try walkExtras(dir + "/" + name, relative: rel, expected: expected, problems: &problems)
            } else if !expected.contains(rel) {
                problems.append("unexpected: \(rel)")
            }
        }
    }

    /// What the low side needs to build a delta against the current version.
    public func receipt() throws -> Receipt {
        guard let cur = try currentID() else { throw ToolError.refused("'\(paths.root)' has no current version yet") }
        let bytes = try FS.readFile(paths.version(cur) + "/MANIFEST", limit: Manifest.maxBytes)
        let m = try Manifest(canonical: bytes)
        let listing = try storedListing(cur)
        guard listing.digest == m.tree else { throw ToolError.refused("FILES.json of version \(cur) does not match its signed tree digest") }
        return Receipt(mirror: config.id, base: BaseRef(name: m.name, sequence: m.sequence, manifest: Manifest.digest(of: bytes), tree: m.tree, mirror: config.id),
                       listing: listing)
    }

    /// The journal's entries as far as its hash chain holds, and what broke it, if anything.
    public func journalEntries() throws -> (entries: [[String: JSON]], problem: String?) { try journal.check() }

    /// The journal's line count and the SHA-256 of its last line, to note in a transfer log.
    public func journalHead() throws -> (count: Int, sha256: String) { try journal.head() }
}
