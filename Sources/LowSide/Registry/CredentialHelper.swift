import Foundation
import Support
import SystemIO

/// Where one auth file says a registry's credentials are: in the file, or with a credential
/// helper (`docker-credential-NAME`) the file names.
public enum CredentialSource: Equatable, Sendable {
    case inline(RegistryCredentials)
    /// `docker-credential-<name> get`, given `serverURL` on its standard input. `origin` names
    /// the file and the setting ("credHelpers in /root/.docker/config.json").
    case helper(name: String, serverURL: String, origin: String)
}

/// Runs credential helpers by the docker-credential-helpers protocol: `docker-credential-NAME get`
/// with the registry's server address on standard input answers
/// `{"ServerURL": ..., "Username": ..., "Secret": ...}` on standard output, or exits non-zero
/// with its words there ("credentials not found in native keychain" when it has none). A
/// Username of `<token>` makes the Secret an identity token (an OAuth2 refresh token).
///
/// The helper runs without a shell, found on the environment's PATH, in its own process group,
/// for at most `timeout` seconds; its answer comes through a pipe, at most 64 KiB, and is read
/// as hostile JSON. The secret appears in no message.
public struct CredentialHelper: Sendable {
    public static let outputLimit = 64 << 10
    public static let defaultTimeout = 30.0
    /// What docker-credential-helpers says when it holds nothing for the server.
    static let notFound = "credentials not found in native keychain"

    public var name: String
    public var serverURL: String
    /// The file and setting that named it, for messages.
    public var origin: String
    public var timeout: Double

    /// The program: "docker-credential-" + name.
    public var program: String { "docker-credential-" + name }

    /// Whether `name` may follow "docker-credential-": no path, no shell words.
    static func isValidName(_ name: String) -> Bool {
        guard let first = name.unicodeScalars.first, name.utf8.count <= 64, CharacterSet.alphanumerics.contains(first) else { return false }
        return name.unicodeScalars.allSatisfy { $0.isASCII && (CharacterSet.alphanumerics.contains($0) || "._-".unicodeScalars.contains($0)) }
    }

    /// The helper's credentials for `registry` (named in messages), or nil when it has none.
    public func get(registry: String, environment: [String: String]) throws -> RegistryCredentials? {
        let who = "credential helper \(program) (\(origin)) for registry \(registry)"
        guard let path = ChildProcess.find(program, searchPath: environment["PATH"] ?? "/usr/local/bin:/usr/bin:/bin") else {
            throw ToolError.environment("\(who) is not on PATH: install it, or remove it from the file")
        }
        let outcome = try ChildProcess.capture(path, arguments: ["get"], input: Array(serverURL.utf8), environment: environment,
                                               timeout: timeout, outputLimit: CredentialHelper.outputLimit)
        if outcome.timedOut { throw ToolError.environment("\(who) did not answer within \(Format.duration(timeout)) and was stopped") }
        if outcome.truncated { throw ToolError.environment("\(who) answered with more than \(CredentialHelper.outputLimit >> 10) KiB") }
        let text = String(decoding: outcome.output, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        guard outcome.exitCode == 0 else {
            if text == CredentialHelper.notFound { return nil }
            let how = outcome.exitCode.map { "exit \($0)" } ?? "killed by signal \(outcome.signal ?? 0)"
            throw ToolError.environment("\(who) failed (\(how))\(CredentialHelper.words(text))")
        }
        return try parse(outcome.output, who: who)
    }

    /// A failed helper's own words, first line, escaped and cut short; none when they look like
    /// an answer (a secret printed before a failure must not reach the message).
    static func words(_ text: String) -> String {
        let line = text.split(separator: "\n").first.map(String.init) ?? ""
        guard !line.isEmpty, !line.lowercased().contains("secret"), !line.hasPrefix("{") else { return "" }
        return ": " + ToolError.shown(line, limit: 200)
    }

    /// The answer: a JSON object with string Username and Secret, each at most 16 KiB.
    func parse(_ bytes: [UInt8], who: String) throws -> RegistryCredentials {
        let shape = "\(who) did not answer with a JSON object of string \"Username\" and \"Secret\""
        guard let o = (try? JSONSerialization.jsonObject(with: Data(bytes))) as? [String: Any],
              let user = o["Username"] as? String, let secret = o["Secret"] as? String else { throw ToolError.environment(shape) }
        guard !secret.isEmpty else { throw ToolError.environment("\(who) answered with an empty Secret") }
        guard user.utf8.count <= 16 << 10, secret.utf8.count <= 16 << 10 else { throw ToolError.environment("\(who) answered with a Username or Secret over 16 KiB") }
        let origin = "\(program) (\(self.origin))"
        if user == "<token>" { return RegistryCredentials(identityToken: secret, origin: origin) }
        guard !user.isEmpty, !user.contains(":") else { throw ToolError.environment("\(who) answered with a Username that is empty or holds ':'") }
        return RegistryCredentials(user: user, password: secret, origin: origin)
    }
}

/// Helpers' answers for one build: each helper is asked once per server address, one at a time
/// (a helper may prompt: a GPG agent, a keychain).
public final class CredentialHelperAnswers: @unchecked Sendable {
    private let lock = Mutex()
    private var answers: [String: RegistryCredentials?] = [:]

    public init() {}

    func get(_ helper: CredentialHelper, registry: String, environment: [String: String]) throws -> RegistryCredentials? {
        try lock.locked {
            let key = helper.name + "\u{0}" + helper.serverURL
            if let known = answers[key] { return known }
            let answer = try helper.get(registry: registry, environment: environment)
            answers[key] = answer
            return answer
        }
    }
}
