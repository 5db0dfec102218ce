import Foundation
import Support
import SystemIO

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
