import Foundation
import OCI
import Support
import SystemIO

/// HTTP basic's Authorization header.
public func basicAuthorization(user: String, password: String) -> String {
    "Basic " + Data("\(user):\(password)".utf8).base64EncodedString()
}

/// Why a basic challenge was not answered.
public enum BasicRefusal: Error, Sendable {
    /// There were no credentials, or the server refused ours (a second challenge).
    case noCredentials, rejected
    /// The credentials are an identity token, which is never sent as a password.
    case tokenForBasic
    /// A server outside the registry and its realm asked.
    case elsewhere(URL?)
}

/// Who may be answered with the credentials when URLSession's delegate sees an HTTP basic
/// challenge (on Linux, URLSession keeps a `WWW-Authenticate: Basic` 401 to itself without a
/// delegate): the registry, and token realms once the tool accepted them. Everything else that
/// asks is refused. Also notes which origins asked, so later requests send basic up front.
public final class BasicGate: @unchecked Sendable {
    public let registry: Origin
    private let lock = Mutex()
    private var trusted: Set<Origin>
    private var asked: Set<Origin> = []

    public init(registry: Origin) {
        self.registry = registry
        trusted = [registry]
    }

    /// Whether the registry asked for HTTP basic: later requests send it up front.
    public var registryAskedBasic: Bool { lock.locked { asked.contains(registry) } }

    /// Lets a token realm be answered with the credentials.
    public func trust(_ o: Origin) { _ = lock.locked { trusted.insert(o) } }

    /// The user and password to answer a challenge from `url` with, or why not.
    /// `previousFailures` is the challenge's count of refused answers.
    public func answer(_ url: URL?, user: String?, password: String?, identityToken: Bool = false,
                       previousFailures: Int) -> Result<(user: String, password: String), BasicRefusal> {
        let origin = Origin(url)
        let allowed = lock.locked { () -> Bool in
            if let origin { asked.insert(origin) }
            return origin.map { trusted.contains($0) } ?? false
        }
        if !allowed { return .failure(.elsewhere(url)) }
        if identityToken { return .failure(.tokenForBasic) }
        guard let user, let password else { return .failure(.noCredentials) }
        return previousFailures == 0 ? .success((user, password)) : .failure(.rejected)
    }
}

/// The Docker token protocol's request and answer, as both tools speak it.
public enum TokenRealm {
    /// The realm's URL with the challenge's `service` and every scope once: the challenge's
    /// own first, then `scopes`. Nil when the realm makes no URL.
    public static func url(_ realm: String, challenge: Challenge, scopes: [String]) -> URL? {
        guard var parts = URLComponents(string: realm), parts.scheme != nil else { return nil }
        var query = parts.queryItems ?? []
        if let service = challenge.parameters["service"] { query.append(URLQueryItem(name: "service", value: service)) }
        var wanted = challenge.parameters["scope"].map { $0.split(separator: " ").map(String.init) } ?? []
        wanted += scopes
        var asked = Set<String>()
        for s in wanted where asked.insert(s).inserted { query.append(URLQueryItem(name: "scope", value: s)) }
        parts.queryItems = query
        return parts.url
    }

    /// The token in a token service's answer: `token`, or OAuth2's `access_token`.
    public static func token(in body: Data) -> String? {
        guard body.count <= 1 << 20, let o = (try? JSONSerialization.jsonObject(with: body)) as? [String: Any] else { return nil }
        guard let token = (o["token"] as? String) ?? (o["access_token"] as? String), !token.isEmpty else { return nil }
        return token
    }
}
