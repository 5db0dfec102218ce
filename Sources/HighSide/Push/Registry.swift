import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
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
    var errorText: String? {
        guard let o = try? JSONSerialization.jsonObject(with: body) as? [String: Any],
              let errors = o["errors"] as? [[String: Any]], let first = errors.first else { return nil }
        let code = first["code"] as? String ?? ""
        let message = first["message"] as? String ?? ""
        return [code, message].filter { !$0.isEmpty }.joined(separator: ": ")
    }
}

/// A failure worth another attempt: no connection, a reset, a timeout, HTTP 5xx or 429.
struct Transient: Error {
    var reason: String
    /// Seconds the registry asked us to wait (Retry-After).
    var retryAfter: Double?
}

/// The server asked for HTTP basic credentials and we had none, or it refused ours.
struct BasicRefused: Error {
    var refusal: SessionDelegate.Refusal
}

/// A user name and password for the registry, read from a file so they never appear in a
/// process listing or a shell history.
public struct Credentials: Sendable {
    public var user: String
    public var password: String

    /// Reads "user:password" (the first line of the file).
    public init(file: String) throws {
        guard let info = try FS.info(file), info.kind == .regular else { throw ToolError.usage("credentials file '\(file)' does not exist") }
        let text = String(decoding: try FS.readFile(file, limit: 4096), as: UTF8.self)
        let line = text.split(separator: "\n", omittingEmptySubsequences: false).first.map { String($0) } ?? ""
        let trimmed = line.hasSuffix("\r") ? String(line.dropLast()) : line
        guard let colon = trimmed.firstIndex(of: ":"), colon != trimmed.startIndex else {
            throw ToolError.usage("credentials file '\(file)' must hold one line 'user:password'")
        }
        user = String(trimmed[..<colon])
        password = String(trimmed[trimmed.index(after: colon)...])
    }

    var basic: String { "Basic " + Data("\(user):\(password)".utf8).base64EncodedString() }
}

/// How the registry asked us to authenticate (RFC 7235 WWW-Authenticate).
struct Challenge: Equatable, Sendable {
    var scheme: String
    var parameters: [String: String]

    /// Parses `Bearer realm="https://auth.example/token",service="registry",scope="repository:a:pull"`.
    init?(_ header: String) {
        let h = header.trimmingSpaces
        guard let space = h.firstIndex(of: " ") else {
            guard !h.isEmpty else { return nil }
            scheme = h.lowercased()
            parameters = [:]
            return
        }
        scheme = h[..<space].lowercased()
        var params: [String: String] = [:]
        var rest = Substring(h[h.index(after: space)...])
        while !rest.isEmpty {
            rest = rest.drop { $0 == " " || $0 == "," }
            guard let eq = rest.firstIndex(of: "=") else { break }
            let key = rest[..<eq].trimmingCharacters(in: .whitespaces).lowercased()
            rest = rest[rest.index(after: eq)...]
            var value = ""
            if rest.first == "\"" {
                rest = rest.dropFirst()
                var escaped = false
                while let c = rest.first {
                    rest = rest.dropFirst()
                    if escaped { value.append(c); escaped = false } else if c == "\\" { escaped = true } else if c == "\"" { break } else { value.append(c) }
                }
            } else {
                let end = rest.firstIndex(of: ",") ?? rest.endIndex
                value = rest[..<end].trimmingCharacters(in: .whitespaces)
                rest = rest[end...]
            }
            params[key] = value
        }
        parameters = params
    }
}

/// Answers HTTP basic challenges. URLSession on Linux keeps a 401 with `WWW-Authenticate: Basic`
/// to itself: without a delegate the task never completes, and a cancelled challenge reaches the
/// caller as a plain "cancelled". So the delegate answers with the credentials, or cancels and
/// notes why, per task, for the caller to say. Bearer challenges pass through to the caller.
final class SessionDelegate: NSObject, URLSessionTaskDelegate, @unchecked Sendable {
    enum Refusal { case noCredentials, rejected }
    let credentials: Credentials?
    private let lock = Mutex()
    private var refusals: [Int: Refusal] = [:]
    private var basic = false

    init(credentials: Credentials?) {
        self.credentials = credentials
    }

    /// Whether the registry has asked for HTTP basic authentication.
    var sawBasic: Bool { lock.locked { basic } }

    func refusal(task id: Int) -> Refusal? { lock.locked { refusals.removeValue(forKey: id) } }

    func urlSession(_ session: URLSession, task: URLSessionTask, didReceive challenge: URLAuthenticationChallenge,
                    completionHandler: @escaping (URLSession.AuthChallengeDisposition, URLCredential?) -> Void) {
        guard challenge.protectionSpace.authenticationMethod == NSURLAuthenticationMethodHTTPBasic else {
            completionHandler(.performDefaultHandling, nil)
            return
        }
        lock.locked { basic = true }
        if let c = credentials, challenge.previousFailureCount == 0 {
            completionHandler(.useCredential, URLCredential(user: c.user, password: c.password, persistence: .none))
        } else {
            lock.locked { refusals[task.taskIdentifier] = credentials == nil ? .noCredentials : .rejected }
            completionHandler(.cancelAuthenticationChallenge, nil)
        }
    }
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
    private let session: URLSession
    private let delegate: SessionDelegate
    private let credentials: Credentials?
    private let lock = Mutex()
    private var challenge: Challenge?
    private var tokens: [String: String] = [:]

    init(host: String, insecure: Bool, credentials: Credentials?, connections: Int) {
        self.host = host
        self.insecure = insecure
        self.base = (insecure ? "http://" : "https://") + host
        self.credentials = credentials
        let config = URLSessionConfiguration.ephemeral
        // Seconds without progress: a registry may take a while to commit a large blob.
        config.timeoutIntervalForRequest = 300
        config.timeoutIntervalForResource = 7 * 24 * 3600
        config.requestCachePolicy = .reloadIgnoringLocalCacheData
        config.httpMaximumConnectionsPerHost = connections
        config.httpShouldSetCookies = false
        config.urlCache = nil
        delegate = SessionDelegate(credentials: credentials)
        session = URLSession(configuration: config, delegate: delegate, delegateQueue: nil)
    }

    deinit { session.finishTasksAndInvalidate() }

    /// The registry's URL for `path`. Names and digests are checked before they get here; a
    /// path that still makes no URL (a name from a damaged state file) is an error, not a crash.
    func url(_ path: String) throws -> URL {
        guard let u = URL(string: base + path) else { throw ToolError.environment("cannot make a URL of '\(base + path)'") }
        return u
    }

    /// A Location header made absolute against the registry.
    func resolve(location: String) throws -> URL {
        if let u = URL(string: location), u.scheme != nil { return u }
        if location.hasPrefix("/"), let u = URL(string: base + location) { return u }
        throw ToolError.environment("registry \(host) answered with an upload location '\(location)' that is not a URL")
    }

    /// Sends one request, authenticating once if the registry challenges it. `scopes` are the
    /// token scopes the request needs ("repository:NAME:pull,push").
    func send(_ method: String, _ url: URL, headers: [String: String] = [:], body: Data? = nil, scopes: [String] = [],
              authenticate: Bool = true) async throws -> HTTPResponse {
        var auth = lock.locked { authorization(scopes) }
        var r: HTTPResponse
        do {
            r = try await transport(method, url, headers: headers, body: body, authorization: auth)
        } catch let b as BasicRefused {
            throw ToolError.environment(b.refusal == .noCredentials
                ? "registry \(host) asks for a user name and password; give them with --credentials FILE"
                : "registry \(host) refused the user name and password from --credentials (HTTP basic)")
        }
        if r.status == 401, authenticate, let header = r.header("www-authenticate"), let ch = Challenge(header) {
            auth = try await authorize(ch, scopes: scopes)
            r = try await transport(method, url, headers: headers, body: body, authorization: auth)
            if r.status == 401 {
                throw ToolError.environment("registry \(host) refused the credentials for \(method) \(url.path)\(r.errorText.map { " (\($0))" } ?? "")")
            }
        }
        return r
    }

    private func authorization(_ scopes: [String]) -> String? {
        // Once the registry asked for basic, send it up front: no 401 and no second copy of a body.
        if delegate.sawBasic { return credentials?.basic }
        guard let challenge else { return nil }
        if challenge.scheme == "basic" { return credentials?.basic }
        return tokens[scopes.joined(separator: " ")].map { "Bearer " + $0 }
    }

    /// Answers a challenge: HTTP basic with the credentials, or a bearer token from the realm
    /// (with the credentials if there are any, anonymously otherwise).
    private func authorize(_ ch: Challenge, scopes: [String]) async throws -> String {
        lock.locked { challenge = ch }
        switch ch.scheme {
        case "basic":
            guard let credentials else {
                throw ToolError.environment("registry \(host) asks for a user name and password; give them with --credentials FILE")
            }
            return credentials.basic
        case "bearer":
            guard let realm = ch.parameters["realm"], var parts = URLComponents(string: realm), parts.scheme != nil else {
                throw ToolError.environment("registry \(host) asks for a bearer token but names no usable realm")
            }
            var wanted = scopes
            if let s = ch.parameters["scope"] { wanted.insert(contentsOf: s.split(separator: " ").map(String.init), at: 0) }
            var query = parts.queryItems ?? []
            if let service = ch.parameters["service"] { query.append(URLQueryItem(name: "service", value: service)) }
            var asked = Set<String>()
            for s in wanted where asked.insert(s).inserted { query.append(URLQueryItem(name: "scope", value: s)) }
            parts.queryItems = query
            guard let tokenURL = parts.url else { throw ToolError.environment("registry \(host) names a token realm that is not a URL: \(realm)") }
            let r: HTTPResponse
            do {
                r = try await transport("GET", tokenURL, headers: [:], body: nil, authorization: credentials?.basic)
            } catch let t as Transient {
                throw ToolError.environment("cannot get a token for registry \(host) from \(realm): \(t.reason)")
            } catch let b as BasicRefused {
                throw ToolError.environment(b.refusal == .noCredentials
                    ? "the token service \(realm) of registry \(host) asks for a user name and password; give them with --credentials FILE"
                    : "the token service \(realm) of registry \(host) refused the user name and password from --credentials")
            }
            guard r.status == 200 else {
                let why = r.status == 401 || r.status == 403 ? (credentials == nil ? "; give credentials with --credentials FILE" : "; check the credentials") : ""
                throw ToolError.environment("the token service \(realm) of registry \(host) answered HTTP \(r.status)\(why)")
            }
            let o = (try? JSONSerialization.jsonObject(with: r.body)) as? [String: Any]
            guard let token = (o?["token"] as? String) ?? (o?["access_token"] as? String), !token.isEmpty else {
                throw ToolError.environment("the token service \(realm) of registry \(host) answered without a token")
            }
            lock.locked { tokens[scopes.joined(separator: " ")] = token }
            return "Bearer " + token
        default:
            throw ToolError.environment("registry \(host) asks for authentication scheme '\(ch.scheme)', which push does not speak (basic and bearer only)")
        }
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
            if let refusal = delegate.refusal(task: taskID.value) { throw BasicRefused(refusal: refusal) }
            // A certificate the system does not trust stays untrusted: say so at once, no retries.
            if RegistryClient.isTLS(error) {
                throw ToolError.environment("cannot talk HTTPS to registry \(host): \((error as? URLError)?.localizedDescription ?? "\(error)"); "
                    + "trust its certificate authority in the system's store (update-ca-certificates); --insecure is only for registries that speak plain HTTP")
            }
            throw Transient(reason: RegistryClient.describe(error))
        }
        guard let http = response as? HTTPURLResponse else { throw Transient(reason: "no HTTP response") }
        var h: [String: String] = [:]
        for (k, v) in http.allHeaderFields {
            if let k = k as? String, let v = v as? String { h[k.lowercased()] = v }
        }
        let r = HTTPResponse(status: http.statusCode, headers: h, body: data)
        if r.status >= 500 || r.status == 429 {
            // Seconds only (an HTTP date counts as none); a negative or non-finite value would trap the sleep.
            let after = r.header("retry-after").flatMap { Double($0) }.flatMap { $0.isFinite && $0 >= 0 ? $0 : nil }
            throw Transient(reason: "the registry answered HTTP \(r.status)\(r.errorText.map { " (\($0))" } ?? "") to \(method) \(url.path)", retryAfter: after)
        }
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

    static func describe(_ error: Error) -> String {
        guard let e = error as? URLError else { return "\(error)" }
        switch e.code {
        case .cannotConnectToHost: return "connection refused"
        case .timedOut: return "timed out"
        case .cannotFindHost, .dnsLookupFailed: return "host not found"
        case .networkConnectionLost: return "connection lost"
        case .notConnectedToInternet: return "no network"
        default: return e.localizedDescription
        }
    }

    /// TLS failures: libcurl's reach us as "unknown" URLErrors whose text starts with "SSL".
    static func isTLS(_ error: Error) -> Bool {
        guard let e = error as? URLError else { return false }
        switch e.code {
        case .secureConnectionFailed, .serverCertificateUntrusted, .serverCertificateHasBadDate, .serverCertificateNotYetValid,
             .serverCertificateHasUnknownRoot, .clientCertificateRejected, .clientCertificateRequired:
            return true
        default:
            return e.localizedDescription.hasPrefix("SSL")
        }
    }

    /// Fails with the registry's words unless the answer is one of `expected`.
    func expect(_ r: HTTPResponse, _ expected: Set<Int>, _ what: String) throws {
        guard !expected.contains(r.status) else { return }
        let words = r.errorText.map { ": \($0)" } ?? ""
        throw ToolError.environment("registry \(host) answered HTTP \(r.status) to \(what)\(words)")
    }
}
