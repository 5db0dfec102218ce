import Apply
import BundleFormat
import CommandSupport

extension Fields {
    /// A retained version, as `status`, `verify` and `rollback` show it: {"id", "name", "version",
    /// "sequence", "manifest", "signers", "signer" (the first of them, kept for older readers),
    /// "appliedAt", "files", "size", "current"}.
    static func version(_ i: VersionInfo) -> JSON {
        .object(["id": .string(i.id), "name": .string(i.name), "version": .string(i.version), "sequence": .int(i.sequence),
                 "manifest": .string(i.manifestDigest), "signer": .string(i.signer), "signers": keys(i.signers), "appliedAt": .string(i.appliedAt),
                 "files": .int(i.files), "size": .int(i.size), "current": .bool(i.isCurrent)])
    }
}
