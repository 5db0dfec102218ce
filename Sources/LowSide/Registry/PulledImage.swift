import OCI
import Support

/// How a build pulls: where the cache is, which registries speak plain HTTP, how many blobs
/// at a time.
public struct PullOptions: Sendable {
    /// The content-addressed cache folder (`--cache`).
    public var cache: String
    /// HOST:PORT of registries spoken to in plain HTTP (`--insecure-registry`), lower case.
    public var insecure: Set<String>
    /// Blobs downloaded at a time.
    public var connections = 4
    /// Tries of one request whose failure is transient (network, 5xx, 429).
    public var attempts = 4
    /// The environment auth files are found by (REGISTRY_AUTH_FILE, XDG_RUNTIME_DIR, HOME).
    public var environment: [String: String]

    public init(cache: String, insecure: Set<String>, environment: [String: String]) {
        self.cache = cache
        self.insecure = insecure
        self.environment = environment
    }
}

/// One file of a pulled image, in the cache (or generated: a reduced index).
public struct PulledBlob: Sendable {
    public var digest: SHA256Digest
    public var size: Int64
    /// Where its bytes are: the cache's file for the digest.
    public var path: String
    /// Its first bytes are a compressed format: the bundle stores it as it is.
    public var compressed: Bool
}

/// An image or artifact pulled by reference: the top manifest or index as the layout names it,
/// and every file it needs, each hashed against its digest on the way.
public struct PulledImage: Sendable {
    /// The reference as the spec wrote it.
    public var written: String
    public var reference: ImageReference
    /// The manifest or index the layout names: the registry's own, or one reduced to `platforms:`.
    public var top: Descriptor
    /// `top`'s digest.
    public var digest: SHA256Digest
    /// The manifests, indexes, configs and layers, each once, the top included.
    public var blobs: [PulledBlob]
    /// The platforms of the manifests carried (an index's children, or a manifest's config).
    public var platforms: [String]
    /// Set when `platforms:` left out some of an index's manifests: the registry's index, which
    /// the bundle does not carry.
    public var reducedFrom: SHA256Digest?
    /// When the reference was resolved to `top` (the clock's time, not SOURCE_DATE_EPOCH).
    public var resolvedAt: Int64

    /// Bytes of every file the image uses.
    public var size: Int64 { blobs.reduce(0) { $0 + $1.size } }
}

/// What a build pulled: counted for its report, so a second build from the same cache can be
/// seen to pull nothing.
public struct PullCounts: Sendable, Equatable {
    /// Manifests, indexes and blobs downloaded, each once.
    public var pulled = 0
    public var pulledBytes: Int64 = 0
    /// Those found in the cache (and hashed again), each once.
    public var cached = 0
    public var cachedBytes: Int64 = 0
    public init() {}
}
