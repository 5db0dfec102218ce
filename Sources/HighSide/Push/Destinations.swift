import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import RegistryHTTP
import Support
import SystemIO

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
        try Destination.check(url, what: what, registry: name, plainAllowed: { _ in insecure }, advice: Destinations.plainAdvice)
    }

    static let plainAdvice = "push sends nothing over plain HTTP without --insecure"
}

/// Why the delegate stopped a request.
enum Refusal: Error {
    /// An HTTP basic challenge not answered: no credentials, refused ones, or a server outside
    /// the registry and its realm.
    case basic(BasicRefusal)
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
    let credentials: Credentials?
    let destinations: Destinations
    /// Origins that may be answered with the credentials: the registry, and realms once accepted.
    let gate: BasicGate
    private let lock = Mutex()
    private var refusals: [Int: Refusal] = [:]
    private let redirects: RedirectTracker

    init(credentials: Credentials?, destinations: Destinations) {
        self.credentials = credentials
        self.destinations = destinations
        gate = BasicGate(registry: destinations.registry)
        redirects = RedirectTracker(registry: destinations.name, plainAllowed: { [insecure = destinations.insecure] _ in insecure },
                                    advice: Destinations.plainAdvice)
    }

    /// Why the task was stopped, if it was; forgets the task.
    func refusal(task id: Int) -> Refusal? {
        redirects.forget(task: id)
        return lock.locked { refusals.removeValue(forKey: id) }
    }

    private func refuse(_ task: URLSessionTask, _ r: Refusal) { lock.locked { refusals[task.taskIdentifier] = r } }

    func urlSession(_ session: URLSession, task: URLSessionTask, didReceive challenge: URLAuthenticationChallenge,
                    completionHandler: @escaping (URLSession.AuthChallengeDisposition, URLCredential?) -> Void) {
        guard challenge.protectionSpace.authenticationMethod == NSURLAuthenticationMethodHTTPBasic else {
            completionHandler(.performDefaultHandling, nil)
            return
        }
        let url = task.currentRequest?.url ?? task.originalRequest?.url
        switch gate.answer(url, user: credentials?.user, password: credentials?.password, previousFailures: challenge.previousFailureCount) {
        case .success(let (user, password)):
            completionHandler(.useCredential, URLCredential(user: user, password: password, persistence: .none))
        case .failure(let why):
            refuse(task, .basic(why))
            completionHandler(.cancelAuthenticationChallenge, nil)
        }
    }

    func urlSession(_ session: URLSession, task: URLSessionTask, willPerformHTTPRedirection response: HTTPURLResponse,
                    newRequest request: URLRequest, completionHandler: @escaping (URLRequest?) -> Void) {
        switch redirects.follow(task: task.taskIdentifier, from: response.url ?? task.currentRequest?.url, to: request.url) {
        case .success(let keep):
            if keep { return completionHandler(request) }
            var next = request
            next.setValue(nil, forHTTPHeaderField: "Authorization")
            completionHandler(next)
        case .failure(let e):
            refuse(task, .redirect(e))
            completionHandler(nil)
        }
    }
}
