import BundleFormat
import Sodium
import Support
import SystemIO

/// What the mirror remembers between runs. The `current` link is the commit point; this file
/// follows it, and is repaired from it after a crash.
struct MirrorState: Equatable {
    var channel: String?
    var highestSequence: Int64?
    /// Retained versions, oldest first.
    var versions: [String]

    var json: JSON {
        .object([
            "channel": channel.map { .string($0) } ?? .null,
            "highestSequence": highestSequence.map { .int($0) } ?? .null,
            "versions": .array(versions.map { .string($0) }),
        ])
    }

    init(channel: String? = nil, highestSequence: Int64? = nil, versions: [String] = []) {
        self.channel = channel
        self.highestSequence = highestSequence
        self.versions = versions
    }

    init(bytes: [UInt8], path: String) throws {
        let o = try JSONObject(JSON.parse(bytes, what: path), what: path)
        channel = try o.optionalString("channel")
        if case .int(let v)? = o.members["highestSequence"] { highestSequence = v } else { highestSequence = nil }
        versions = try o.array("versions").map { v in
            guard case .string(let s) = v, VersionID.isValid(s) else { throw ToolError.environment("\(path) names a malformed version") }
            return s
        }
    }
}

/// A version's folder name: "<sequence>-<first 12 hex digits of the manifest digest>".
enum VersionID {
    static func make(sequence: Int64, manifest: SHA256Digest) -> String { "\(sequence)-\(manifest.hex.prefix(12))" }

    static func sequence(of id: String) -> Int64? {
        id.split(separator: "-").first.flatMap { Int64($0) }
    }

    /// The version a `current` link's target, "versions/<id>/tree", names; nil for any other target.
    static func fromCurrentLink(_ target: String) -> String? {
        let parts = target.split(separator: "/")
        guard parts.count == 3, parts[0] == "versions", parts[2] == "tree", isValid(String(parts[1])) else { return nil }
        return String(parts[1])
    }

    static func isValid(_ id: String) -> Bool {
        let parts = id.split(separator: "-")
        return parts.count == 2 && Int64(parts[0]) != nil && parts[1].count == 12 && Hex.decode(String(parts[1])) != nil
    }
}

/// Paths inside a mirror folder.
struct MirrorPaths {
    let root: String
    var config: String { root + "/mirror.json" }
    var state: String { root + "/state.json" }
    var journal: String { root + "/journal.jsonl" }
    var current: String { root + "/current" }
    var versions: String { root + "/versions" }
    var staging: String { root + "/staging" }
    var lock: String { root + "/.lock" }
    /// Policies adopted from bundles, with their signatures, kept for audit.
    var policies: String { root + "/policies" }
    func version(_ id: String) -> String { versions + "/" + id }
    func tree(_ id: String) -> String { version(id) + "/tree" }

    /// state.json (a fresh state when there is none yet).
    func loadState() throws -> MirrorState {
        guard try FS.info(state) != nil else { return MirrorState() }
        return try MirrorState(bytes: FS.readFile(state, followingLinks: false), path: state)
    }

    /// The version `current` points at, if any.
    func currentID() throws -> String? {
        guard let target = try FS.readLink(current) else { return nil }
        guard let id = VersionID.fromCurrentLink(target) else {
            throw ToolError.environment("'\(current)' points at '\(target)', which is not a mirror version")
        }
        return id
    }

    /// A version's FILES.json, and the SHA-256 of its bytes (its signed tree digest when intact).
    func storedListing(_ id: String) throws -> (listing: TreeListing, digest: SHA256Digest) {
        try MirrorPaths.readListing(version(id) + "/FILES.json", what: "FILES.json of version \(id)")
    }

    /// Reads a listing row by row as it streams from the file, hashing its bytes on the way: a
    /// listing of a million files is never held as bytes and values at once.
    static func readListing(_ path: String, what: String) throws -> (listing: TreeListing, digest: SHA256Digest) {
        let fd = try FileDescriptor.open(path, options: .noFollow)
        defer { try? fd.close() }
        var rows = CanonicalRows(what: what, limit: 1 << 30) { try fd.read(into: $0) }
        let listing = try TreeListing(&rows, what: what)
        return (listing, rows.sha256)
    }

    /// The signed MANIFEST a version keeps.
    func storedManifest(_ id: String) throws -> Manifest {
        try Manifest(canonical: FS.readFile(version(id) + "/MANIFEST", limit: Manifest.maxBytes, followingLinks: false))
    }
}

/// An exclusive lock on the mirror, held for the life of the object.
/// The corresponding C function is `flock`; the kernel drops it if the process dies.
final class MirrorLock {
    private let lock: FileLock

    init(_ paths: MirrorPaths) throws {
        // Relative to the root and never through a link: `record` truncates the file it opens.
        guard let lock = try FileLock.acquire(".lock", in: Directory(paths.root)) else {
            let holder = (try? FS.readFile(paths.lock, limit: 64, followingLinks: false)).map { String(decoding: $0, as: UTF8.self).trimmingSpaces } ?? ""
            throw ToolError.environment("another mirrorctl is working on '\(paths.root)'\(holder.isEmpty ? "" : " (pid \(holder))"); try again when it has finished")
        }
        self.lock = lock
        lock.record("\(CurrentProcess.id)\n")
    }
}
