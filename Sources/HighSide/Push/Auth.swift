import Foundation
import RegistryHTTP
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

    var basic: String { basicAuthorization(user: user, password: password) }
}
