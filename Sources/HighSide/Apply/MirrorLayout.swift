import BundleFormat
import Sodium
import Support
import SystemIO

/// The mirror's configuration: who it trusts. Written by `mirrorctl init`; its trust policy
/// changes only through a policy carried by a bundle and signed by the current threshold.
public struct MirrorConfig: Equatable {
    public static let format = "airgap-mirror/1"
    public var id: String
    public var created: Int64
    public var policy: TrustPolicy
    public var threshold: Int { policy.threshold }
    public var keys: [PublicKey] { policy.keys }

    var json: JSON {
        .object([
            "format": .string(MirrorConfig.format),
            "id": .string(id),
            "created": .string(Timestamp.format(created)),
            "trust": .object(["threshold": .int(Int64(policy.threshold)), "keys": .array(policy.keys.map { .string($0.base64) }),
                              "version": .int(policy.version), "created": .string(Timestamp.format(policy.created))]),
        ])
    }

    init(id: String, created: Int64, policy: TrustPolicy) {
        self.id = id
        self.created = created
        self.policy = policy
    }

    init(bytes: [UInt8], path: String) throws {
        let o = try JSONObject(JSON.parse(bytes, what: path), what: path)
        try o.allowOnly(["format", "id", "created", "trust"])
        guard try o.string("format") == MirrorConfig.format else { throw ToolError.environment("\(path) has an unknown format") }
        id = try o.string("id")
        created = Timestamp.parse(try o.string("created")) ?? 0
        let t = try o.object("trust")
        try t.allowOnly(["threshold", "keys", "version", "created"])
        let keys = try t.array("keys").map { v in
            guard case .string(let s) = v else { throw ToolError.environment("\(path): a trusted key is not a string") }
            return try PublicKey(text: s, what: "a key pinned in \(path)")
        }
        // Mirrors made before policies had versions pinned version 1.
        let version = t.members["version"] == nil ? 1 : try t.int("version", min: 1)
        let policyCreated = (try? t.string("created")).flatMap(Timestamp.parse) ?? created
        do {
            policy = try TrustPolicy(version: version, threshold: Int(try t.int("threshold", min: 1, max: Int64(TrustPolicy.maxKeys))), keys: keys,
                                     created: policyCreated)
        } catch let e as ToolError {
            throw ToolError.environment("\(path): \(e.message)")
        }
    }
}

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
        let bytes = try FS.readFile(version(id) + "/FILES.json", limit: 1 << 30, followingLinks: false)
        return (try TreeListing(canonical: bytes, what: "FILES.json of version \(id)"), SHA256Digest.of(bytes))
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
