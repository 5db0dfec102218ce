import Foundation
import Support

/// How a registry asked to be authenticated (RFC 7235 WWW-Authenticate). Pure, so push on the
/// high side and pulling on the low side read challenges by one rule.
public struct Challenge: Equatable, Sendable {
    /// Lower case: "basic", "bearer".
    public var scheme: String
    /// Keys in lower case: "realm", "service", "scope".
    public var parameters: [String: String]

    /// Parses `Bearer realm="https://auth.example/token",service="registry",scope="repository:a:pull"`.
    public init?(_ header: String) {
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
