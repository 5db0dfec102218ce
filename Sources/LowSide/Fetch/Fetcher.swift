import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import Support
import SystemIO

/// Downloads URL sources for the low side, straight to disk, with timeouts and retries.
///
/// Only `bundlectl` links this module; the high side has no route out and no code for one.
public struct Fetcher: Sendable {
    public var attempts: Int
    /// Seconds without any data before a request is abandoned.
    public var idleTimeout: Double
    /// Seconds the whole download may take.
    public var totalTimeout: Double

    public init(attempts: Int = 3, idleTimeout: Double = 30, totalTimeout: Double = 3600) {
        self.attempts = attempts
        self.idleTimeout = idleTimeout
        self.totalTimeout = totalTimeout
    }

    private struct Failure: Error {
        var reason: String
        var retryable: Bool
    }

    /// Downloads `url` into a new file at `path` and returns its size.
    /// Server errors and network failures are retried with backoff (0.5 s, 1 s, 2 s ...); a 4xx answer is final.
    public func download(_ url: String, to path: String) async throws -> Int64 {
        guard let u = URL(string: url), u.scheme == "https" || u.scheme == "http", u.host != nil else {
            throw ToolError.usage("'\(url)' is not an http(s) URL")
        }
        let config = URLSessionConfiguration.ephemeral
        config.timeoutIntervalForRequest = idleTimeout
        config.timeoutIntervalForResource = totalTimeout
        config.requestCachePolicy = .reloadIgnoringLocalCacheData
        let session = URLSession(configuration: config)
        defer { session.finishTasksAndInvalidate() }

        var last = Failure(reason: "not attempted", retryable: false)
        for attempt in 1...max(1, attempts) {
            do {
                return try await once(session, u, to: path)
            } catch let f as Failure {
                last = f
                if !f.retryable || attempt == attempts { break }
                try? await Task.sleep(nanoseconds: UInt64(500_000_000) << UInt64(attempt - 1))
            }
        }
        let tries = attempts > 1 && last.retryable ? " (after \(attempts) attempts)" : ""
        throw ToolError.environment("cannot fetch \(url): \(last.reason)\(tries)")
    }

    private func once(_ session: URLSession, _ url: URL, to path: String) async throws -> Int64 {
        try await withCheckedThrowingContinuation { (k: CheckedContinuation<Int64, Error>) in
            let task = session.downloadTask(with: url) { temp, response, error in
                if let error {
                    k.resume(throwing: Failure(reason: Fetcher.describe(error), retryable: true))
                    return
                }
                guard let http = response as? HTTPURLResponse, let temp else {
                    k.resume(throwing: Failure(reason: "no response", retryable: true))
                    return
                }
                guard (200..<300).contains(http.statusCode) else {
                    k.resume(throwing: Failure(reason: "the server answered HTTP \(http.statusCode)", retryable: http.statusCode >= 500 || http.statusCode == 429))
                    return
                }
                // The temporary file vanishes when this handler returns: move it now.
                do {
                    try? FileManager.default.removeItem(atPath: path)
                    try FileManager.default.moveItem(atPath: temp.path, toPath: path)
                    let size = try FS.info(path)?.size ?? 0
                    if http.expectedContentLength >= 0 && size != http.expectedContentLength {
                        k.resume(throwing: Failure(reason: "the download ended after \(size) of \(http.expectedContentLength) bytes", retryable: true))
                        return
                    }
                    k.resume(returning: size)
                } catch {
                    k.resume(throwing: Failure(reason: "cannot store the download at '\(path)': \(error.localizedDescription)", retryable: false))
                }
            }
            task.resume()
        }
    }

    static func describe(_ error: Error) -> String {
        guard let e = error as? URLError else { return error.localizedDescription }
        switch e.code {
        case .cannotConnectToHost: return "connection refused"
        case .timedOut: return "timed out"
        case .cannotFindHost, .dnsLookupFailed: return "host not found"
        case .notConnectedToInternet: return "no network"
        case .networkConnectionLost: return "connection lost"
        case .secureConnectionFailed, .serverCertificateUntrusted, .serverCertificateHasBadDate, .serverCertificateNotYetValid:
            return "TLS failed (\(e.localizedDescription))"
        default: return e.localizedDescription
        }
    }
}
