import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import OCI
import RegistryHTTP
import Support
import SystemIO

/// A body longer than its limit: the caller names what it was.
struct Oversize: Error {
    var limit: Int64
}

/// Reads from one registry over the distribution API: anonymously, with HTTP basic, or with
/// bearer tokens from the realm a 401 names (the Docker token protocol), retrying network
/// failures, 5xx and 429 with backoff. Plain HTTP only to a HOST:PORT named with
/// --insecure-registry; HTTPS is verified against the system's certificate store.
final class Client: @unchecked Sendable {
    /// The registry as the reference names it, for messages: "docker.io", "host:5000".
    let name: String
    let base: String
    let attempts: Int
    private let transport: Transport
    private let credentials: RegistryCredentials?
    private let insecure: Set<String>
    private let lock = Mutex()
    private var tokens: [String: String] = [:]

    init(registry: String, apiHost: String, credentials: RegistryCredentials?, insecure: Set<String>, connections: Int, attempts: Int) throws {
        name = registry
        self.attempts = max(1, attempts)
        self.credentials = credentials
        self.insecure = insecure
        let plain = insecure.contains(registry) || insecure.contains(apiHost)
        base = (plain ? "http://" : "https://") + apiHost
        guard let endpoint = Origin(URL(string: base + "/v2/")) else { throw ToolError.usage("registry '\(registry)' makes no URL") }
        transport = Transport(registry: endpoint, credentials: credentials, insecure: insecure, connections: connections)
    }

    deinit { transport.close() }

    /// GET or HEAD of `path` ("/v2/team/app/manifests/2.1") in `repository`, authenticated as
    /// the registry asks, retried while the failure is transient. Every status reaches the caller.
    func request(_ method: String, _ path: String, repository: String, headers: [String: String] = [:], target: BodyTarget,
                 progress: SystemIO.Progress? = nil) async throws -> Answer {
        guard let url = URL(string: base + path) else { throw ToolError.usage("registry \(name): '\(ToolError.shown(path))' makes no URL") }
        var last = Transient(reason: "not tried")
        for attempt in 1...attempts {
            do {
                return try await authenticated(method, url, repository: repository, headers: headers, target: target, progress: progress)
            } catch let t as Transient {
                last = t
                if attempt == attempts { break }
                // 0.5 s, 1 s, 2 s ...; a Retry-After up to a minute is honoured.
                let wait = min(t.retryAfter ?? 0.5 * Double(1 << (attempt - 1)), 60)
                try await Task.sleep(nanoseconds: UInt64(wait * 1e9))
            }
        }
        throw ToolError.environment("cannot read from registry \(name): \(last.reason)" + (attempts > 1 ? " (after \(attempts) attempts)" : ""))
    }

    private func authenticated(_ method: String, _ url: URL, repository: String, headers: [String: String], target: BodyTarget,
                               progress: SystemIO.Progress?) async throws -> Answer {
        let scope = "repository:\(repository):pull"
        var auth = lock.locked { tokens[scope].map { "Bearer " + $0 } }
        // Once the registry asked for basic, send it up front: no 401 before every request.
        if auth == nil, transport.gate.registryAskedBasic { auth = credentials?.basic }
        var r = try await exchange(method, url, headers: headers, authorization: auth, target: target, progress: progress)
        guard r.status == 401, let header = r.header("www-authenticate"), let challenge = Challenge(header), challenge.scheme == "bearer" else {
            if r.status == 401 { throw ToolError.environment("registry \(name) answered HTTP 401 to \(method) \(url.path)\(r.errorText.map { " (\($0))" } ?? "")\(missing)") }
            return r
        }
        let token = try await bearer(challenge, scope: scope)
        r = try await exchange(method, url, headers: headers, authorization: "Bearer " + token, target: target, progress: progress)
        if r.status == 401 {
            throw ToolError.environment("registry \(name) refused the token its realm gave for \(repository)\(r.errorText.map { " (\($0))" } ?? "")\(missing)")
        }
        return r
    }

    /// What to do when there were no credentials to offer.
    private var missing: String {
        credentials == nil ? "; no credentials for it in the auth files (REGISTRY_AUTH_FILE, ${XDG_RUNTIME_DIR}/containers/auth.json, ~/.docker/config.json): log in with `skopeo login \(name)`" : ""
    }

    /// A token for `scope` from the realm the challenge names, with the credentials if there are
    /// any (HTTP basic), anonymously otherwise. The token is kept for later requests.
    private func bearer(_ ch: Challenge, scope: String) async throws -> String {
        guard let realm = ch.parameters["realm"], let endpoint = Origin(URL(string: realm)), let tokenURL = TokenRealm.url(realm, challenge: ch, scopes: [scope]) else {
            throw ToolError.environment("registry \(name) asks for a bearer token but names no http or https realm")
        }
        let shown = ToolError.shown(realm)
        if endpoint.plain && !insecure.contains(endpoint.hostPort) {
            throw ToolError.environment("registry \(name) names a token realm on plain HTTP, \(shown); "
                + "bundlectl speaks plain HTTP only to a HOST:PORT named with --insecure-registry (here \(endpoint.hostPort))")
        }
        transport.gate.trust(endpoint)
        let who = "the token service \(shown) of registry \(name)"
        let r: Answer
        if let refresh = credentials?.identityToken {
            // An identity token is an OAuth2 refresh token, traded by POST as docker's and
            // containers/image's clients trade it (RFC 6749 section 6).
            var post = URLComponents(url: tokenURL, resolvingAgainstBaseURL: false)
            let query = post?.queryItems ?? []
            post?.query = nil
            guard let postURL = post?.url else { throw ToolError.environment("registry \(name) names a token realm that makes no URL: \(shown)") }
            let form = Client.form([("grant_type", "refresh_token"), ("refresh_token", refresh), ("client_id", "bundlectl")]
                + query.filter { $0.name != "account" }.map { ($0.name, $0.value ?? "") })
            r = try await exchange("POST", postURL, headers: ["Content-Type": "application/x-www-form-urlencoded"], body: Data(form.utf8),
                                   authorization: nil, target: .memory(limit: 1 << 20), who: who)
        } else {
            r = try await exchange("GET", tokenURL, headers: [:], authorization: credentials?.basic, target: .memory(limit: 1 << 20), who: who)
        }
        guard r.status == 200 else {
            let what = credentials?.identityToken == nil ? "user name and password" : "identity token"
            let why = r.status == 401 || r.status == 403 || r.status == 400
                ? (credentials.map { " to the \(what) from \($0.origin); check them" } ?? missing) : ""
            throw ToolError.environment("\(who) answered HTTP \(r.status)\(why)")
        }
        guard let token = TokenRealm.token(in: Data(r.body)) else { throw ToolError.environment("\(who) answered without a token") }
        lock.locked { tokens[scope] = token }
        return token
    }

    /// application/x-www-form-urlencoded: every byte but unreserved ones percent-encoded ('+' too).
    static func form(_ fields: [(String, String)]) -> String {
        let safe = CharacterSet(charactersIn: "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")
        let enc = { (s: String) in s.addingPercentEncoding(withAllowedCharacters: safe) ?? "" }
        return fields.map { enc($0.0) + "=" + enc($0.1) }.joined(separator: "&")
    }

    /// One exchange, its failures in words: transient ones for a retry, the rest final.
    private func exchange(_ method: String, _ url: URL, headers: [String: String], body: Data? = nil, authorization: String?, target: BodyTarget,
                          progress: SystemIO.Progress? = nil, who: String? = nil) async throws -> Answer {
        let registryAnswer = who == nil
        let who = who ?? "registry \(name)"
        let r: Answer
        do {
            r = try await transport.send(method, url, headers: headers, body: body, authorization: authorization, target: target, progress: progress)
        } catch Stop.tooLarge(let limit) where registryAnswer {
            // The caller knows which manifest or blob it asked for.
            throw Oversize(limit: limit)
        } catch let stop as Stop {
            throw explain(stop, who)
        } catch let e as ToolError {
            throw e
        } catch {
            // Another pull of the build failed and this one was called off: not worth a retry.
            if (error as? URLError)?.code == .cancelled || Task.isCancelled { throw CancellationError() }
            if NetworkFailure.isPlainHTTPAnswer(error) {
                throw ToolError.environment("\(who) speaks plain HTTP, not HTTPS (it answered the TLS handshake without TLS); "
                    + "if the network to it is trusted, name it with --insecure-registry \(Origin(url)?.hostPort ?? name)")
            }
            if NetworkFailure.isTLS(error) { throw NetworkFailure.tls(error, who: who) }
            throw Transient(reason: NetworkFailure.describe(error))
        }
        if let t = Transient.answer(r.status, method, url.path, who: who, body: Data(r.body), retryAfter: r.header("retry-after")) { throw t }
        // What an HTTPS server says to plain HTTP (Go's: "Client sent an HTTP request to an HTTPS
        // server"); a HEAD gets no body to say it in, and names are checked before they are sent.
        if r.status == 400, let e = Origin(url), e.plain {
            throw ToolError.environment("\(who) answered HTTP 400 to plain HTTP; if it speaks HTTPS, drop --insecure-registry \(e.hostPort)")
        }
        return r
    }

    private func explain(_ stop: Stop, _ who: String) -> ToolError {
        switch stop {
        case .tooLarge(let limit): return ToolError.refused("\(who) sent more than the \(limit) bytes expected")
        case .basic(.noCredentials): return ToolError.environment("\(who) asks for a user name and password\(missing)")
        case .basic(.rejected): return ToolError.environment("\(who) refused the user name and password from \(credentials?.origin ?? "the auth file")")
        case .basic(.tokenForBasic):
            return ToolError.environment("\(who) asks for a user name and password, but \(credentials?.origin ?? "the auth file") holds an identity token")
        case .basic(.elsewhere(let url)):
            return ToolError.environment("\(ToolError.shown(Origin(url)?.description ?? "a server")), outside \(who) and its token realm, "
                + "asks for credentials; bundlectl sends them only to the registry and its realm")
        case .redirect(let e), .io(let e): return e
        }
    }
}
