import OCI
import Support

/// An image reference as a spec's `refs:` names it: `docker.io/library/nginx:1.27`,
/// `registry.example:5000/team/app:2.1@sha256:<hex>`, `ghcr.io/aquasecurity/trivy-db:2`.
///
/// The grammar is the distribution project's (`reference.ParseNormalizedNamed`): a first path
/// component with a dot or a colon, or `localhost`, is a registry; otherwise the image is on
/// Docker Hub, and a single name there is under `library/`. Unlike Docker, a reference without
/// a tag or a digest is refused: a bundle says which image it carries, not "whatever latest is".
public struct ImageReference: Equatable, Sendable, CustomStringConvertible {
    /// The registry as written, lower case: "docker.io", "registry.example:5000".
    public var registry: String
    /// The repository on it: "library/nginx", "team/app".
    public var repository: String
    public var tag: String?
    public var digest: SHA256Digest?

    public static let dockerHub = "docker.io"
    /// Where Docker Hub's distribution API answers.
    public static let dockerHubAPI = "registry-1.docker.io"

    /// The host (and port) requests go to: Docker Hub's API host for docker.io.
    public var apiHost: String { registry == ImageReference.dockerHub ? ImageReference.dockerHubAPI : registry }

    /// The full reference: registry, repository, tag and digest as given.
    public var description: String {
        "\(registry)/\(repository)" + (tag.map { ":" + $0 } ?? "") + (digest.map { "@sha256:" + $0.hex } ?? "")
    }

    /// The name the bundle's layout gives the image: Docker's familiar form with the tag
    /// ("nginx:1.27", "registry.example:5000/team/app:2.1"), as `docker save` would have named
    /// it, so a pulled image and a saved one keep one name. Nil for a digest alone.
    public var layoutName: String? {
        tag.map { Reference.familiar("\(registry)/\(repository):\($0)") }
    }

    /// What the manifest endpoint is asked for: the digest when pinned, else the tag.
    public var manifestReference: String { digest.map { "sha256:" + $0.hex } ?? tag ?? "" }

    public init(registry: String, repository: String, tag: String?, digest: SHA256Digest?) {
        self.registry = registry
        self.repository = repository
        self.tag = tag
        self.digest = digest
    }

    /// Parses a reference, or says in a sentence what is wrong with it.
    public static func parse(_ text: String) throws(ReferenceProblem) -> ImageReference {
        guard !text.isEmpty, text.utf8.count <= 1024 else { throw ReferenceProblem("is empty or longer than 1024 bytes") }
        guard text.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7F }) else { throw ReferenceProblem("may hold only printable ASCII, no spaces") }
        var rest = Substring(text)
        var digest: SHA256Digest?
        if let at = rest.firstIndex(of: "@") {
            let d = rest[rest.index(after: at)...]
            guard d.hasPrefix("sha256:"), let parsed = SHA256Digest(hex: String(d.dropFirst(7))) else {
                throw ReferenceProblem("has a digest that is not sha256: and 64 lower-case hex digits")
            }
            digest = parsed
            rest = rest[..<at]
        }
        var tag: String?
        // The tag is after the last colon of the last component: a registry's port is not one.
        if let colon = rest[(rest.lastIndex(of: "/") ?? rest.startIndex)...].lastIndex(of: ":") {
            tag = String(rest[rest.index(after: colon)...])
            rest = rest[..<colon]
        }
        if let tag, !isTag(tag) { throw ReferenceProblem("has a tag \"\(tag)\" a registry refuses (letters, digits, '_', '.', '-', at most 128, not starting with '.' or '-')") }
        guard tag != nil || digest != nil else { throw ReferenceProblem("names no tag or digest; write the tag (\(text):latest if that is meant) or @sha256:...") }
        var components = rest.split(separator: "/", omittingEmptySubsequences: false).map(String.init)
        var registry = dockerHub
        if components.count > 1, let first = components.first, first.contains(".") || first.contains(":") || first == "localhost" {
            guard isHost(first) else { throw ReferenceProblem("has a registry \"\(first)\" that is not HOST or HOST:PORT") }
            registry = first.lowercased()
            components.removeFirst()
        }
        if registry == "index.docker.io" { registry = dockerHub }
        if registry == dockerHub && components.count == 1 { components.insert("library", at: 0) }
        let repository = components.joined(separator: "/")
        guard RepositoryName.isValid(repository) else {
            throw ReferenceProblem("has a repository \"\(repository)\" a registry refuses (lower-case letters, digits and single separators '.', '_', '__', '-' between them)")
        }
        return ImageReference(registry: registry, repository: repository, tag: tag, digest: digest)
    }

    /// `[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}`.
    static func isTag(_ t: String) -> Bool {
        let u = Array(t.utf8)
        guard let first = u.first, u.count <= 128, isAlnum(first) || first == UInt8(ascii: "_") else { return false }
        return u.allSatisfy { isAlnum($0) || $0 == UInt8(ascii: "_") || $0 == UInt8(ascii: ".") || $0 == UInt8(ascii: "-") }
    }

    /// A host name, an IPv4 address or a bracketed IPv6 address, with an optional port 1-65535.
    public static func isHost(_ h: String) -> Bool {
        var host = Substring(h)
        if host.hasPrefix("[") {
            guard let close = host.firstIndex(of: "]") else { return false }
            let inside = host[host.index(after: host.startIndex)..<close]
            guard !inside.isEmpty, inside.allSatisfy({ $0.isHexDigit || $0 == ":" || $0 == "." }) else { return false }
            host = host[host.index(after: close)...]
            return host.isEmpty || isPort(host)
        }
        if let colon = host.firstIndex(of: ":") {
            guard isPort(host[colon...]) else { return false }
            host = host[..<colon]
        }
        let labels = host.split(separator: ".", omittingEmptySubsequences: false)
        return !host.isEmpty && host.utf8.count <= 253 && labels.allSatisfy { l in
            let u = Array(l.utf8)
            guard let f = u.first, let e = u.last, isAlnum(f), isAlnum(e), u.count <= 63 else { return false }
            return u.allSatisfy { isAlnum($0) || $0 == UInt8(ascii: "-") }
        }
    }

    /// ":5000": a colon and a port number 1-65535.
    private static func isPort(_ s: Substring) -> Bool {
        let digits = s.dropFirst()
        guard s.first == ":", !digits.isEmpty, digits.count <= 5, digits.utf8.allSatisfy({ $0 >= 48 && $0 <= 57 }) else { return false }
        return (1...65535).contains(Int(digits) ?? 0)
    }

    private static func isAlnum(_ c: UInt8) -> Bool { isLowerAlnum(c) || (c >= 65 && c <= 90) }
    private static func isLowerAlnum(_ c: UInt8) -> Bool { (c >= 48 && c <= 57) || (c >= 97 && c <= 122) }
}

/// What is wrong with a reference, as the end of a sentence: "has no tag or digest; ...".
public struct ReferenceProblem: Error, Equatable, Sendable {
    public var reason: String
    public init(_ reason: String) { self.reason = reason }
}
