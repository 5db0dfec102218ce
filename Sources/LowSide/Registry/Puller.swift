import Foundation
import OCI
import Support
import SystemIO

/// Pulls images and OCI artifacts by reference into the cache, for a build to carry.
///
/// A tag is resolved once (HEAD, then the manifest by the digest it named); a digest pin is
/// checked against what the tag names now, and the bytes against the pin. Every manifest and
/// blob is hashed as it downloads and checked against its digest and size before it is given a
/// name in the cache; what the cache holds is hashed again before use, so a second build of the
/// same spec pulls nothing but the tags' HEADs. Manifest bytes are kept exactly as served, so the
/// mirror's layout has the registry's digests.
public final class Puller: @unchecked Sendable {
    /// Manifests and indexes are small; a larger one is not what it claims to be.
    public static let documentLimit: Int64 = 4 << 20
    /// A blob larger than this (1 TiB) is refused before anything is asked for.
    static let blobLimit: Int64 = 1 << 40
    /// An index listing more manifests, or a manifest more blobs, is refused.
    static let descriptorLimit = 4096
    static let accept = [MediaType.ociIndex, MediaType.dockerList, MediaType.ociManifest, MediaType.dockerManifest,
                         "application/vnd.oci.artifact.manifest.v1+json"].joined(separator: ", ")
    /// On an index reduced to `platforms:`: the registry's index it was made from, and the platforms kept.
    public static let reducedFromAnnotation = "org.airgap-bundles.reduced-from"
    public static let platformsAnnotation = "org.airgap-bundles.platforms"

    let options: PullOptions
    let cache: BlobCache
    private let lock = Mutex()
    private var clients: [String: Client] = [:]
    private let helperAnswers = CredentialHelperAnswers()
    private var counted: Set<SHA256Digest> = []
    private var temporaries = 0
    private var _counts = PullCounts()

    public init(_ options: PullOptions) throws {
        self.options = options
        cache = try BlobCache(root: options.cache)
    }

    public var counts: PullCounts { lock.locked { _counts } }

    /// Pulls `written` (as the spec has it); with `platforms`, an index keeps those platforms' manifests only.
    public func pull(_ written: String, platforms: [String]?) async throws -> PulledImage {
        let ref: ImageReference
        do { ref = try ImageReference.parse(written) } catch { throw ToolError.usage("image reference \"\(ToolError.shown(written))\" \(error.reason)") }
        let client: Client
        do { client = try self.client(for: ref) } catch let e as ToolError {
            // Credentials (an auth file, a helper) are looked up per image: say which one asked.
            throw ToolError(e.status, "image \(ToolError.shown(written)): " + e.message, cause: e.cause)
        }
        let pull = try ImagePull(puller: self, client: client, ref: ref, written: written)
        return try await pull.run(platforms: platforms)
    }

    /// One client per registry and credentials: the first auth file entry that matches wins
    /// (a credential helper is asked once per registry in a build).
    private func client(for ref: ImageReference) throws -> Client {
        let credentials = try AuthFiles.find(registry: ref.registry, repository: ref.repository, environment: options.environment,
                                             answers: helperAnswers)
        let key = ref.registry + "|" + (credentials?.origin ?? "")
        return try lock.locked {
            if let c = clients[key] { return c }
            let c = try Client(registry: ref.registry, apiHost: ref.apiHost, credentials: credentials, insecure: options.insecure,
                               connections: options.connections, attempts: options.attempts)
            clients[key] = c
            return c
        }
    }

    /// Counts a file once per build, as pulled or as found in the cache.
    func note(_ digest: SHA256Digest, size: Int64, cached: Bool) {
        lock.locked {
            guard counted.insert(digest).inserted else { return }
            if cached { _counts.cached += 1; _counts.cachedBytes += size } else { _counts.pulled += 1; _counts.pulledBytes += size }
        }
    }

    /// A name for a temporary file no other download of this build uses.
    func temporary(_ digest: SHA256Digest) -> String {
        let n = lock.locked { () -> Int in
            temporaries += 1
            return temporaries
        }
        return cache.temporary(digest, tag: n)
    }

    /// A platform as `platforms:` names it: "linux/arm64" matches any variant, "linux/arm/v7" that one.
    public static func matches(_ p: Descriptor.Platform?, _ wanted: [String]) -> Bool {
        guard let p else { return false }
        return wanted.contains { w in
            let parts = w.split(separator: "/").map(String.init)
            guard parts.count >= 2, parts[0] == p.os, parts[1] == p.architecture else { return false }
            return parts.count == 2 || parts[2] == p.variant
        }
    }
}
