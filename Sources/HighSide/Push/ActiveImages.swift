import Support
import SystemIO

/// The images of a mirror's active version, resolved once: an apply that swaps `current`
/// meanwhile does not change what a push reads, and push never takes the mirror's lock, so
/// apply is never kept waiting.
public struct ActiveImages: Sendable {
    public let mirror: String
    /// The version's tree, `current` resolved.
    public let tree: String
    public let version: String
    public let layout: ImageLayout

    public init(mirror: String) throws {
        guard try FS.readLink(mirror + "/current") != nil else {
            throw ToolError.refused("mirror '\(mirror)' has no active version; apply a bundle with images first")
        }
        self.mirror = mirror
        tree = try FS.resolve(mirror + "/current")
        version = FS.baseName(FS.parent(of: tree))
        layout = ImageLayout(path: tree + "/images")
        guard try FS.info(layout.path + "/index.json") != nil else { throw noImages }
    }

    /// The refusal when there is nothing to push.
    public var noImages: ToolError {
        ToolError.refused("the active version \(version) of '\(mirror)' holds no images; nothing to push")
    }

    /// Where pushes from this mirror keep their upload sessions.
    public var stateFolder: String { mirror + "/push" }

    /// A version pruned by a newer apply mid-push makes blobs vanish: say that, not just "no such file".
    public func explain(_ error: Error) -> Error {
        guard let e = error as? ToolError, (try? FS.info(tree)) == nil else { return error }
        return ToolError.environment("\(e.message) (version \(version) was removed from the mirror while pushing; run push again to push the new active version)")
    }
}

/// A registry as the command line names it: HOST or HOST:PORT, HOST a DNS name, an IPv4
/// address or an IPv6 address in brackets.
public enum RegistryAddress {
    /// A host alone, without a port: what --token-realm-host takes.
    public static func isHost(_ h: String) -> Bool {
        isValid(h) && (h.hasPrefix("[") ? h.hasSuffix("]") : !h.contains(":"))
    }

    public static func isValid(_ r: String) -> Bool {
        guard !r.isEmpty, !r.contains("/"), !r.contains("@"), !r.contains(" ") else { return false }
        var host = Substring(r)
        var port: Substring?
        if r.hasPrefix("[") {
            guard let close = r.firstIndex(of: "]") else { return false }
            let after = r[r.index(after: close)...]
            if !after.isEmpty {
                guard after.hasPrefix(":") else { return false }
                port = after.dropFirst()
            }
            host = r[...close]
        } else if let colon = r.firstIndex(of: ":") {
            host = r[..<colon]
            port = r[r.index(after: colon)...]
        }
        if let port { guard let p = Int(port), (1...65535).contains(p) else { return false } }
        // A DNS name or IPv4 address, or an IPv6 address in brackets: anything else makes no URL.
        let allowed = host.hasPrefix("[") ? "0123456789abcdefABCDEF:.[]" : "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-"
        return !host.isEmpty && host.allSatisfy { allowed.contains($0) }
    }
}

extension RepositoryName {
    /// A --prefix without its leading and trailing slashes.
    public static func trimmedPrefix(_ p: String) -> String {
        var s = Substring(p)
        while s.hasPrefix("/") { s = s.dropFirst() }
        while s.hasSuffix("/") { s = s.dropLast() }
        return String(s)
    }
}

extension Pusher {
    /// Checks the registry, then pushes each plan in turn, telling `each` how every image ended.
    /// An image the layout or the registry refuses is reported and the run goes on; any other
    /// error ends the run (save the state then all the same).
    public func pushAll(_ plans: [ImagePlan], each: (ImageOutcome) -> Void) async throws -> PushTotals {
        var totals = PushTotals()
        try await ping()
        for plan in plans {
            do {
                let r = try await push(plan)
                progress?.finish()
                totals.pushed += 1
                totals.total.add(r)
                each(.pushed(r))
            } catch let e as ToolError where e.status == .refused {
                progress?.finish()
                totals.refused.append(plan.ref)
                each(.refused(ref: plan.ref, reason: e.message))
            }
        }
        return totals
    }
}
