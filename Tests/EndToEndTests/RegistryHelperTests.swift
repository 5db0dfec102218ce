import Foundation
import Testing

/// Where the test's credential helpers live: shell scripts named docker-credential-NAME in a
/// folder put first on PATH, each logging the server address it was given.
struct CredentialHelpers {
    let bin: String
    let log: String
    let s: Scratch

    init(_ s: Scratch) throws {
        self.s = s
        bin = s.at("helpers")
        let log = s.at("helpers.log")
        self.log = log
        try FileManager.default.createDirectory(atPath: bin, withIntermediateDirectories: true)
        let answer = { (user: String, secret: String) in
            "server=$(cat); echo \"$server\" >> \(log); printf '{\"ServerURL\": \"%s\", \"Username\": \"\(user)\", \"Secret\": \"\(secret)\"}' \"$server\""
        }
        let scripts = [
            "test": answer("alice", "s3cret"),
            "wrong": answer("alice", "not-it"),
            "token": answer("<token>", "refresh-alice"),
            "nothing": "cat >/dev/null; echo 'credentials not found in native keychain'; exit 1",
            "fails": "cat >/dev/null; echo 'cannot reach the vault'; echo 's3cret on stderr' >&2; exit 2",
            "hangs": "sleep 3600",
            "floods": "head -c 200000 /dev/zero | tr '\\0' x",
            "garbled": "echo '{\"Username\": 7, \"Secret\": [\"s3cret\"]}'",
        ]
        for (name, body) in scripts {
            let path = bin + "/docker-credential-" + name
            try ("#!/bin/sh\n" + body + "\n").write(toFile: path, atomically: true, encoding: .utf8)
            try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: path)
        }
    }

    /// Writes an auth file under the scratch folder and returns its path.
    func file(_ name: String, _ json: String) throws -> String {
        try FileManager.default.createDirectory(atPath: (s.at(name) as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        try json.write(toFile: s.at(name), atomically: true, encoding: .utf8)
        return s.at(name)
    }

    /// A build's environment with the helpers first on PATH.
    func env(_ extra: [String: String]) -> [String: String] {
        extra.merging(["PATH": bin + ":" + (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin")]) { a, _ in a }
    }

    /// The server addresses the helpers were given, in order.
    func asked() throws -> [String] {
        ((try? String(contentsOfFile: log, encoding: .utf8)) ?? "").split(separator: "\n").map(String.init)
    }
}

extension RegistryPullTests {
    /// Credential helpers (docker-credential-NAME, shell scripts on PATH) against the htpasswd
    /// registry: credHelpers, credsStore, which wins, and a helper that is missing, fails, hangs
    /// or answers too much, each one line and exit 3 naming the helper and the registry.
    func helperCases(_ p: PullFixture, _ spec: String) throws {
        let host = p.reg.host
        let h = try CredentialHelpers(p.s)
        let image = "bundlectl: source 'platform': image \(host)/example/app:1.0: "
        func build(_ name: String, _ json: String, docker: Bool = false, env: [String: String] = [:]) throws -> (Outcome, String) {
            let file = try h.file(docker ? "docker/config.json" : name + ".json", json)
            let files = docker ? ["DOCKER_CONFIG": p.s.at("docker"), "REGISTRY_AUTH_FILE": p.s.at("none.json")] : ["REGISTRY_AUTH_FILE": file]
            return (try p.build(spec, "\(name).bundle", env: h.env(files.merging(env) { $1 })), file)
        }
        // credHelpers for the registry, the key as docker writes it: given the host on stdin, once.
        let (own, _) = try build("helpers", #"{"credHelpers": {"\#(host)": "test"}, "credsStore": "missing"}"#)
        #expect(own.status == 0, "\(own.text)")
        #expect(try h.asked() == [host])
        // credsStore for every registry, in docker's config.json; a credHelpers entry for another registry does not apply.
        let (store, _) = try build("store", #"{"credHelpers": {"other.example": "missing"}, "credsStore": "test"}"#, docker: true)
        #expect(store.status == 0, "\(store.text)")
        #expect(try h.asked() == [host, host])
        // A helper with nothing for the registry passes the search on to the next file.
        _ = try h.file("docker/config.json", #"{"auths": {"\#(host)": {"auth": "\#(Data("alice:s3cret".utf8).base64EncodedString())"}}}"#)
        let (passed, _) = try build("nothing", #"{"credsStore": "nothing"}"#, env: ["DOCKER_CONFIG": p.s.at("docker")])
        #expect(passed.status == 0, "\(passed.text)")

        let (wrong, wrongFile) = try build("wrong", #"{"credHelpers": {"\#(host)": "wrong"}}"#)
        #expect(wrong.status == 3 && wrong.err == image + "registry \(host) refused the user name and password from docker-credential-wrong (credHelpers in \(wrongFile))\n",
                "\(wrong.text)")
        let cases: [(String, String)] = [
            ("missing", "is not on PATH: install it, or remove it from the file"),
            ("fails", "failed (exit 2): cannot reach the vault"),
            ("hangs", "did not answer within 1.0 s and was stopped"),
            ("floods", "answered with more than 64 KiB"),
            ("garbled", "did not answer with a JSON object of string \"Username\" and \"Secret\""),
        ]
        for (name, says) in cases {
            let (r, file) = try build(name, #"{"credHelpers": {"\#(host)": "\#(name)"}}"#, env: ["BUNDLECTL_CREDENTIAL_HELPER_TIMEOUT": "1"])
            #expect(r.status == 3 && r.err == image + "credential helper docker-credential-\(name) (credHelpers in \(file)) for registry \(host) \(says)\n",
                    "\(r.text)")
            #expect(!FileManager.default.fileExists(atPath: p.s.at("\(name).bundle")))
            #expect(!r.text.contains("s3cret"))
        }
        // Nothing the hanging helper started outlives it.
        #expect(try sh("pgrep -f 'sleep 360[0]' || true").isEmpty)
        #expect(!(own.text + store.text + wrong.text).contains("s3cret"))
    }

}
