import BundleFormat
import Support
import SystemIO

/// What a push to one registry remembers between runs, so that a run after an interruption
/// resumes instead of restarting: upload sessions in progress (where the registry told us to
/// continue, and how many bytes it confirmed) and which repositories hold which blobs (sources
/// for cross-repository mounts).
///
/// The registry stays the authority: a remembered session is asked for its progress before it
/// is continued, and a remembered blob is only a mount source to try. Losing the file costs
/// time, never correctness. It is written atomically, at most once a second while bytes flow
/// and always when a run ends.
final class PushState: @unchecked Sendable {
    static let format = "airgap-push-state/1"

    struct Session: Equatable {
        var location: String
        var offset: Int64
    }

    let path: String
    let registry: String
    private let lock = Mutex()
    /// Blob (hex digest) -> repositories known to hold it.
    private var holders: [String: Set<String>] = [:]
    /// "repository@hex" -> session.
    private var sessions: [String: Session] = [:]
    private var dirty = false
    private var lastSave = 0.0
    private let fileLock: FileLock

    /// Opens (or starts) the state of pushes from `folder` to `registry`, and takes its lock so
    /// two pushes to the same registry do not overwrite each other's sessions.
    init(folder: String, registry: String) throws {
        try FS.makeDirectories(folder)
        let name = registry.map { $0.isLetter || $0.isNumber || $0 == "." || $0 == "-" ? $0 : "_" }
        path = folder + "/" + String(name) + ".json"
        self.registry = registry
        guard let lock = try FileLock.acquire(folder + "/" + String(name) + ".lock") else {
            throw ToolError.environment("another mirrorctl push to \(registry) is running from this mirror (lock \(folder)/\(String(name)).lock); try again when it has finished")
        }
        fileLock = lock
        guard let info = try FS.info(path) else { return }
        do {
            guard info.kind == .regular else { throw ToolError.environment("not a file") }
            let o = try JSONObject(JSON.parse(FS.readFile(path, limit: 256 << 20), what: path), what: path)
            guard try o.string("format") == PushState.format, try o.string("registry") == registry else {
                throw ToolError.environment("it is for another registry or format")
            }
            for (hex, repos) in try o.object("blobs").members {
                guard case .array(let a) = repos else { continue }
                holders[hex] = Set(a.compactMap { if case .string(let s) = $0 { return s } else { return nil } })
            }
            for (key, v) in try o.object("uploads").members {
                let s = try JSONObject(v, what: "\(path) upload \(key)")
                sessions[key] = Session(location: try s.string("location"), offset: try s.int("offset"))
            }
        } catch let e as ToolError {
            // Only a cache: say so and start afresh rather than refuse to push.
            writeStandardError("mirrorctl: warning: ignoring push state \(path): \(e.message)\n")
            holders = [:]
            sessions = [:]
        }
    }

    private static func key(_ repository: String, _ blob: SHA256Digest) -> String { repository + "@" + blob.hex }

    func session(_ repository: String, _ blob: SHA256Digest) -> Session? {
        lock.locked { sessions[PushState.key(repository, blob)] }
    }

    func setSession(_ repository: String, _ blob: SHA256Digest, _ s: Session?) {
        lock.locked {
            sessions[PushState.key(repository, blob)] = s
            dirty = true
        }
        try? save(force: false)
    }

    /// Repositories other than `repository` known to hold the blob.
    func holders(of blob: SHA256Digest, except repository: String) -> [String] {
        lock.locked { (holders[blob.hex] ?? []).filter { $0 != repository }.sorted() }
    }

    /// Records that the registry holds the blob in `repository`; ends any session for it there.
    func holds(_ repository: String, _ blob: SHA256Digest) {
        lock.locked {
            holders[blob.hex, default: []].insert(repository)
            sessions[PushState.key(repository, blob)] = nil
            dirty = true
        }
        try? save(force: false)
    }

    /// The registry does not hold the blob there (a HEAD said 404): stop offering it as a mount source.
    func lacks(_ repository: String, _ blob: SHA256Digest) {
        lock.locked {
            if holders[blob.hex]?.remove(repository) != nil { dirty = true }
        }
    }

    /// Writes the file if something changed, at most once a second unless forced.
    func save(force: Bool) throws {
        try lock.locked {
            guard dirty else { return }
            let now = Clock.now()
            guard force || now - lastSave >= 1 else { return }
            let json = JSON.object([
                "format": .string(PushState.format),
                "registry": .string(registry),
                "blobs": .object(holders.filter { !$0.value.isEmpty }.mapValues { .array($0.sorted().map { .string($0) }) }),
                "uploads": .object(sessions.mapValues { .object(["location": .string($0.location), "offset": .int($0.offset)]) }),
            ])
            try FS.writeAtomically(path, json.canonicalBytes)
            dirty = false
            lastSave = now
        }
    }
}
