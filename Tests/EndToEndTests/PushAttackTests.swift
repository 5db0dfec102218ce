import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// Tests/Tools/hostile_registry.py: a registry on 127.0.0.2 (HTTPS, a certificate from a test
/// CA) that points credentials at another host, 127.0.0.3 (HTTPS and plain HTTP), and logs every
/// request that reaches any of them.
final class HostileRegistry {
    let dir: String
    let ports: [String: Int]
    private let process: Process
    var host: String { "127.0.0.2:\(ports["registry"]!)" }
    var other: String { "127.0.0.3:\(ports["other"]!)" }
    var plain: String { "127.0.0.3:\(ports["plain"]!)" }

    init(_ s: Scratch, _ variant: String) throws {
        dir = s.at("hostile-" + variant)
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", Env.packageRoot + "/Tests/Tools/hostile_registry.py", variant, dir]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        var text: String?
        for _ in 0..<400 where text == nil {
            text = try? String(contentsOfFile: dir + "/ports", encoding: .utf8)
            if text == nil { usleep(50_000) }
        }
        let numbers = (text ?? "").split(whereSeparator: { $0 == " " || $0 == "\n" }).compactMap { Int($0) }
        guard numbers.count == 3 else {
            Issue.record("hostile_registry.py \(variant) did not start")
            throw CancellationError()
        }
        ports = ["registry": numbers[0], "other": numbers[1], "plain": numbers[2]]
    }

    deinit {
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
    }

    /// What reached one server ("registry", "other", "plain"): "METHOD PATH auth=... bytes=N" lines.
    func log(_ server: String) -> [String] {
        let text = (try? String(contentsOfFile: dir + "/log", encoding: .utf8)) ?? ""
        return text.split(separator: "\n").filter { $0.hasPrefix(server + " ") }.map { String($0.dropFirst(server.count + 1)) }
    }

    /// Runs mirrorctl push at the registry over verified HTTPS. The test CA is trusted the way an
    /// admin trusts one, through the system's store: in a mount namespace of its own, the test's
    /// store is mounted over /etc/ssl/certs for this one process.
    func push(_ mirror: String, _ extra: String...) throws -> Outcome {
        try run("/usr/bin/unshare", ["-m", "/bin/sh", "-c", "mount --bind \"$0\" /etc/ssl/certs && exec \"$@\"", dir + "/certs",
                                     Env.mirrorctl, "push", "--mirror", mirror, "--registry", host] + extra)
    }
}

@Suite("mirrorctl push sends credentials only where they belong", .serialized)
struct PushAttackTests {
    static let password = "s3cret-hostile"
    static let token = "hostile-token-7f3a"

    /// A mirror holding one small image, and a credentials file.
    private func setUp() throws -> (PushFixture, String, String) {
        let p = try PushFixture()
        let (m, _) = try p.mirror([p.f.archive("example-base-1.oci.tar")])
        let creds = p.s.at("creds")
        try "alice:\(PushAttackTests.password)\n".write(toFile: creds, atomically: true, encoding: .utf8)
        return (p, m, creds)
    }

    /// Nothing secret in these log lines: no Authorization header at all.
    private func bare(_ lines: [String]) -> Bool { lines.allSatisfy { $0.contains(" auth=- ") } }

    private func oneLine(_ r: Outcome, _ message: String, sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(r.status == 3 && r.err == "mirrorctl: \(message)\n", "\(r.text)", sourceLocation: sourceLocation)
    }

    @Test("a token realm on plain HTTP never gets the credentials; without --insecure push refuses before asking it")
    func realmOnPlainHTTP() throws {
        let (p, m, creds) = try setUp()
        let reg = try HostileRegistry(p.s, "realm-http")
        let r = try reg.push(m, "--credentials", creds)
        oneLine(r, "registry \(reg.host) names a token realm on plain HTTP, http://\(reg.plain)/token; push sends credentials over plain HTTP only with --insecure")
        #expect(reg.log("plain").isEmpty, "\(reg.log("plain"))")
        #expect(reg.log("registry").allSatisfy { !$0.contains("Basic") }, "\(reg.log("registry"))")
    }

    @Test("a token realm on another host gets the credentials only when --token-realm-host names that host")
    func realmOnAnotherHost() throws {
        let (p, m, creds) = try setUp()
        let reg = try HostileRegistry(p.s, "realm-other")
        let r = try reg.push(m, "--credentials", creds)
        oneLine(r, "registry \(reg.host) names a token realm on another host, https://\(reg.other)/token; "
                + "push asks it for a token only when --token-realm-host 127.0.0.3 names that host")
        #expect(reg.log("other").isEmpty, "\(reg.log("other"))")

        // Named by the admin: the realm gets the password, the registry only the token.
        let named = try reg.push(m, "--credentials", creds, "--token-realm-host", "127.0.0.3")
        #expect(named.status == 0 && named.err.isEmpty, "\(named.text)")
        let basic = "auth=Basic " + Data("alice:\(PushAttackTests.password)".utf8).base64EncodedString()
        #expect(reg.log("other").contains { $0.hasPrefix("GET /token?") && $0.contains(basic) }, "\(reg.log("other"))")
        #expect(!reg.log("registry").isEmpty && reg.log("registry").allSatisfy { !$0.contains("Basic") }, "\(reg.log("registry"))")
        let bad = try reg.push(m, "--token-realm-host", "https://127.0.0.3")
        #expect(bad.status == 2 && bad.err.contains("--token-realm-host must be a host name or address alone"), "\(bad.text)")
    }

    @Test("an upload Location on another host over plain HTTP: refused, no token and no blob byte go there")
    func locationOnPlainHTTP() throws {
        let (p, m, creds) = try setUp()
        let reg = try HostileRegistry(p.s, "location-http")
        let r = try reg.push(m, "--credentials", creds)
        #expect(r.status == 3, "\(r.text)")
        #expect(r.err.hasPrefix("mirrorctl: registry \(reg.host) answered with an upload location on plain HTTP, http://\(reg.plain)/v2/"), "\(r.err)")
        #expect(r.err.hasSuffix("; push sends nothing over plain HTTP without --insecure\n") && r.err.split(separator: "\n").count == 1, "\(r.err)")
        #expect(reg.log("plain").isEmpty, "\(reg.log("plain"))")
    }

    @Test("an upload Location on another host over HTTPS (a storage backend, as the spec allows) gets the bytes but no credentials")
    func locationOnAnotherHost() throws {
        let (p, m, creds) = try setUp()
        let reg = try HostileRegistry(p.s, "location-other")
        let r = try reg.push(m, "--credentials", creds)
        #expect(r.status == 0 && r.err.isEmpty, "\(r.text)")
        let puts = reg.log("other").filter { $0.hasPrefix("PUT /v2/example/base/blobs/uploads/u1?digest=sha256:") }
        #expect(puts.count >= 2 && puts.allSatisfy { !$0.hasSuffix(" bytes=0") }, "\(reg.log("other"))")
        #expect(bare(reg.log("other")), "\(reg.log("other"))")
        #expect(reg.log("registry").contains { $0.contains("auth=Bearer \(PushAttackTests.token)") })
    }

    @Test("an upload Location on another host that asks for HTTP basic: refused, it never gets the password")
    func locationAsksForBasic() throws {
        let (p, m, creds) = try setUp()
        let reg = try HostileRegistry(p.s, "location-basic")
        let r = try reg.push(m, "--credentials", creds)
        oneLine(r, "https://\(reg.other), outside registry \(reg.host) and its token realm, asks for credentials; push sends them only to the registry and its realm")
        #expect(!reg.log("other").isEmpty && bare(reg.log("other")), "\(reg.log("other"))")
    }

    @Test("a redirect to another host over plain HTTP is not followed: refused, nothing reaches it")
    func redirectToPlainHTTP() throws {
        let (p, m, creds) = try setUp()
        let reg = try HostileRegistry(p.s, "redirect-http")
        let r = try reg.push(m, "--credentials", creds)
        #expect(r.status == 3, "\(r.text)")
        #expect(r.err.hasPrefix("mirrorctl: registry \(reg.host) answered with a redirect on plain HTTP, http://\(reg.plain)/blob/v2/"), "\(r.err)")
        #expect(r.err.hasSuffix("; push sends nothing over plain HTTP without --insecure\n") && r.err.split(separator: "\n").count == 1, "\(r.err)")
        #expect(reg.log("plain").isEmpty, "\(reg.log("plain"))")
    }

    @Test("redirects to another host over HTTPS, of the token request and of blob checks, lose the Authorization header")
    func redirectToAnotherHost() throws {
        let (p, m, creds) = try setUp()
        let reg = try HostileRegistry(p.s, "redirect-other")
        let r = try reg.push(m, "--credentials", creds)
        #expect(r.status == 0 && r.err.isEmpty, "\(r.text)")
        let other = reg.log("other")
        #expect(other.contains { $0.hasPrefix("GET /token?") } && other.contains { $0.hasPrefix("HEAD /blob/v2/example/base/blobs/sha256:") }, "\(other)")
        #expect(bare(other), "\(other)")
        // The registry's own realm did get the password (it redirected it away, without it).
        #expect(reg.log("registry").contains { $0.hasPrefix("GET /token?") && $0.contains("auth=Basic ") })
    }

    @Test("--insecure with --credentials: a warning before anything is sent; none without either")
    func insecureCredentialsWarn() throws {
        let (p, m, creds) = try setUp()
        let reg = try HostileRegistry(p.s, "realm-http")
        // The plain HTTP server is no registry: push stops at its first answer, after the warning.
        let r = try run(Env.mirrorctl, ["push", "--mirror", m, "--registry", reg.plain, "--insecure", "--credentials", creds])
        let lines = r.err.split(separator: "\n").map(String.init)
        #expect(r.status == 3 && lines.count == 2, "\(r.text)")
        #expect(lines.first == "mirrorctl: warning: --insecure with --credentials: the user name and password, and the tokens they buy, "
                + "cross the network in plain HTTP, readable on the way", "\(r.err)")
        let quiet = try run(Env.mirrorctl, ["push", "--mirror", m, "--registry", reg.plain, "--insecure"])
        #expect(quiet.status == 3 && !quiet.err.contains("warning"), "\(quiet.text)")
    }
}
