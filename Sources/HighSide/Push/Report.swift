import Support

/// What happened to one image.
public struct ImageReport: Sendable {
    public var ref: String
    public var repository: String
    public var tag: String
    public var digest: String
    public var uploaded = 0
    /// Uploads that continued a session an earlier run (or attempt) had started.
    public var resumed = 0
    public var mounted = 0
    public var skipped = 0
    /// Blob bytes sent in this run.
    public var bytesSent: Int64 = 0
    /// Blob bytes the registry already had from an interrupted session and did not need again.
    public var bytesResumed: Int64 = 0
    public var manifests = 0
    public var seconds = 0.0

    public init(ref: String, repository: String, tag: String, digest: String) {
        self.ref = ref
        self.repository = repository
        self.tag = tag
        self.digest = digest
    }

    /// Adds another image's blob figures to these (for a run's total).
    public mutating func add(_ r: ImageReport) {
        uploaded += r.uploaded
        resumed += r.resumed
        mounted += r.mounted
        skipped += r.skipped
        bytesSent += r.bytesSent
        bytesResumed += r.bytesResumed
    }
}

/// How one image ended, as `Pusher.pushAll` reports it while the run goes on.
public enum ImageOutcome: Sendable {
    case pushed(ImageReport)
    /// The layout or the registry refused the image; its manifest was not pushed.
    case refused(ref: String, reason: String)
}

/// A whole run: images pushed, refused, and the sum of their blob figures.
public struct PushTotals: Sendable {
    public var total = ImageReport(ref: "", repository: "", tag: "", digest: "")
    public var pushed = 0
    /// The images not pushed, by reference, in the order they were met.
    public var refused: [String] = []
}
