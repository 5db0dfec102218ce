import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import OCI
import RegistryHTTP
import Support
import SystemIO

/// What a registry answered.
struct HTTPResponse: Sendable {
    var status: Int
    /// Header names in lower case.
    var headers: [String: String]
    var body: Data

    func header(_ name: String) -> String? { headers[name.lowercased()] }

    /// The registry's own words for an error ("BLOB_UPLOAD_UNKNOWN: blob upload unknown"), if it gave any.
    var errorText: String? { RegistryWords.text(body) }
}

/// Talks HTTP to one registry: requests, authentication and error wording. Retrying is the
/// caller's business, because only the caller knows what a retry must redo (an upload may have
/// to ask where it stands first).
///
/// URLSession (FoundationNetworking, libcurl underneath) carries the requests: bodies are sent
/// from memory one chunk at a time, which keeps memory bounded and lets every byte be hashed
/// before it leaves.
final class RegistryClient: @unchecked Sendable {
    let host: String
    let base: String
    let insecure: Bool
    let destinations: Destinations
    private let session: URLSession
    private let delegate: SessionDelegate
    private let credentials: Credentials?
    private let lock = Mutex()
    private var challenge: Challenge?
    private var tokens: [String: String] = [:]

    init(host: String, insecure: Bool, credentials: Credentials?, realmHost: String?, connections: Int) throws {
        self.host = host
        self.insecure = insecure
        self.base = (insecure ? "http://" : "https://") + host
        self.credentials = credentials
        guard let origin = Origin(URL(string: base)) else { throw ToolError.usage("cannot make a URL of '\(base)'") }
        destinations = Destinations(name: host, registry: origin, insecure: insecure, realmHost: realmHost)
        let config = URLSessionConfiguration.ephemeral
        // Seconds without progress: a registry may take a while to commit a large blob.
        config.timeoutIntervalForRequest = 300
        config.timeoutIntervalForResource = 7 * 24 * 3600
        config.requestCachePolicy = .reloadIgnoringLocalCacheData
        config.httpMaximumConnectionsPerHost = connections
        config.httpShouldSetCookies = false
        config.urlCache = nil
        delegate = SessionDelegate(credentials: credentials, destinations: destinations)
        session = URLSession(configuration: config, delegate: delegate, delegateQueue: nil)
    }

    deinit { session.finishTasksAndInvalidate() }

    /// The registry's URL for `path`. Names and digests are checked before they get here; a
    /// path that still makes no URL (a name from a damaged state file) is an error, not a crash.
    func url(_ path: String) throws -> URL {
        guard let u = URL(string: base + path) else { throw ToolError.environment("cannot make a URL of '\(base + path)'") }
        return u
    }

    /// A Location header made absolute against the registry. It may name another host (the
    /// distribution spec allows it: a storage backend); requests there go without credentials.
    /// Plain HTTP only with --insecure.
    func resolve(location: String) throws -> URL {
        let url: URL
        if let u = URL(string: location), u.scheme != nil {
            url = u
        } else if location.hasPrefix("/"), let u = URL(string: base + location) {
            url = u
        } else {
            throw ToolError.environment("registry \(host) answered with an upload location '\(ToolError.shown(location))' that is not a URL")
        }
        try destinations.target(url, what: "an upload location")
        return url
    }

    /// Sends one request, authenticating once if the registry challenges it. `scopes` are the
    /// token scopes the request needs ("repository:NAME:pull,push").
    func send(_ method: String, _ url: URL, headers: [String: String] = [:], body: Data? = nil, scopes: [String] = [],
              authenticate: Bool = true) async throws -> HTTPResponse {
        // The registry's credentials and tokens go to the registry's own origin only.
        let own = destinations.isRegistry(url)
        var auth = own ? lock.locked { authorization(scopes) } : nil
        var r = try await exchange(method, url, headers: headers, body: body, authorization: auth)
        if r.status == 401, authenticate, let header = r.header("www-authenticate"), let ch = Challenge(header) {
            guard own else { throw ToolError.environment(elsewhere(url)) }
            auth = try await authorize(ch, scopes: scopes)
            r = try await exchange(method, url, headers: headers, body: body, authorization: auth)
            if r.status == 401 {
                throw ToolError.environment("registry \(host) refused the credentials for \(method) \(url.path)\(r.errorText.map { " (\($0))" } ?? "")")
            }
        }
        return r
    }

    /// One exchange with the registry, the delegate's refusals said in words.
    private func exchange(_ method: String, _ url: URL, headers: [String: String], body: Data?, authorization: String?) async throws -> HTTPResponse {
        do {
            return try await transport(method, url, headers: headers, body: body, authorization: authorization)
        } catch let refusal as Refusal {
            throw explain(refusal, "registry \(host)", suffix: " (HTTP basic)")
        }
    }

    /// What a refusal from the delegate means, for `who` (the registry or its token service).
    private func explain(_ refusal: Refusal, _ who: String, suffix: String = "") -> ToolError {
        switch refusal {
        case .basic(.noCredentials), .basic(.tokenForBasic):
            return ToolError.environment("\(who) asks for a user name and password; give them with --credentials FILE")
        case .basic(.rejected): return ToolError.environment("\(who) refused the user name and password from --credentials\(suffix)")
        case .basic(.elsewhere(let url)): return ToolError.environment(elsewhere(url))
        case .redirect(let e): return e
        }
    }

    private func elsewhere(_ url: URL?) -> String {
        "\(ToolError.shown(url.flatMap(Origin.init)?.description ?? url?.absoluteString ?? "a server")), outside registry \(host) and its token realm, "
            + "asks for credentials; push sends them only to the registry and its realm"
    }

    private func authorization(_ scopes: [String]) -> String? {
        // Once the registry asked for basic, send it up front: no 401 and no second copy of a body.
        if delegate.gate.registryAskedBasic { return credentials?.basic }
        guard let challenge else { return nil }
        if challenge.scheme == "basic" { return credentials?.basic }
        return tokens[scopes.joined(separator: " ")].map { "Bearer " + $0 }
    }

    /// Answers a challenge: HTTP basic with the credentials, or a bearer token from the realm.
    private func authorize(_ ch: Challenge, scopes: [String]) async throws -> String {
        lock.locked { challenge = ch }
        switch ch.scheme {
        case "basic":
            guard let credentials else {
                throw ToolError.environment("registry \(host) asks for a user name and password; give them with --credentials FILE")
            }
            return credentials.basic
        case "bearer":
            return try await bearer(ch, scopes: scopes)
        default:
            throw ToolError.environment("registry \(host) asks for authentication scheme '\(ch.scheme)', which push does not speak (basic and bearer only)")
        }
    }

    /// A bearer token from the realm the challenge names, once the realm passes `Destinations`
    /// (with the credentials if there are any, anonymously otherwise).
    private func bearer(_ ch: Challenge, scopes: [String]) async throws -> String {
        guard let realm = ch.parameters["realm"], let realmURL = URL(string: realm), realmURL.scheme != nil,
              let tokenURL = TokenRealm.url(realm, challenge: ch, scopes: scopes) else {
            throw ToolError.environment("registry \(host) asks for a bearer token but names no usable realm")
        }
        let realmOrigin = try destinations.realm(realmURL, text: realm)
        delegate.gate.trust(realmOrigin)
        let shownRealm = ToolError.shown(realm)
        let r: HTTPResponse
        do {
            r = try await transport("GET", tokenURL, headers: [:], body: nil, authorization: credentials?.basic)
        } catch let t as Transient {
            throw ToolError.environment("cannot get a token for registry \(host) from \(shownRealm): \(t.reason)")
        } catch let refusal as Refusal {
            throw explain(refusal, "the token service \(shownRealm) of registry \(host)")
        }
        guard r.status == 200 else {
            let why = r.status == 401 || r.status == 403 ? (credentials == nil ? "; give credentials with --credentials FILE" : "; check the credentials") : ""
            throw ToolError.environment("the token service \(shownRealm) of registry \(host) answered HTTP \(r.status)\(why)")
        }
        guard let token = TokenRealm.token(in: r.body) else {
            throw ToolError.environment("the token service \(shownRealm) of registry \(host) answered without a token")
        }
        lock.locked { tokens[scopes.joined(separator: " ")] = token }
        return "Bearer " + token
    }

    /// One HTTP exchange. Transport failures, HTTP 5xx and 429 are `Transient`.
    private func transport(_ method: String, _ url: URL, headers: [String: String], body: Data?, authorization: String?) async throws -> HTTPResponse {
        var req = URLRequest(url: url)
        req.httpMethod = method
        for (k, v) in headers { req.setValue(v, forHTTPHeaderField: k) }
        if let authorization { req.setValue(authorization, forHTTPHeaderField: "Authorization") }
        req.setValue("mirrorctl", forHTTPHeaderField: "User-Agent")
        let data: Data
        let response: URLResponse
        let taskID = TaskID()
        do {
            if let body {
                req.setValue(String(body.count), forHTTPHeaderField: "Content-Length")
            } else if method == "PUT" || method == "POST" || method == "PATCH" {
                req.setValue("0", forHTTPHeaderField: "Content-Length")
            }
            (data, response) = try await perform(req, body: body, taskID: taskID)
        } catch {
            if let refusal = delegate.refusal(task: taskID.value) { throw refusal }
            // A plain-HTTP server answering a TLS handshake answers the same every time: no retries.
            if NetworkFailure.isPlainHTTPAnswer(error) { throw plainHTTP(url, error) }
            // A certificate the system does not trust stays untrusted: say so at once, no retries.
            if NetworkFailure.isTLS(error) {
                throw NetworkFailure.tls(error, who: "registry \(host)", more: "; --insecure is only for registries that speak plain HTTP")
            }
            throw Transient(reason: NetworkFailure.describe(error))
        }
        // A redirect the delegate would not follow ends the task with the 3xx answer itself.
        if let refusal = delegate.refusal(task: taskID.value) { throw refusal }
        guard let http = response as? HTTPURLResponse else { throw Transient(reason: "no HTTP response") }
        var h: [String: String] = [:]
        for (k, v) in http.allHeaderFields {
            if let k = k as? String, let v = v as? String { h[k.lowercased()] = v }
        }
        let r = HTTPResponse(status: http.statusCode, headers: h, body: data)
        if let t = Transient.answer(r.status, method, url.path, who: "the registry", body: data, retryAfter: r.header("retry-after")) { throw t }
        return r
    }

    /// Runs one request to its response. Completion-handler tasks, not the async API: the task's
    /// identifier, stored in `taskID`, ties a refused challenge (seen by the delegate) to this request.
    private func perform(_ request: URLRequest, body: Data?, taskID: TaskID) async throws -> (Data, URLResponse) {
        try await withCheckedThrowingContinuation { (k: CheckedContinuation<(Data, URLResponse), Error>) in
            let done: @Sendable (Data?, URLResponse?, Error?) -> Void = { d, r, e in
                if let e {
                    k.resume(throwing: e)
                } else if let r {
                    k.resume(returning: (d ?? Data(), r))
                } else {
                    k.resume(throwing: URLError(.badServerResponse))
                }
            }
            let task = body.map { session.uploadTask(with: request, from: $0, completionHandler: done) }
                ?? session.dataTask(with: request, completionHandler: done)
            taskID.value = task.taskIdentifier
            task.resume()
        }
    }

    /// A task's identifier, set inside the continuation and read after it.
    private final class TaskID: @unchecked Sendable {
        var value = -1
    }

    private func plainHTTP(_ url: URL, _ error: Error) -> ToolError {
        let said = (error as? URLError)?.localizedDescription ?? "\(error)"
        guard url.absoluteString.hasPrefix(base + "/") else {
            let origin = (url.host ?? "?") + (url.port.map { ":\($0)" } ?? "")
            return ToolError.environment("\(origin) answered the TLS handshake in plain HTTP (\(said)): it does not speak HTTPS")
        }
        return ToolError.environment("registry \(host) speaks plain HTTP, not HTTPS: it answered the TLS handshake without TLS (\(said)); "
            + "if it is a plain-HTTP registry, pass --insecure (no TLS at all: only on a network you trust)")
    }

    /// Fails with the registry's words unless the answer is one of `expected`.
    func expect(_ r: HTTPResponse, _ expected: Set<Int>, _ what: String) throws {
        guard !expected.contains(r.status) else { return }
        let words = r.errorText.map { ": \($0)" } ?? ""
        throw ToolError.environment("registry \(host) answered HTTP \(r.status) to \(what)\(words)")
    }
}
