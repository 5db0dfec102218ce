import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import Support
import SystemIO

/// Scheme, host and port: where a request goes, and what credentials are tied to.
struct Origin: Hashable, Sendable, CustomStringConvertible {
    var scheme: String
    var host: String
    var port: Int

    /// Nil for anything but an http or https URL with a host.
    init?(_ url: URL?) {
        guard let url, let s = url.scheme?.lowercased(), s == "http" || s == "https",
              let h = url.host?.lowercased(), !h.isEmpty else { return nil }
        scheme = s
        host = Origin.bare(h)
        port = url.port ?? (s == "https" ? 443 : 80)
    }

    var plain: Bool { scheme == "http" }
    var description: String { "\(scheme)://\(host):\(port)" }

    /// A host without the brackets of an IPv6 address, lower case.
    static func bare(_ host: String) -> String {
        let h = host.lowercased()
        return h.hasPrefix("[") && h.hasSuffix("]") ? String(h.dropFirst().dropLast()) : h
    }
}

/// Where push may send what. The registry named by --registry gets the credentials and its
/// tokens; a token realm gets the credentials only over HTTPS, on the registry's host or the
/// host --token-realm-host names; everything else (an upload Location or a redirect elsewhere,
/// which the distribution spec allows) gets requests without them. Plain HTTP only with --insecure.
///
/// A realm on the registry's host may use another port: TLS vouches for a host name, not a port,
/// so that is the same identity the registry itself was verified by.
struct Destinations: Sendable {
    /// The registry as given: "host:port", for messages.
    let name: String
    let registry: Origin
    let insecure: Bool
    /// --token-realm-host, bare and lower case.
    let realmHost: String?

    init(name: String, registry: Origin, insecure: Bool, realmHost: String?) {
        self.name = name
        self.registry = registry
        self.insecure = insecure
        self.realmHost = realmHost.map(Origin.bare)
    }

    /// Whether a request to `url` may carry the registry's credentials and tokens.
    func isRegistry(_ url: URL) -> Bool { Origin(url) == registry }

    /// The origin of a token realm the registry named, or why push will not ask it.
    func realm(_ url: URL, text: String) throws -> Origin {
        let shown = ToolError.shown(text)
        guard let o = Origin(url) else {
            throw ToolError.environment("registry \(name) names a token realm that is not an http or https URL: \(shown)")
        }
        if o.plain && !insecure {
            throw ToolError.environment("registry \(name) names a token realm on plain HTTP, \(shown); "
                + "push sends credentials over plain HTTP only with --insecure")
        }
        if o.host != registry.host && o.host != realmHost {
            throw ToolError.environment("registry \(name) names a token realm on another host, \(shown); "
                + "push asks it for a token only when --token-realm-host \(ToolError.shown(o.host)) names that host")
        }
        return o
    }

    /// Checks where an upload Location or a redirect points (`what` says which): http or https,
    /// and plain HTTP only with --insecure.
    func target(_ url: URL, what: String) throws {
        guard let o = Origin(url) else {
            throw ToolError.environment("registry \(name) answered with \(what) that is not an http or https URL: \(ToolError.shown(url.absoluteString))")
        }
        if o.plain && !insecure {
            throw ToolError.environment("registry \(name) answered with \(what) on plain HTTP, \(ToolError.shown(url.absoluteString)); "
                + "push sends nothing over plain HTTP without --insecure")
        }
    }
}

/// Why the delegate stopped a request.
enum Refusal: Error {
    /// A server asked for HTTP basic credentials and there were none, or it refused ours.
    case noCredentials, rejected
    /// A server outside the registry and its realm asked for HTTP basic credentials.
    case elsewhere(URL?)
    /// A redirect push does not follow (plain HTTP without --insecure, not http(s), too many).
    case redirect(ToolError)
}

/// Answers HTTP basic challenges and vets redirects. URLSession on Linux keeps a 401 with
/// `WWW-Authenticate: Basic` to itself: without a delegate the task never completes, and a
/// cancelled challenge reaches the caller as a plain "cancelled". So the delegate answers with
/// the credentials, or cancels and notes why, per task, for the caller to say. Bearer challenges
/// pass through to the caller.
///
/// URLSession follows redirects itself and copies every header, Authorization included, to the
/// new request: here a redirect to another origin loses its Authorization header (as curl and
/// Go's net/http do), and one to plain HTTP without --insecure is not followed.
final class SessionDelegate: NSObject, URLSessionTaskDelegate, @unchecked Sendable {
    static let redirectLimit = 10
    let credentials: Credentials?
    let destinations: Destinations
    private let lock = Mutex()
    private var refusals: [Int: Refusal] = [:]
    private var redirects: [Int: Int] = [:]
    /// Origins that may be answered with the credentials: the registry, and realms once accepted.
    private var trusted: Set<Origin>
    /// Origins that asked for HTTP basic.
    private var basic: Set<Origin> = []

    init(credentials: Credentials?, destinations: Destinations) {
        self.credentials = credentials
        self.destinations = destinations
        trusted = [destinations.registry]
    }

    /// Whether the registry has asked for HTTP basic authentication.
    var registryAskedBasic: Bool { lock.locked { basic.contains(destinations.registry) } }

    /// Lets a token realm be answered with the credentials.
    func trust(_ origin: Origin) { _ = lock.locked { trusted.insert(origin) } }

    /// Why the task was stopped, if it was; forgets the task.
    func refusal(task id: Int) -> Refusal? {
        lock.locked {
            redirects.removeValue(forKey: id)
            return refusals.removeValue(forKey: id)
        }
    }

    private func refuse(_ task: URLSessionTask, _ r: Refusal) { lock.locked { refusals[task.taskIdentifier] = r } }

    func urlSession(_ session: URLSession, task: URLSessionTask, didReceive challenge: URLAuthenticationChallenge,
                    completionHandler: @escaping (URLSession.AuthChallengeDisposition, URLCredential?) -> Void) {
        guard challenge.protectionSpace.authenticationMethod == NSURLAuthenticationMethodHTTPBasic else {
            completionHandler(.performDefaultHandling, nil)
            return
        }
        let url = task.currentRequest?.url ?? task.originalRequest?.url
        let origin = Origin(url)
        let allowed = lock.locked { () -> Bool in
            if let origin { basic.insert(origin) }
            return origin.map { trusted.contains($0) } ?? false
        }
        if !allowed {
            refuse(task, .elsewhere(url))
            completionHandler(.cancelAuthenticationChallenge, nil)
        } else if let c = credentials, challenge.previousFailureCount == 0 {
            completionHandler(.useCredential, URLCredential(user: c.user, password: c.password, persistence: .none))
        } else {
            refuse(task, credentials == nil ? .noCredentials : .rejected)
            completionHandler(.cancelAuthenticationChallenge, nil)
        }
    }

    func urlSession(_ session: URLSession, task: URLSessionTask, willPerformHTTPRedirection response: HTTPURLResponse,
                    newRequest request: URLRequest, completionHandler: @escaping (URLRequest?) -> Void) {
        let count = lock.locked { () -> Int in
            redirects[task.taskIdentifier, default: 0] += 1
            return redirects[task.taskIdentifier, default: 0]
        }
        do {
            guard let to = request.url else { throw ToolError.environment("registry \(destinations.name) redirected to no URL") }
            try destinations.target(to, what: "a redirect")
            guard count <= SessionDelegate.redirectLimit else {
                throw ToolError.environment("registry \(destinations.name) redirected more than \(SessionDelegate.redirectLimit) times in a row")
            }
            var next = request
            if Origin(to) != Origin(response.url ?? task.currentRequest?.url) {
                next.setValue(nil, forHTTPHeaderField: "Authorization")
            }
            completionHandler(next)
        } catch {
            refuse(task, .redirect(error as? ToolError ?? ToolError.environment("\(error)")))
            completionHandler(nil)
        }
    }
}
