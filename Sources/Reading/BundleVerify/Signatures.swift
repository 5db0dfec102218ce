import BundleFormat
import Support

/// One minisign signature file as stored in a bundle.
public struct SignedEntry: Sendable {
    public var entry: String
    public var text: String
    public var file: SignatureFile

    public init(entry: String, text: String, file: SignatureFile) {
        self.entry = entry
        self.text = text
        self.file = file
    }
}

/// A new trust policy found in a bundle, with the signatures that carried it.
public struct TrustUpdate: Sendable {
    public var policy: TrustPolicy
    public var bytes: [UInt8]
    public var signatures: [SignedEntry]
    /// The keys of the pinned policy that approved it.
    public var approvedBy: [PublicKey]
}
