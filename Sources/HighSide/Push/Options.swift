import Support

/// How to push.
public struct PushOptions: Sendable {
    /// "host:port" as given on the command line.
    public var registry: String
    /// Plain HTTP instead of HTTPS.
    public var insecure: Bool
    public var credentials: Credentials?
    /// A host other than the registry's that may be asked for bearer tokens with the credentials.
    public var tokenRealmHost: String?
    /// Blobs up to this size go up in one request; larger ones in chunks of this size.
    public var chunkSize: Int
    /// Blobs uploaded at the same time.
    public var parallel: Int
    /// Attempts per blob or manifest before giving up, with backoff 0.5 s, 1 s, 2 s, ...
    public var attempts: Int

    public init(registry: String, insecure: Bool, credentials: Credentials? = nil, tokenRealmHost: String? = nil, chunkSize: Int = 8 << 20, parallel: Int = 4, attempts: Int = 5) {
        self.registry = registry
        self.insecure = insecure
        self.credentials = credentials
        self.tokenRealmHost = tokenRealmHost
        self.chunkSize = chunkSize
        self.parallel = parallel
        self.attempts = attempts
    }
}
