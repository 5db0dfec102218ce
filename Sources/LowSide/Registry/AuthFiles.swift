import Foundation
import Support
import SystemIO

/// A user name and password for a registry, and where they were found (for messages; never
/// the password).
public struct RegistryCredentials: Equatable, Sendable {
    public var user: String
    public var password: String
    /// The auth file and its key: "/root/.docker/config.json (https://index.docker.io/v1/)".
    public var origin: String

    public init(user: String, password: String, origin: String) {
        self.user = user
        self.password = password
        self.origin = origin
    }

    var basic: String { "Basic " + Data("\(user):\(password)".utf8).base64EncodedString() }
}

/// Registry credentials read the way skopeo, podman and crane read them: from auth files,
/// never from the command line. The first file that has an entry for the registry wins:
/// `$REGISTRY_AUTH_FILE` (or, unset, `${XDG_RUNTIME_DIR}/containers/auth.json`), then
/// `${DOCKER_CONFIG:-~/.docker}/config.json`. Each has an `auths` map from a registry to
/// `{"auth": base64("user:password")}`; credential helpers (`credsStore`) are not run.
public enum AuthFiles {
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

    /// The credentials for `repository` on `registry` ("docker.io", "host:5000"), or nil.
    /// A file that exists but cannot be read as an auth file is an error naming it.
    public static func find(registry: String, repository: String, environment: [String: String]) throws -> RegistryCredentials? {
        for path in paths(environment: environment) {
            guard let info = try FS.info(path) else { continue }
            guard info.kind == .regular else { throw ToolError.usage("auth file '\(path)' is not a regular file") }
            let bytes = try FS.readFile(path, limit: 1 << 20)
            if let c = try lookup(bytes, registry: registry, repository: repository, file: path) { return c }
        }
        return nil
    }

    /// The entry of one auth file's `auths` for `repository` on `registry`: the most specific
    /// key first ("host/team/app", "host/team", then "host"), as podman matches them.
    public static func lookup(_ bytes: [UInt8], registry: String, repository: String, file: String) throws -> RegistryCredentials? {
        guard let top = (try? JSONSerialization.jsonObject(with: Data(bytes))) as? [String: Any] else {
            throw ToolError.usage("auth file '\(file)' is not a JSON object")
        }
        guard let auths = top["auths"] as? [String: Any] else { return nil }
        var byKey: [String: (written: String, entry: [String: Any])] = [:]
        for (key, value) in auths {
            guard let entry = value as? [String: Any] else { continue }
            let k = normalise(key)
            // Two spellings of one registry ("docker.io", "https://index.docker.io/v1/"): the first in sorted order wins, whatever the file's order.
            if let seen = byKey[k], seen.written < key { continue }
            byKey[k] = (key, entry)
        }
        var parts = repository.split(separator: "/").map(String.init)
        var candidates: [String] = []
        while !parts.isEmpty {
            candidates.append(registry + "/" + parts.joined(separator: "/"))
            parts.removeLast()
        }
        candidates.append(registry)
        for c in candidates {
            guard let (written, entry) = byKey[c], let auth = entry["auth"] as? String, !auth.isEmpty else { continue }
            return try decode(auth, origin: "\(file) (\(ToolError.shown(written)))")
        }
        return nil
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
