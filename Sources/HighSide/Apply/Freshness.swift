import BundleFormat
import Support
import SystemIO

/// Whether the mirror's current data is fresh, judged offline from the signed MANIFEST: its
/// age (from `created`) against the mirror's maximum age, and its own `expires`. A month the
/// low side never sent is noticed this way, without a network.
public struct Freshness: Equatable, Sendable {
    public var created: Int64
    public var expires: Int64?
    public var maxAge: Int64?
    public var now: Int64

    public init(created: Int64, expires: Int64?, maxAge: Int64?, now: Int64) {
        (self.created, self.expires, self.maxAge, self.now) = (created, expires, maxAge, now)
    }

    public var age: Int64 { now > created ? now - created : 0 }
    public var expired: Bool { expires.map { $0 <= now } ?? false }
    public var tooOld: Bool { maxAge.map { age > $0 } ?? false }
    public var stale: Bool { expired || tooOld }

    /// One sentence per reason the data is stale; empty when fresh.
    public var reasons: [String] {
        var out: [String] = []
        if let maxAge, tooOld {
            out.append("it was built \(DurationText.age(age)) ago (\(Timestamp.format(created))), more than the mirror's maximum age of \(DurationText.format(maxAge))")
        }
        if let expires, expired { out.append("it expired at \(Timestamp.format(expires))") }
        return out
    }

    /// The stale error for `version`, or nil when fresh.
    public func error(version: String) -> ToolError? {
        guard stale else { return nil }
        return ToolError(.stale, "the current version \(version) is stale: \(reasons.joined(separator: "; and ")); apply a newer bundle")
    }
}

extension OfflineMirror {
    /// The current version's freshness now, or nil when there is no current version.
    public func freshness(now: Int64 = Timestamp.now()) throws -> Freshness? {
        guard let cur = try paths.currentID() else { return nil }
        let m = try paths.storedManifest(cur)
        return Freshness(created: m.created, expires: m.expires, maxAge: config.maxAge, now: now)
    }

    /// The stale error for the current version, or nil when it is fresh or there is none: one
    /// MANIFEST read, for a command that only warns (`push`).
    public func staleness(now: Int64 = Timestamp.now()) throws -> ToolError? {
        guard let cur = try paths.currentID() else { return nil }
        return try freshness(now: now)?.error(version: cur)
    }
}
