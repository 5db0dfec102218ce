import Foundation
import RegistryHTTP
import Support
import SystemIO

/// A user name and password for a registry, or an identity token, and where they were found
/// (for messages; never the secret).
public struct RegistryCredentials: Equatable, Sendable {
    public var user: String
    public var password: String
    /// An OAuth2 refresh token (a helper's Username `<token>`, an auth file's `identitytoken`):
    /// traded at the registry's token realm, never sent as HTTP basic.
    public var identityToken: String?
    /// The auth file and its key: "/root/.docker/config.json (https://index.docker.io/v1/)",
    /// or the helper: "docker-credential-pass (credsStore in /root/.docker/config.json)".
    public var origin: String

    public init(user: String, password: String, origin: String) {
        self.user = user
        self.password = password
        self.origin = origin
    }

    public init(identityToken: String, origin: String) {
        user = "<token>"
        password = ""
        self.identityToken = identityToken
        self.origin = origin
    }

    /// The Authorization header for HTTP basic; nil for an identity token.
    var basic: String? { identityToken == nil ? basicAuthorization(user: user, password: password) : nil }
}

/// Registry credentials read the way skopeo, podman, crane and ORAS read them: from auth files,
/// never from the command line. The first file that has credentials for the registry wins:
/// `$REGISTRY_AUTH_FILE` (or, unset, `${XDG_RUNTIME_DIR}/containers/auth.json`), then
/// `${DOCKER_CONFIG:-~/.docker}/config.json`. In each, as docker reads its config.json: a
/// `credHelpers` entry for the registry names a helper, else `credsStore` names the helper for
/// every registry, else the `auths` map from a registry (or a namespace, as podman allows) to
/// `{"auth": base64("user:password")}` or `{"identitytoken": ...}`. A helper that has nothing
/// for the registry passes the search on to the next file.
public enum AuthFiles {
    /// The environment variable that sets a helper's time limit in seconds (default 30).
    public static let helperTimeoutVariable = "BUNDLECTL_CREDENTIAL_HELPER_TIMEOUT"

    /// The files looked in, in order, for `environment` (the process's by default).
    public static func paths(environment: [String: String]) -> [String] {
        var out: [String] = []
        if let f = environment["REGISTRY_AUTH_FILE"], !f.isEmpty {
            out.append(f)
        } else if let r = environment["XDG_RUNTIME_DIR"], !r.isEmpty {
            out.append(r + "/containers/auth.json")
        }
        if let d = environment["DOCKER_CONFIG"], !d.isEmpty {
            out.append(d + "/config.json")
        } else if let h = environment["HOME"], !h.isEmpty {
            out.append(h + "/.docker/config.json")
        }
        return out
    }

    /// The credentials for `repository` on `registry` ("docker.io", "host:5000"), or nil; helpers
    /// are run (each once per build, through `answers`). A file that exists but cannot be read as
    /// an auth file is an error naming it; so is a helper that is missing or fails.
    public static func find(registry: String, repository: String, environment: [String: String],
                            answers: CredentialHelperAnswers = CredentialHelperAnswers()) throws -> RegistryCredentials? {
        let timeout = environment[helperTimeoutVariable].flatMap(Double.init).flatMap { $0.isFinite && $0 > 0 && $0 <= 3600 ? $0 : nil }
            ?? CredentialHelper.defaultTimeout
        for path in paths(environment: environment) {
            guard let info = try FS.info(path) else { continue }
            guard info.kind == .regular else { throw ToolError.usage("auth file '\(path)' is not a regular file") }
            let bytes = try FS.readFile(path, limit: 1 << 20)
            switch try lookup(bytes, registry: registry, repository: repository, file: path) {
            case nil: continue
            case .inline(let c): return c
            case .helper(let name, let serverURL, let origin):
                let helper = CredentialHelper(name: name, serverURL: serverURL, origin: origin, timeout: timeout)
                if let c = try answers.get(helper, registry: registry, environment: environment) { return c }
            }
        }
        return nil
    }

    /// Where one auth file puts the credentials for `repository` on `registry`, as docker reads
    /// its config.json: `credHelpers` for the registry, else `credsStore`, else `auths`.
    public static func lookup(_ bytes: [UInt8], registry: String, repository: String, file: String) throws -> CredentialSource? {
        guard let top = (try? JSONSerialization.jsonObject(with: Data(bytes))) as? [String: Any] else {
            throw ToolError.usage("auth file '\(file)' is not a JSON object")
        }
        if let helper = try helperFor(top, registry: registry, file: file) { return helper }
        guard let auths = top["auths"] as? [String: Any] else { return nil }
        let byKey = firstSpellings(auths.compactMapValues { $0 as? [String: Any] })
        var parts = repository.split(separator: "/").map(String.init)
        var candidates: [String] = []
        while !parts.isEmpty {
            candidates.append(registry + "/" + parts.joined(separator: "/"))
            parts.removeLast()
        }
        candidates.append(registry)
        for c in candidates {
            guard let (written, entry) = byKey[c] else { continue }
            let origin = "\(file) (\(ToolError.shown(written)))"
            if let auth = entry["auth"] as? String, !auth.isEmpty { return .inline(try decode(auth, origin: origin)) }
            if let token = entry["identitytoken"] as? String, !token.isEmpty, token.utf8.count <= 16 << 10 {
                return .inline(RegistryCredentials(identityToken: token, origin: origin))
            }
        }
        return nil
    }

    /// The helper a file names for `registry`: its `credHelpers` entry (keys as docker and podman
    /// write them, "https://index.docker.io/v1/" or "docker.io"; the key as written is what the
    /// helper is given, as each tool gives it), else `credsStore`, given docker's server address.
    private static func helperFor(_ top: [String: Any], registry: String, file: String) throws -> CredentialSource? {
        if let helpers = top["credHelpers"] {
            guard let map = helpers as? [String: Any], map.values.allSatisfy({ $0 is String }) else {
                throw ToolError.usage("auth file '\(file)': \"credHelpers\" is not an object of helper names")
            }
            if let (written, name) = firstSpellings(map.compactMapValues { $0 as? String })[registry] {
                return try helper(name, serverURL: written, origin: "credHelpers in \(file)", file: file)
            }
        }
        if let store = top["credsStore"] {
            guard let name = store as? String else { throw ToolError.usage("auth file '\(file)': \"credsStore\" is not a helper name") }
            if !name.isEmpty { return try helper(name, serverURL: dockerServerAddress(registry), origin: "credsStore in \(file)", file: file) }
        }
        return nil
    }

    private static func helper(_ name: String, serverURL: String, origin: String, file: String) throws -> CredentialSource {
        guard CredentialHelper.isValidName(name) else {
            throw ToolError.usage("auth file '\(file)' names credential helper \"\(ToolError.shown(name))\", which is not a name (letters, digits, '.', '_', '-')")
        }
        return .helper(name: name, serverURL: serverURL, origin: origin)
    }

    /// The address docker logs in to and asks helpers for: Docker Hub's historical URL, else HOST[:PORT].
    static func dockerServerAddress(_ registry: String) -> String {
        registry == ImageReference.dockerHub ? "https://index.docker.io/v1/" : registry
    }

    /// Keys normalised; of two spellings of one registry ("docker.io", "https://index.docker.io/v1/"),
    /// the first in sorted order wins, whatever the file's order.
    private static func firstSpellings<V>(_ map: [String: V]) -> [String: (written: String, value: V)] {
        var byKey: [String: (written: String, value: V)] = [:]
        for (key, value) in map {
            let k = normalise(key)
            if let seen = byKey[k], seen.written < key { continue }
            byKey[k] = (key, value)
        }
        return byKey
    }

    /// "https://index.docker.io/v1/" is "docker.io"; "http://host:5000/" is "host:5000";
    /// "host/team/app" stays (a key for one namespace or repository).
    static func normalise(_ key: String) -> String {
        var k = Substring(key.lowercased())
        for scheme in ["https://", "http://"] where k.hasPrefix(scheme) { k = k.dropFirst(scheme.count) }
        while k.hasSuffix("/") { k = k.dropLast() }
        for legacy in ["/v1", "/v2"] where k.hasSuffix(legacy) && k.dropLast(3).firstIndex(of: "/") == nil { k = k.dropLast(3) }
        var parts = k.split(separator: "/", omittingEmptySubsequences: false).map(String.init)
        if let host = parts.first, ["index.docker.io", "registry-1.docker.io"].contains(host) { parts[0] = ImageReference.dockerHub }
        return parts.joined(separator: "/")
    }

    private static func decode(_ auth: String, origin: String) throws -> RegistryCredentials {
        guard let data = Data(base64Encoded: auth.trimmingCharacters(in: .whitespaces)), let text = String(data: data, encoding: .utf8),
              let colon = text.firstIndex(of: ":"), colon != text.startIndex else {
            throw ToolError.usage("auth file \(origin): \"auth\" is not base64 of user:password")
        }
        return RegistryCredentials(user: String(text[..<colon]), password: String(text[text.index(after: colon)...]), origin: origin)
    }
}
