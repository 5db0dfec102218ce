import Foundation
import Support
import SystemIO

/// Scheme, host and port: where a request goes, and what credentials are tied to.
public struct Origin: Hashable, Sendable, CustomStringConvertible {
    public var scheme: String
    public var host: String
    public var port: Int

    /// Nil for anything but an http or https URL with a host.
    public init?(_ url: URL?) {
        guard let url, let s = url.scheme?.lowercased(), s == "http" || s == "https",
              let h = url.host?.lowercased(), !h.isEmpty else { return nil }
        scheme = s
        host = Origin.bare(h)
        port = url.port ?? (s == "https" ? 443 : 80)
    }

    public var plain: Bool { scheme == "http" }
    /// "host:port" as --insecure-registry names it (IPv6 in brackets).
    public var hostPort: String { (host.contains(":") ? "[\(host)]" : host) + ":\(port)" }
    public var description: String { "\(scheme)://\(hostPort)" }

    /// A host without the brackets of an IPv6 address, lower case.
    public static func bare(_ host: String) -> String {
        let h = host.lowercased()
        return h.hasPrefix("[") && h.hasSuffix("]") ? String(h.dropFirst().dropLast()) : h
    }
}

/// Where a request may go, the one rule both tools apply to a redirect or an upload Location:
/// http or https only, plain HTTP only where the tool's flag allows it, at most `redirectLimit`
/// redirects in a row, and no Authorization header to another origin (as curl and Go's net/http).
public enum Destination {
    public static let redirectLimit = 10

    /// Checks `url`, which registry `registry` answered with (`what`: "a redirect", "an upload
    /// location"); `plainAllowed` says whether an origin may be spoken to in plain HTTP, and
    /// `advice` what to do otherwise ("push sends nothing over plain HTTP without --insecure").
    public static func check(_ url: URL?, what: String, registry: String, plainAllowed: (Origin) -> Bool, advice: String) throws {
        let shown = ToolError.shown(url?.absoluteString ?? "")
        guard let o = Origin(url) else {
            throw ToolError.environment("registry \(registry) answered with \(what) that is not an http or https URL: \(shown)")
        }
        if o.plain && !plainAllowed(o) {
            throw ToolError.environment("registry \(registry) answered with \(what) on plain HTTP, \(shown); \(advice)")
        }
    }

    /// Whether the `count`th redirect in a row, from `from` to `to`, is followed (else it throws
    /// why); true when the Authorization header may go with it (only to the same origin).
    public static func redirect(from: URL?, to: URL?, count: Int, registry: String, plainAllowed: (Origin) -> Bool,
                                advice: String) throws -> Bool {
        try check(to, what: "a redirect", registry: registry, plainAllowed: plainAllowed, advice: advice)
        guard count <= redirectLimit else {
            throw ToolError.environment("registry \(registry) redirected more than \(redirectLimit) times in a row")
        }
        return Origin(to) == Origin(from)
    }
}

/// Redirects followed so far, per URLSession task, and the rule each new one must pass
/// (`Destination.redirect`). One per session; the tasks' identifiers are its keys.
public final class RedirectTracker: @unchecked Sendable {
    public let registry: String
    private let plainAllowed: @Sendable (Origin) -> Bool
    private let advice: String
    private let lock = Mutex()
    private var counts: [Int: Int] = [:]

    /// `registry` names the registry in messages; `plainAllowed` and `advice` as `Destination.check` takes them.
    public init(registry: String, plainAllowed: @escaping @Sendable (Origin) -> Bool, advice: String) {
        self.registry = registry
        self.plainAllowed = plainAllowed
        self.advice = advice
    }

    /// The next redirect of task `id`, from `from` to `to`: whether the Authorization header goes
    /// with it (`.success`), or why it is not followed.
    public func follow(task id: Int, from: URL?, to: URL?) -> Result<Bool, ToolError> {
        let count = lock.locked { () -> Int in
            counts[id, default: 0] += 1
            return counts[id, default: 0]
        }
        do {
            return .success(try Destination.redirect(from: from, to: to, count: count, registry: registry, plainAllowed: plainAllowed, advice: advice))
        } catch {
            return .failure(error as? ToolError ?? ToolError.environment("\(error)"))
        }
    }

    /// Forgets a finished task.
    public func forget(task id: Int) { _ = lock.locked { counts.removeValue(forKey: id) } }
}
