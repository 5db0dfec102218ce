import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import RegistryHTTP
import Support
import SystemIO

/// Where an answer's body goes: memory (manifests, tokens, error words) or a file (blobs). At
/// most `limit` bytes either way: a registry cannot make us hold or store more than we expect.
enum BodyTarget: Sendable {
    case memory(limit: Int64)
    case file(String, limit: Int64)
}

/// A registry's answer, its body hashed as it arrived.
struct Answer: Sendable {
    var status: Int
    /// Header names in lower case.
    var headers: [String: String]
    /// The body, for `.memory`; the error words of a failed request whatever the target.
    var body: [UInt8]
    var digest: SHA256Digest
    var count: Int64
    /// The first bytes, to recognise compressed blobs.
    var head: [UInt8]

    func header(_ name: String) -> String? { headers[name.lowercased()] }

    /// The registry's own words for an error ("MANIFEST_UNKNOWN: manifest unknown"), if it gave any.
    var errorText: String? { RegistryWords.text(Data(body)) }
}

/// Why the transport stopped a request before its answer was whole.
enum Stop: Error {
    /// The body passed `limit` bytes.
    case tooLarge(limit: Int64)
    /// An HTTP basic challenge not answered: no credentials, refused ones, an identity token,
    /// or a server other than the registry and its token realm.
    case basic(BasicRefusal)
    /// A redirect not followed, said in words.
    case redirect(ToolError)
    /// Writing a blob to the cache failed.
    case io(ToolError)
}

/// One request in flight: its body's destination, and what has arrived.
private final class Exchange: @unchecked Sendable {
    let limit: Int64
    let file: FileDescriptor?
    let progress: SystemIO.Progress?
    var continuation: CheckedContinuation<Answer, Error>?
    var response: HTTPURLResponse?
    var body: [UInt8] = []
    var hash = SHA256Stream()
    var head: [UInt8] = []
    var stop: Stop?
    /// A non-200 answer: its body is the registry's words, kept in memory, small.
    var failed = false

    init(limit: Int64, file: FileDescriptor?, progress: SystemIO.Progress?) {
        self.limit = limit
        self.file = file
        self.progress = progress
    }
}

/// HTTP through URLSession (FoundationNetworking, libcurl underneath), one session per registry:
/// bodies are streamed to memory or a file through the delegate, hashed as they arrive, and
/// cut off past their limit. The delegate also answers HTTP basic challenges (URLSession on
/// Linux keeps a `WWW-Authenticate: Basic` 401 to itself without one) for the registry and the
/// token realms it named only, and drops Authorization on a redirect to another origin.
final class Transport: NSObject, URLSessionDataDelegate, @unchecked Sendable {
    static let errorBodyLimit: Int64 = 64 << 10
    let registry: Origin
    /// Who may be answered with the credentials: the registry and the realms it named.
    let gate: BasicGate
    private let redirects: RedirectTracker
    let credentials: RegistryCredentials?
    /// HOST:PORT that may be spoken to in plain HTTP (--insecure-registry).
    let insecure: Set<String>
    private let lock = Mutex()
    private var exchanges: [Int: Exchange] = [:]
    private var session: URLSession?

    init(registry: Origin, credentials: RegistryCredentials?, insecure: Set<String>, connections: Int) {
        self.registry = registry
        self.credentials = credentials
        self.insecure = insecure
        gate = BasicGate(registry: registry)
        redirects = RedirectTracker(registry: registry.hostPort, plainAllowed: { [insecure] in insecure.contains($0.hostPort) },
                                    advice: "bundlectl speaks plain HTTP only to a HOST:PORT named with --insecure-registry")
        super.init()
        let config = URLSessionConfiguration.ephemeral
        // Seconds without a byte: a registry's storage may be slow to start a large blob.
        config.timeoutIntervalForRequest = 120
        config.timeoutIntervalForResource = 7 * 24 * 3600
        config.requestCachePolicy = .reloadIgnoringLocalCacheData
        config.httpMaximumConnectionsPerHost = connections
        config.httpShouldSetCookies = false
        config.urlCache = nil
        session = URLSession(configuration: config, delegate: self, delegateQueue: nil)
    }

    /// Ends the session; its delegate (this object) is released with it.
    func close() { session?.finishTasksAndInvalidate() }


    /// Sends one request and reads its answer into `target`. Transport failures come as
    /// URLError, stops as `Stop`; the HTTP status is the caller's to judge.
    func send(_ method: String, _ url: URL, headers: [String: String], body: Data? = nil, authorization: String?, target: BodyTarget,
              progress: SystemIO.Progress? = nil) async throws -> Answer {
        var req = URLRequest(url: url)
        req.httpMethod = method
        req.httpBody = body
        for (k, v) in headers { req.setValue(v, forHTTPHeaderField: k) }
        if let authorization { req.setValue(authorization, forHTTPHeaderField: "Authorization") }
        req.setValue("bundlectl", forHTTPHeaderField: "User-Agent")
        let exchange: Exchange
        switch target {
        case .memory(let limit): exchange = Exchange(limit: limit, file: nil, progress: progress)
        case .file(let path, let limit):
            try? FS.remove(path)
            exchange = Exchange(limit: limit, file: try FileDescriptor.create(path, mode: 0o600), progress: progress)
        }
        guard let session else { throw ToolError.environment("the connection to \(registry) is closed") }
        let task = session.dataTask(with: req)
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (k: CheckedContinuation<Answer, Error>) in
                lock.locked {
                    exchange.continuation = k
                    exchanges[task.taskIdentifier] = exchange
                }
                task.resume()
            }
        } onCancel: {
            task.cancel()
        }
    }

    private func exchange(_ task: URLSessionTask) -> Exchange? { lock.locked { exchanges[task.taskIdentifier] } }

    private func stop(_ task: URLSessionTask, _ why: Stop) {
        exchange(task)?.stop = why
        task.cancel()
    }

    // MARK: URLSessionDataDelegate

    func urlSession(_ session: URLSession, dataTask: URLSessionDataTask, didReceive response: URLResponse,
                    completionHandler: @escaping (URLSession.ResponseDisposition) -> Void) {
        // Every response starts the body afresh: a 401 answered by the delegate, or a redirect, came before.
        if let e = exchange(dataTask) {
            e.response = response as? HTTPURLResponse
            e.failed = e.response?.statusCode != 200
            e.body = []
            e.head = []
            e.hash = SHA256Stream()
            do {
                try e.file?.truncate(to: 0)
                try e.file?.seek(to: 0)
            } catch {
                stop(dataTask, .io(error as? ToolError ?? ToolError.environment("\(error)")))
            }
            if !e.failed, let length = e.response?.expectedContentLength, length > e.limit { stop(dataTask, .tooLarge(limit: e.limit)) }
        }
        completionHandler(.allow)
    }

    func urlSession(_ session: URLSession, dataTask: URLSessionDataTask, didReceive data: Data) {
        guard let e = exchange(dataTask), e.stop == nil else { return }
        let limit = e.failed ? Transport.errorBodyLimit : e.limit
        guard e.hash.count + Int64(data.count) <= limit else {
            if e.failed { return }
            return stop(dataTask, .tooLarge(limit: e.limit))
        }
        data.withUnsafeBytes { (chunk: UnsafeRawBufferPointer) in
            e.hash.update(chunk)
            if e.head.count < 16 { e.head += chunk.prefix(16 - e.head.count) }
        }
        if e.failed || e.file == nil {
            e.body += data
            return
        }
        do {
            try data.withUnsafeBytes { try e.file?.write($0) }
            e.progress?.advance(Int64(data.count))
        } catch {
            stop(dataTask, .io(error as? ToolError ?? ToolError.environment("\(error)")))
        }
    }

    func urlSession(_ session: URLSession, task: URLSessionTask, didCompleteWithError error: Error?) {
        redirects.forget(task: task.taskIdentifier)
        let e = lock.locked { () -> Exchange? in
            exchanges.removeValue(forKey: task.taskIdentifier)
        }
        guard let e, let k = e.continuation else { return }
        do {
            try e.file?.close()
        } catch {
            if e.stop == nil { e.stop = .io(error as? ToolError ?? ToolError.environment("\(error)")) }
        }
        if let s = e.stop { return k.resume(throwing: s) }
        if let error { return k.resume(throwing: error) }
        guard let http = e.response ?? task.response as? HTTPURLResponse else { return k.resume(throwing: URLError(.badServerResponse)) }
        var headers: [String: String] = [:]
        for (key, value) in http.allHeaderFields {
            if let key = key as? String, let value = value as? String { headers[key.lowercased()] = value }
        }
        k.resume(returning: Answer(status: http.statusCode, headers: headers, body: e.body, digest: e.hash.finalize(), count: e.hash.count, head: e.head))
    }

    // MARK: Challenges and redirects

    func urlSession(_ session: URLSession, task: URLSessionTask, didReceive challenge: URLAuthenticationChallenge,
                    completionHandler: @escaping (URLSession.AuthChallengeDisposition, URLCredential?) -> Void) {
        guard challenge.protectionSpace.authenticationMethod == NSURLAuthenticationMethodHTTPBasic else {
            return completionHandler(.performDefaultHandling, nil)
        }
        let url = task.currentRequest?.url ?? task.originalRequest?.url
        let c = credentials
        switch gate.answer(url, user: c?.user, password: c?.password, identityToken: c?.identityToken != nil, previousFailures: challenge.previousFailureCount) {
        case .success(let (user, password)):
            completionHandler(.useCredential, URLCredential(user: user, password: password, persistence: .none))
        case .failure(let why):
            exchange(task)?.stop = .basic(why)
            completionHandler(.cancelAuthenticationChallenge, nil)
        }
    }

    func urlSession(_ session: URLSession, task: URLSessionTask, willPerformHTTPRedirection response: HTTPURLResponse,
                    newRequest request: URLRequest, completionHandler: @escaping (URLRequest?) -> Void) {
        switch redirects.follow(task: task.taskIdentifier, from: response.url ?? task.currentRequest?.url, to: request.url) {
        case .success(let keep):
            // A blob's storage elsewhere (a CDN) gets no credentials and no token for the registry.
            completionHandler(keep ? request : request.droppingAuthorization)
        case .failure(let e):
            exchange(task)?.stop = .redirect(e)
            completionHandler(nil)
        }
    }
}

extension URLRequest {
    /// The same request without its Authorization header.
    var droppingAuthorization: URLRequest {
        var r = self
        r.setValue(nil, forHTTPHeaderField: "Authorization")
        return r
    }
}
