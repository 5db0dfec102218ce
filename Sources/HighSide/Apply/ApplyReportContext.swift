import BundleFormat
import BundleVerify
import Changes
import Support
import SystemIO

extension ApplyReport {
    /// What the mirror held before the apply, for the report to compare against.
    public struct Before: Sendable {
        /// The images of the version that was current (none on an empty mirror).
        public var images: [ImageSummary] = []
        /// The trust policy in force before the bundle's TRUST, if any, was adopted.
        public var policy: TrustPolicy?
        /// The version that was current.
        public var version: String?
        public init() {}
    }

    /// The images the bundle adds, removes and moves against the version that was current.
    public var imageChanges: ImageChanges { ImageChanges.between(before.images, manifest.images) }

    /// What adopting the carried policy changes (keys added, keys revoked, threshold); nil when
    /// the bundle carries none.
    public var policyChange: PolicyChange? {
        guard let new = trustUpdate, let old = before.policy else { return nil }
        return PolicyChange(from: old, to: new)
    }

    /// Notes the counted signers and what the mirror holds now. The current version's MANIFEST
    /// was verified when it was applied; one that no longer reads leaves its images unknown
    /// (the apply itself decides whether the version matters).
    mutating func note(_ reader: BundleReader, current: String?, policy: TrustPolicy, paths: MirrorPaths) {
        signers = reader.signers.map(\.idText)
        before.policy = policy
        before.version = current
        if let current, let bytes = try? FS.readFile(paths.version(current) + "/MANIFEST", limit: Manifest.maxBytes) {
            before.images = (try? Manifest(canonical: bytes).images) ?? []
        }
    }
}
