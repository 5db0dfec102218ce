import BundleFormat
import BundleVerify
import Support
import SystemIO

/// A version as `status` shows it.
public struct VersionInfo {
    public var id: String
    public var name: String
    public var version: String
    public var sequence: Int64
    public var manifestDigest: String
    /// The first key whose signature counted; "" when the version is not signed well enough.
    public var signer: String { signers.first ?? "" }
    /// The keys whose signatures counted, against the policy in force when it was applied (a
    /// signature by a key outside it is never named): empty when they do not meet its threshold.
    public var signers: [String]
    public var appliedAt: String
    public var files: Int64
    public var size: Int64
    public var isCurrent: Bool

    /// The signers as people read them.
    public var signerText: String { signers.isEmpty ? "no key that counts (run mirrorctl verify)" : signers.joined(separator: ", ") }
}

extension OfflineMirror {
    /// The mirror as `status` shows it.
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
}

/// Audit: reading the mirror back. What each version is (status), whether the active one
/// still matches what was signed (verify, and rollback before it moves), and the receipt the
/// low side builds a delta against. Changes nothing.
struct Audit {
    let paths: MirrorPaths
    let config: MirrorConfig
    var journal: Journal { Journal(path: paths.journal) }

    func info(_ id: String, current: Bool) throws -> VersionInfo {
        let manifestBytes = try FS.readFile(paths.version(id) + "/MANIFEST", limit: Manifest.maxBytes)
        let m = try Manifest(canonical: manifestBytes)
        var applied = ""
        if let rec = try? JSONObject(JSON.parse(FS.readFile(paths.tree(id) + "/BUNDLE.json", followingLinks: false), what: "BUNDLE.json"), what: "BUNDLE.json") {
            applied = (try? rec.string("appliedAt")) ?? ""
        }
        let signers = (try? judge(id, manifestBytes).signers.map(\.idText)) ?? []
        return VersionInfo(id: id, name: m.name, version: m.version, sequence: m.sequence,
                           manifestDigest: "sha256:" + Manifest.digest(of: manifestBytes).hex,
                           signers: signers, appliedAt: applied, files: m.treeFiles, size: m.treeSize, isCurrent: current)
    }

    func status(state: MirrorState, current cur: String?) throws -> OfflineMirror.Status {
        var ids = state.versions
        if let cur, !ids.contains(cur) { ids.append(cur) }
        let versions = try ids.map { try info($0, current: $0 == cur) }
            .sorted { $0.sequence > $1.sequence }
        return OfflineMirror.Status(mirrorID: config.id, channel: state.channel, highestSequence: state.highestSequence,
                                    current: versions.first { $0.isCurrent }, versions: versions,
                                    trusted: config.keys.map(\.idText), threshold: config.threshold, policyVersion: config.policy.version)
    }

    /// Re-checks the active version: its manifest's signature against the pinned keys, its file
    /// listing against the signed tree digest, and every file's bytes against the listing.
    /// Returns one line per problem; empty means intact.
    func verify(current cur: String?) throws -> (VersionInfo?, [String], journal: String?) {
        var journalProblem: String?
        do { try journal.verify() } catch let e as ToolError { journalProblem = e.message }
        guard let cur else { return (nil, [], journalProblem) }
        return (try info(cur, current: true), try checkVersion(cur), journalProblem)
    }

    /// Problems of version `id` against what was signed; empty means intact.
    func checkVersion(_ id: String) throws -> [String] {
        let manifestBytes = try FS.readFile(paths.version(id) + "/MANIFEST", limit: Manifest.maxBytes)
        do { _ = try judge(id, manifestBytes) } catch let e as ToolError where e.status == .refused { return [e.message] }
        let manifest = try Manifest(canonical: manifestBytes)
        // A listing that does not parse cannot be the signed one, which was checked when applied.
        let read: (listing: TreeListing, digest: SHA256Digest)?
        do { read = try MirrorPaths.readListing(paths.version(id) + "/FILES.json", what: "FILES.json") } catch let e as ToolError where e.status == .refused { read = nil }
        guard let (listing, digest) = read, digest == manifest.tree else {
            return ["FILES.json of version \(id) does not match the signed tree digest"]
        }
        return try checkFiles(paths.tree(id), listing)
    }
    /// Every file of `listing` in `tree` with its size, bytes and mode, and nothing else there.
    private func checkFiles(_ tree: String, _ listing: TreeListing) throws -> [String] {
        var problems: [String] = []
        for e in listing.entries {
            let full = tree + "/" + e.path
            guard let info = try FS.info(full) else { problems.append("missing: \(e.path)"); continue }
            guard info.kind == .regular else { problems.append("not a plain file: \(e.path) (\(Audit.described(info.kind)))"); continue }
            guard info.size == e.size else { problems.append("changed: \(e.path) (size \(info.size), expected \(e.size))"); continue }
            let (digest, _) = try SHA256Stream.file(full, followingLinks: false)
            if digest != e.sha256 { problems.append("changed: \(e.path) (SHA-256 differs)"); continue }
            // The full mode: setuid, setgid, sticky and every permission bit, not only execute.
            if !StoredMode.matches(info.mode, listed: e.mode) { problems.append("mode changed: \(e.path) (mode \(String(info.mode, radix: 8)), listed \(String(e.mode, radix: 8)))") }
        }
        try walkExtras(tree, relative: "", expected: listing, problems: &problems)
        return problems
    }

    private func walkExtras(_ dir: String, relative: String, expected: TreeListing, problems: inout [String]) throws {
        for name in try FS.list(dir) {
            let rel = relative.isEmpty ? name : relative + "/" + name
            guard let info = try FS.info(dir + "/" + name) else { continue }
            if info.kind == .directory {
                if info.isWritableByOthers { problems.append("folder writable by others: \(rel) (mode \(String(info.mode, radix: 8)))") }
                try walkExtras(dir + "/" + name, relative: rel, expected: expected, problems: &problems)
            } else if rel != "BUNDLE.json" && !expected.contains(path: rel) {
                problems.append("unexpected: \(rel)")
            }
        }
    }

    private static func described(_ kind: FileKind) -> String {
        switch kind {
        case .symlink: "a symbolic link"
        case .directory: "a folder"
        case .regular: "a plain file"
        case .other: "a device, fifo or socket"
        }
    }

    /// What the low side needs to build a delta against the current version.
    func receipt(current cur: String?) throws -> Receipt {
        guard let cur else { throw ToolError.refused("'\(paths.root)' has no current version yet") }
        let bytes = try FS.readFile(paths.version(cur) + "/MANIFEST", limit: Manifest.maxBytes)
        let m = try Manifest(canonical: bytes)
        let listing = try paths.storedListing(cur).listing
        guard listing.digest == m.tree else { throw ToolError.refused("FILES.json of version \(cur) does not match its signed tree digest") }
        return Receipt(mirror: config.id, base: BaseRef(name: m.name, sequence: m.sequence, manifest: Manifest.digest(of: bytes), tree: m.tree, mirror: config.id),
                       listing: listing)
    }
}
