import Foundation
import Support

/// A failure worth another attempt: no connection, a reset, a timeout, HTTP 5xx or 429.
public struct Transient: Error {
    public var reason: String
    /// Seconds the registry asked us to wait (Retry-After).
    public var retryAfter: Double?

    public init(reason: String, retryAfter: Double? = nil) {
        self.reason = reason
        self.retryAfter = retryAfter
    }

    /// For an answer of `status`: HTTP 5xx and 429 are transient, with the registry's words
    /// and its Retry-After; nil for any other status.
    public static func answer(_ status: Int, _ method: String, _ path: String, who: String, body: Data, retryAfter: String?) -> Transient? {
        guard status >= 500 || status == 429 else { return nil }
        // Seconds only (an HTTP date counts as none); a negative or non-finite value would trap the sleep.
        let after = retryAfter.flatMap { Double($0) }.flatMap { $0.isFinite && $0 >= 0 ? $0 : nil }
        let words = RegistryWords.text(body).map { " (\($0))" } ?? ""
        return Transient(reason: "\(who) answered HTTP \(status)\(words) to \(method) \(path)", retryAfter: after)
    }
}

/// The registry's own words for an error ("MANIFEST_UNKNOWN: manifest unknown"), from the
/// distribution API's `{"errors": [{"code", "message"}]}`, escaped and cut short.
public enum RegistryWords {
    public static func text(_ body: Data) -> String? {
        guard body.count <= 64 << 10, let o = try? JSONSerialization.jsonObject(with: body) as? [String: Any],
              let errors = o["errors"] as? [[String: Any]], let first = errors.first else { return nil }
        let words = [first["code"] as? String ?? "", first["message"] as? String ?? ""].filter { !$0.isEmpty }.joined(separator: ": ")
        return words.isEmpty ? nil : ToolError.shown(words, limit: 200)
    }
}

/// What a failed URLSession request means, in words, the same on both sides.
public enum NetworkFailure {
    public static func describe(_ error: Error) -> String {
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

    /// A TLS handshake answered by something that is not TLS: OpenSSL reads the first bytes of
    /// an HTTP answer ("HTTP/1.1 400") as a record of an unknown version ("wrong version number";
    /// GnuTLS: "unexpected TLS packet"). Deterministic, so never retried.
    public static func isPlainHTTPAnswer(_ error: Error) -> Bool {
        guard let e = error as? URLError else { return false }
        return e.localizedDescription.contains("wrong version number") || e.localizedDescription.contains("unexpected TLS packet")
    }

    /// TLS failures: libcurl's reach us as "unknown" URLErrors whose text starts with "SSL".
    /// A certificate the system does not trust stays untrusted: never retried.
    public static func isTLS(_ error: Error) -> Bool {
        guard let e = error as? URLError else { return false }
        switch e.code {
        case .secureConnectionFailed, .serverCertificateUntrusted, .serverCertificateHasBadDate, .serverCertificateNotYetValid,
             .serverCertificateHasUnknownRoot, .clientCertificateRejected, .clientCertificateRequired:
            return true
        default:
            return e.localizedDescription.hasPrefix("SSL")
        }
    }

    /// "cannot talk HTTPS to WHO: WHY; trust its certificate authority ..." (+ `more`).
    public static func tls(_ error: Error, who: String, more: String = "") -> ToolError {
        ToolError.environment("cannot talk HTTPS to \(who): \((error as? URLError)?.localizedDescription ?? "\(error)"); "
            + "trust its certificate authority in the system's store (update-ca-certificates)\(more)")
    }
}
