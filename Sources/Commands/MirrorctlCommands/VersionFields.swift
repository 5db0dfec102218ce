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

extension Fields {
    /// The current version's freshness: {"created", "ageSeconds", "maxAgeSeconds", "expires",
    /// "expired", "stale", "reasons"}; null without a current version.
    static func freshness(_ f: Freshness?) -> JSON {
        guard let f else { return .null }
        return .object(["created": time(f.created), "ageSeconds": .int(f.age), "maxAgeSeconds": f.maxAge.map { .int($0) } ?? .null,
                        "expires": time(f.expires), "expired": .bool(f.expired), "stale": .bool(f.stale),
                        "reasons": .array(f.reasons.map { .string($0) })])
    }

    /// A hook's run: {"hook", "command", "result", "exit", "timedOut", "milliseconds"}.
    static func hook(_ r: HookRun?) -> JSON {
        guard let r else { return .null }
        return .object(["hook": .string(r.hook), "command": .string(r.command), "result": .string(r.result),
                        "exit": r.outcome.exitCode.map { .int(Int64($0)) } ?? .null, "timedOut": .bool(r.outcome.timedOut),
                        "milliseconds": milliseconds(r.outcome.seconds)])
    }
}
