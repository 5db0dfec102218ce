import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// Debian's docker-registry (the CNCF distribution registry) on loopback, storing in a scratch
/// folder, started by the test and killed with SIGKILL when it ends.
final class TestRegistry {
    let port: Int
    let storage: String
    let config: String
    let log: String
    private var process: Process?
    var host: String { "127.0.0.1:\(port)" }

    /// `extra` is more YAML for the config (an auth section), `http` more keys of its http section.
    init(_ s: Scratch, name: String = "registry", extra: String = "", http: String = "") throws {
        port = try freePort()
        storage = s.at(name + "-storage")
        config = s.at(name + ".yml")
        log = s.at(name + ".log")
        // draintimeout: on SIGTERM it finishes the requests in flight, refuses new ones, then exits.
        // A fixed secret signs upload session state, so sessions outlive a restart (without one
        // the registry makes a new secret each start and forgets every session).
        try """
            version: 0.1
            log: {level: info}
            storage: {filesystem: {rootdirectory: \(storage)}, delete: {enabled: true}}
            http: {addr: "127.0.0.1:\(port)", draintimeout: 60s, secret: "test-secret-\(port)"\(http)}
            \(extra)
            """.write(toFile: config, atomically: true, encoding: .utf8)
        _ = FileManager.default.createFile(atPath: log, contents: nil)
        try start()
    }

    func start() throws {
        let p = Process()
        // The test runner's children ignore SIGTERM; `env` gives it back its default action.
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["--default-signal=TERM", "/usr/bin/docker-registry", "serve", config]
        let out = FileHandle(forWritingAtPath: log)!
        out.seekToEndOfFile()
        p.standardOutput = out
        p.standardError = out
        p.standardInput = FileHandle.nullDevice
        try p.run()
        process = p
        for _ in 0..<200 {
            if try httpStatus("GET", "http://\(host)/v2/") != 0 { return }
            usleep(50_000)
        }
        Issue.record("docker-registry did not start on \(host): \(try String(contentsOfFile: log, encoding: .utf8))")
        throw CancellationError()
    }

    /// SIGTERM: the registry finishes the requests in flight, refuses new ones, and exits.
    /// Returns at once; `waitForExit` waits.
    func stopGracefully() {
        guard let p = process else { return }
        kill(p.processIdentifier, SIGTERM)
    }

    func waitForExit() {
        process?.waitUntilExit()
        process = nil
    }

    func kill9() {
        guard let p = process else { return }
        kill(p.processIdentifier, SIGKILL)
        p.waitUntilExit()
        process = nil
    }

    deinit { kill9() }

    /// The access log's request lines for a method ("PATCH"), counted.
    func requests(_ method: String) throws -> Int {
        try String(contentsOfFile: log, encoding: .utf8).split(separator: "\n").filter { $0.contains("\"\(method) /v2/") }.count
    }

    /// The digest of the raw manifest skopeo reads from the registry, or nil if it has none.
    func manifestDigest(_ repoTag: String) throws -> String? {
        let r = try run("/bin/bash", ["-c", "set -o pipefail; skopeo inspect --raw --tls-verify=false docker://\(host)/\(repoTag) | sha256sum | cut -d' ' -f1"])
        return r.status == 0 ? "sha256:" + r.out.trimmingCharacters(in: .whitespacesAndNewlines) : nil
    }

    /// Partial uploads the registry holds: (folder, bytes so far).
    func uploads() throws -> [(String, Int)] {
        let out = try sh("find \(storage) -path '*/_uploads/*/data' -printf '%h %s\\n' 2>/dev/null || true")
        return out.split(separator: "\n").map { line in
            let parts = line.split(separator: " ")
            return (String(parts[0]), Int(parts[1]) ?? 0)
        }
    }
}

func freePort() throws -> Int {
    let out = try sh("python3 -c 'import socket; s=socket.socket(); s.bind((\"127.0.0.1\",0)); print(s.getsockname()[1])'")
    return Int(out.trimmingCharacters(in: .whitespacesAndNewlines))!
}

/// The HTTP status of one request (0 when nothing answers), asked with Python's urllib.
func httpStatus(_ method: String, _ url: String) throws -> Int {
    let r = try run("/usr/bin/env", ["python3", "-c", """
        import sys, urllib.request, urllib.error
        try:
            print(urllib.request.urlopen(urllib.request.Request(sys.argv[2], method=sys.argv[1]), timeout=5).status)
        except urllib.error.HTTPError as e:
            print(e.code)
        except Exception:
            print(0)
        """, method, url])
    return Int(r.out.trimmingCharacters(in: .whitespacesAndNewlines)) ?? 0
}

/// A token service of the kind docker-registry's `token` auth trusts: checks HTTP basic
/// credentials (alice:s3cret) and answers with a JWT granting the scopes asked for, signed with
/// the key whose certificate the registry has (tok.key / tok.crt in the scratch folder).
final class TokenService {
    private let process: Process
    let log: String

    init(_ s: Scratch, port: Int) throws {
        log = s.at("token.log")
        let script = s.at("token.py")
        try #"""
            import base64, json, subprocess, sys, time, http.server, urllib.parse
            port, key, cert, log = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
            der = subprocess.run(['openssl', 'x509', '-in', cert, '-outform', 'DER'], capture_output=True, check=True).stdout
            def b64(b): return base64.urlsafe_b64encode(b).rstrip(b'=').decode()
            class H(http.server.BaseHTTPRequestHandler):
                def do_GET(self):
                    q = urllib.parse.parse_qs(urllib.parse.urlparse(self.path).query)
                    open(log, 'a').write(self.path + '\n')
                    if self.headers.get('Authorization', '') != 'Basic ' + base64.b64encode(b'alice:s3cret').decode():
                        self.send_response(401)
                        self.send_header('WWW-Authenticate', 'Basic realm="token"')
                        self.send_header('Content-Length', '0')
                        self.end_headers()
                        return
                    self.issue(q)
                # OAuth2's refresh-token grant (an identity token): alice's is "refresh-alice".
                def do_POST(self):
                    form = urllib.parse.parse_qs(self.rfile.read(int(self.headers.get('Content-Length', '0'))).decode())
                    open(log, 'a').write('POST ' + self.path + ' ' + form.get('grant_type', [''])[0] + '\n')
                    if form.get('grant_type') != ['refresh_token'] or form.get('refresh_token') != ['refresh-alice']:
                        self.send_response(401)
                        self.send_header('Content-Length', '0')
                        self.end_headers()
                        return
                    self.issue(form)
                def issue(self, q):
                    access = []
                    for s in q.get('scope', []):
                        kind, name, actions = s.split(':')
                        access.append({'type': kind, 'name': name, 'actions': actions.split(',')})
                    now = int(time.time())
                    header = {'typ': 'JWT', 'alg': 'RS256', 'x5c': [base64.b64encode(der).decode()]}
                    claims = {'iss': 'test-issuer', 'sub': 'alice', 'aud': q.get('service', [''])[0], 'exp': now + 300,
                              'nbf': now - 10, 'iat': now, 'jti': '%d-%d' % (now, len(access)), 'access': access}
                    signed = b64(json.dumps(header).encode()) + '.' + b64(json.dumps(claims).encode())
                    sig = subprocess.run(['openssl', 'dgst', '-sha256', '-sign', key], input=signed.encode(), capture_output=True, check=True).stdout
                    body = json.dumps({'token': signed + '.' + b64(sig), 'expires_in': 300}).encode()
                    self.send_response(200)
                    self.send_header('Content-Type', 'application/json')
                    self.send_header('Content-Length', str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                def log_message(self, *a): pass
            http.server.ThreadingHTTPServer(('127.0.0.1', port), H).serve_forever()
            """#.write(toFile: script, atomically: true, encoding: .utf8)
        process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", script, String(port), s.at("tok.key"), s.at("tok.crt"), log]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        var tries = 0
        while try httpStatus("GET", "http://127.0.0.1:\(port)/token") == 0 && tries < 200 {
            usleep(50_000)
            tries += 1
        }
    }

    func requests() -> Int {
        ((try? String(contentsOfFile: log, encoding: .utf8)) ?? "").split(separator: "\n").count
    }

    deinit {
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
    }
}

/// Mirrors with images, made the real way: archives -> bundlectl build -> mirrorctl apply.
struct PushFixture {
    let f: ImageFixture
    var s: Scratch { f.s }

    init() throws { f = try ImageFixture() }

    /// A mirror whose active version holds `archives` (one images source); returns (mirror, layout).
    func mirror(_ archives: [String], name: String = "mirror", sequence: Int = 1) throws -> (String, String) {
        let spec = try f.spec("\(name)-\(sequence).yaml", sequence: sequence, [("images", archives)])
        let b = try f.build(spec, "\(name)-\(sequence).bundle")
        #expect(b.status == 0, "\(b.text)")
        let m = s.at(name)
        if !FileManager.default.fileExists(atPath: m + "/mirror.json") { _ = try f.mirror(name) }
        let a = try mirrorctl("apply", s.at("\(name)-\(sequence).bundle"), "--mirror", m)
        #expect(a.status == 0, "\(a.text)")
        return (m, m + "/current/images")
    }

    /// The three real test images: base:1 (OCI), app:1.0 (docker save), app:1.1 (OCI).
    var realArchives: [String] {
        [f.archive("example-base-1.oci.tar"), f.archive("example-app-1.0.docker.tar"), f.archive("example-app-1.1.oci.tar")]
    }

    /// An OCI archive of an image whose one layer is `mib` MiB of random bytes (gzip keeps it that size).
    func bigArchive(_ name: String, ref: String, mib: Int) throws -> String {
        let l = s.at("umoci-\(name)")
        try sh("""
            umoci init --layout \(l) && umoci new --image \(l):x
            mkdir -p \(l)-src && head -c \(mib * 1_048_576) /dev/urandom > \(l)-src/big.bin
            umoci insert --image \(l):x \(l)-src/big.bin /big.bin >/dev/null
            skopeo copy -q oci:\(l):x oci-archive:\(s.at(name + ".oci.tar")):\(ref)
            rm -rf \(l) \(l)-src
            """)
        return s.at(name + ".oci.tar")
    }

    func multiArchive() throws -> String { try f.multiArchive() }

    /// The digest of an image's raw manifest (or index) in a layout, as skopeo reads it.
    func layoutDigest(_ layout: String, _ ref: String) throws -> String {
        // Without pipefail a failed inspect would hash empty input, and two failures would compare equal.
        let r = try run("/bin/bash", ["-c", "set -o pipefail; skopeo inspect --raw 'oci:\(layout):\(ref)' | sha256sum | cut -d' ' -f1"])
        #expect(r.status == 0, "\(r.text)")
        return "sha256:" + r.out.trimmingCharacters(in: .whitespacesAndNewlines)
    }
}

func push(_ mirror: String, _ registry: TestRegistry, _ extra: String...) throws -> Outcome {
    try run(Env.mirrorctl, ["push", "--mirror", mirror, "--registry", registry.host, "--insecure"] + extra)
}

/// The "  blobs" line printed for one image.
func blobLine(_ out: String, _ repoTag: String) -> String {
    let lines = out.split(separator: "\n").map(String.init)
    guard let i = lines.firstIndex(where: { $0.hasPrefix("image") && $0.contains("/\(repoTag) ") }), i + 1 < lines.count else { return "(no line for \(repoTag))" }
    return lines[i + 1]
}

/// The count before a word in a blobs line: count("3 uploaded, ...", "uploaded") == 3.
func count(_ line: String, _ word: String) -> Int {
    let words = line.replacingOccurrences(of: ",", with: " ").replacingOccurrences(of: "(", with: " ").split(separator: " ")
    guard let i = words.firstIndex(where: { $0.hasPrefix(word) }), i > 0 else { return -1 }
    return Int(words[i - 1]) ?? -1
}

/// The "N bytes sent" figure of a line.
func bytesSent(_ line: String) -> Int {
    let words = line.replacingOccurrences(of: ",", with: "").split(separator: " ")
    guard let i = words.indices.first(where: { $0 > 0 && $0 + 1 < words.count && words[$0] == "bytes" && words[$0 + 1] == "sent" }) else { return -1 }
    return Int(words[i - 1]) ?? -1
}

@Suite("mirrorctl push into a real registry", .serialized)
struct PushTests {
    @Test("every image reaches the registry with the layout's digests; a second push skips every blob; another repository mounts them")
    func pushSkipMount() throws {
        let p = try PushFixture()
        let (m, layout) = try p.mirror(p.realArchives + [try p.multiArchive()])
        let reg = try TestRegistry(p.s)
        let refs = ["example/base:1", "example/app:1.0", "example/app:1.1", "example/multi:1"]

        let first = try push(m, reg, "--prefix", "enclave")
        #expect(first.status == 0, "\(first.text)")
        #expect(!first.err.contains("is stale"), "no maximum age, no expiry: no warning: \(first.err)")
        for ref in refs {
            // skopeo, reading the registry, sees exactly the layout's manifest bytes.
            #expect(try reg.manifestDigest("enclave/\(ref)") == (try p.layoutDigest(layout, ref)), "\(ref)")
            #expect(first.out.contains("\(reg.host)/enclave/\(ref) \(try p.layoutDigest(layout, ref))"), "\(first.out)")
        }
        let inspect = try sh("skopeo inspect --tls-verify=false docker://\(reg.host)/enclave/example/app:1.1")
        #expect(inspect.contains(try p.layoutDigest(layout, "example/app:1.1")))
        // The index went up whole: a round trip with --all brings back both platforms, byte for byte.
        let back = p.s.at("back")
        try sh("skopeo copy -q --all --preserve-digests --src-tls-verify=false docker://\(reg.host)/enclave/example/multi:1 oci:\(back):m")
        #expect(try p.layoutDigest(back, "m") == (try p.layoutDigest(layout, "example/multi:1")))
        let backBlobs = Set(try FileManager.default.contentsOfDirectory(atPath: back + "/blobs/sha256"))
        let layoutBlobs = Set(try FileManager.default.contentsOfDirectory(atPath: layout + "/blobs/sha256"))
        #expect(backBlobs.count >= 7 && backBlobs.isSubset(of: layoutBlobs), "\(backBlobs.subtracting(layoutBlobs))")
        // app:1.0 came from docker save (uncompressed layers): a round trip too (--preserve-digests:
        // skopeo refuses rather than compress them on the way).
        try sh("skopeo copy -q --preserve-digests --src-tls-verify=false docker://\(reg.host)/enclave/example/app:1.0 oci:\(back):a")
        #expect(try p.layoutDigest(back, "a") == (try p.layoutDigest(layout, "example/app:1.0")))

        // Second push: the registry has every blob (HEAD), nothing is uploaded or mounted. The
        // version was built in 2024: past a maximum age, push warns and still pushes.
        #expect(try mirrorctl("config", "--mirror", m, "--max-age", "35d").status == 0)
        let patches = try reg.requests("PATCH"), puts = try reg.requests("PUT")
        let second = try push(m, reg, "--prefix", "enclave")
        #expect(second.status == 0, "\(second.text)")
        #expect(second.err.contains("mirrorctl: warning: ") && second.err.contains("is stale: it was built ") && second.err.contains("more than the mirror's maximum age of 35d"),
                "\(second.err)")
        #expect(try mirrorctl("config", "--mirror", m, "--max-age", "none").status == 0)  // so verify, below, judges only the bytes
        for ref in refs {
            let line = blobLine(second.out, "enclave/\(ref)")
            #expect(count(line, "uploaded") == 0 && count(line, "mounted") == 0 && count(line, "skipped") > 0 && bytesSent(line) == 0, "\(line)")
        }
        #expect(try reg.requests("PATCH") == patches)
        // Only the tags are written again (one PUT per image), no blob upload is committed.
        let putsAfter = try reg.requests("PUT")
        #expect(putsAfter == puts + refs.count, "\(putsAfter) vs \(puts)")

        // A second repository: every blob is mounted from the first, no byte is sent.
        let third = try push(m, reg, "--prefix", "other/place")
        #expect(third.status == 0, "\(third.text)")
        for ref in refs {
            let line = blobLine(third.out, "other/place/\(ref)")
            #expect(count(line, "uploaded") == 0 && count(line, "mounted") > 0 && bytesSent(line) == 0, "\(line)")
            #expect(try reg.manifestDigest("other/place/\(ref)") == (try p.layoutDigest(layout, ref)), "\(ref)")
        }
        #expect(try String(contentsOfFile: reg.log, encoding: .utf8).contains("mount="))
        // Push only reads the mirror: it still verifies against its signed manifest.
        #expect(try mirrorctl("verify", "--mirror", m).status == 0)
        #expect(FileManager.default.fileExists(atPath: m + "/push/\(reg.host.replacingOccurrences(of: ":", with: "_")).json"))
    }

    @Test("a blob larger than --chunk-size goes up in PATCH chunks and arrives intact")
    func chunked() throws {
        let p = try PushFixture()
        let (m, layout) = try p.mirror([p.f.archive("example-app-1.1.oci.tar")])
        let reg = try TestRegistry(p.s)
        let r = try push(m, reg, "--chunk-size", "65536")
        #expect(r.status == 0, "\(r.text)")
        // The layers are ~0.3-1 MB: many 64 KiB chunks, each a PATCH the registry logged.
        let blobBytes = try sh("find -L \(layout)/blobs/sha256 -type f -size +64k -printf '%s\\n' | awk '{s+=$1} END{print s}'")
        let expected = (Int(blobBytes.trimmingCharacters(in: .whitespacesAndNewlines)) ?? 0) / 65536
        let patches = try reg.requests("PATCH")
        #expect(patches >= expected && expected > 5, "\(patches) PATCHes for \(blobBytes) bytes")
        #expect(try reg.manifestDigest("example/app:1.1") == (try p.layoutDigest(layout, "example/app:1.1")))
        try sh("skopeo copy -q --preserve-digests --src-tls-verify=false docker://\(reg.host)/example/app:1.1 oci:\(p.s.at("back")):x")
        #expect(try p.layoutDigest(p.s.at("back"), "x") == (try p.layoutDigest(layout, "example/app:1.1")))
        // Nothing is left half-uploaded, and no session is remembered.
        #expect(try reg.uploads().isEmpty)
        #expect(try sh("cat \(m)/push/*.json").contains("\"uploads\":{}"))
    }

    @Test("the registry stops mid-upload: push fails naming the blob, keeps the session, and the next run continues from the registry's offset")
    func resumeAfterRegistryStops() throws {
        let p = try PushFixture()
        let (m, layout) = try p.mirror([try p.bigArchive("big", ref: "example/big:1", mib: 64)])
        let reg = try TestRegistry(p.s)
        let big = try sh("find -L \(layout)/blobs/sha256 -type f -size +60M -printf '%f %s'").split(separator: " ")
        let (bigHex, bigSize) = (String(big[0]), Int(big[1])!)

        let proc = Process()
        proc.executableURL = URL(fileURLWithPath: Env.mirrorctl)
        proc.arguments = ["push", "--mirror", m, "--registry", reg.host, "--insecure", "--chunk-size", "524288"]
        proc.environment = ["NO_PROGRESS": "1"]
        let errPipe = Pipe()
        proc.standardOutput = FileHandle.nullDevice
        proc.standardError = errPipe
        try proc.run()
        // Once the registry holds some of the layer, freeze the pusher, stop the registry
        // gracefully (it finishes the chunk in flight and refuses new connections), let go.
        var seen = 0
        while seen < 524_288 && proc.isRunning {
            seen = try reg.uploads().map(\.1).max() ?? 0
            usleep(1000)
        }
        #expect(seen >= 524_288 && seen < bigSize, "the upload was not seen in progress (\(seen) bytes)")
        kill(proc.processIdentifier, SIGSTOP)
        reg.stopGracefully()
        usleep(300_000)
        kill(proc.processIdentifier, SIGCONT)
        proc.waitUntilExit()
        reg.waitForExit()
        let err = String(decoding: errPipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        #expect(proc.terminationStatus == 3, "\(err)")
        #expect(err.contains("cannot push blob sha256:\(bigHex)") && err.contains("after 5 attempts"), "\(err)")
        #expect(err.split(separator: "\n").count == 1, "\(err)")

        // The state file remembers the session at the offset the registry holds.
        let held = try reg.uploads()
        #expect(held.count == 1, "\(held)")
        let state = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: m + "/push/\(reg.host.replacingOccurrences(of: ":", with: "_")).json"))) as! [String: Any]
        let uploads = state["uploads"] as! [String: [String: Any]]
        let offset = (uploads["example/big@\(bigHex)"]?["offset"] as? Int) ?? -1
        #expect(offset > 0 && offset < bigSize && offset == held.first?.1, "state \(uploads), registry \(held)")

        // Registry back (same storage): the next run asks where the upload stands and sends only the rest.
        try reg.start()
        let again = try push(m, reg, "--chunk-size", "524288")
        #expect(again.status == 0, "\(again.text)")
        let line = blobLine(again.out, "example/big:1")
        #expect(count(line, "resumed") == 1 && line.contains("\(grouped(offset)) bytes already there"), "\(line)")
        // The rest of the layer, and at most the small config if it had not been committed.
        #expect(bytesSent(line) >= bigSize - offset && bytesSent(line) < bigSize - offset + 4096, "\(line)")
        #expect(try reg.manifestDigest("example/big:1") == (try p.layoutDigest(layout, "example/big:1")))
        // The registry assembled the blob from both runs' bytes and checked its digest; skopeo copies it out intact.
        try sh("skopeo copy -q --preserve-digests --src-tls-verify=false docker://\(reg.host)/example/big:1 oci:\(p.s.at("back")):x")
        #expect(FileManager.default.fileExists(atPath: p.s.at("back") + "/blobs/sha256/" + bigHex))
        #expect(try reg.uploads().isEmpty)
    }

    @Test("push killed with SIGKILL mid-upload: the next run does not send again the blobs that were finished")
    func resumeAfterKill() throws {
        let p = try PushFixture()
        let (m, layout) = try p.mirror([try p.bigArchive("one", ref: "example/one:1", mib: 24), try p.bigArchive("two", ref: "example/two:1", mib: 64)])
        let reg = try TestRegistry(p.s)
        let twoLayer = try sh("find -L \(layout)/blobs/sha256 -type f -size +60M -printf '%f'")

        let proc = Process()
        proc.executableURL = URL(fileURLWithPath: Env.mirrorctl)
        proc.arguments = ["push", "--mirror", m, "--registry", reg.host, "--insecure", "--chunk-size", "1048576", "--parallel", "1"]
        proc.environment = ["NO_PROGRESS": "1"]
        proc.standardOutput = FileHandle.nullDevice
        proc.standardError = FileHandle.nullDevice
        try proc.run()
        // Images go in name order: kill once example/two's big layer is partly uploaded.
        var killed = false
        while !killed && proc.isRunning {
            if FileManager.default.fileExists(atPath: reg.storage + "/docker/registry/v2/repositories/example/one/_manifests/tags/1"),
               try reg.uploads().contains(where: { $0.0.contains("/example/two/") && $0.1 >= 1_048_576 }) {
                kill(proc.processIdentifier, SIGKILL)
                killed = true
            } else {
                usleep(1000)
            }
        }
        proc.waitUntilExit()
        #expect(killed && proc.terminationReason == .uncaughtSignal, "push ended before it could be interrupted")
        #expect(try reg.manifestDigest("example/two:1") == nil)

        let again = try push(m, reg, "--chunk-size", "1048576", "--parallel", "1")
        #expect(again.status == 0, "\(again.text)")
        // example/one was complete: every blob is skipped, no byte goes again.
        let one = blobLine(again.out, "example/one:1")
        #expect(count(one, "uploaded") == 0 && count(one, "skipped") == 2 && bytesSent(one) == 0, "\(one)")
        // example/two's config was finished (skipped); its layer resumes or, if the registry
        // dropped the interrupted session, starts again; either way it arrives whole.
        let two = blobLine(again.out, "example/two:1")
        #expect(count(two, "uploaded") == 1 && count(two, "skipped") == 1, "\(two)")
        #expect(try reg.manifestDigest("example/two:1") == (try p.layoutDigest(layout, "example/two:1")))
        try sh("skopeo copy -q --preserve-digests --src-tls-verify=false docker://\(reg.host)/example/two:1 oci:\(p.s.at("back")):x")
        #expect(FileManager.default.fileExists(atPath: p.s.at("back") + "/blobs/sha256/" + twoLayer))
    }

    @Test("a blob or manifest in the mirror that does not match its digest: that image is refused by name, its manifest never pushed; the others go")
    func corruptBlob() throws {
        let p = try PushFixture()
        let (m, layout) = try p.mirror(p.realArchives)
        let reg = try TestRegistry(p.s)
        // app:1.1's own third layer (no other image has it), and base:1's manifest.
        let app11 = try JSONSerialization.jsonObject(with: Data(try sh("skopeo inspect --raw oci:\(layout):example/app:1.1").utf8)) as! [String: Any]
        let layer = ((app11["layers"] as! [[String: Any]]).last!["digest"] as! String).dropFirst(7)
        let baseManifest = try p.layoutDigest(layout, "example/base:1").dropFirst(7)
        try flipByte("\(layout)/blobs/sha256/\(layer)", at: 1000)
        try flipByte("\(layout)/blobs/sha256/\(baseManifest)", at: 20)

        let r = try push(m, reg)
        #expect(r.status == 1, "\(r.text)")
        #expect(r.out.contains("refused   example/app:1.1: blob sha256:\(layer) in the layout does not match its digest"), "\(r.out)")
        #expect(r.out.contains("refused   example/base:1: manifest sha256:\(baseManifest) in the layout does not match its digest"), "\(r.out)")
        #expect(r.err == "mirrorctl: 2 image(s) were not pushed: example/base:1, example/app:1.1\n", "\(r.err)")
        #expect(try reg.manifestDigest("example/app:1.1") == nil)
        #expect(try reg.manifestDigest("example/base:1") == nil)
        #expect(try httpStatus("HEAD", "http://\(reg.host)/v2/example/app/blobs/sha256:\(layer)") == 404)
        // The intact image went up all the same.
        #expect(try reg.manifestDigest("example/app:1.0") == (try p.layoutDigest(layout, "example/app:1.0")))
        #expect(try reg.uploads().isEmpty)

        // Chunked, the same: the chunks before the last go up while they are hashed, the last one
        // never leaves, and the registry is told to drop the upload (nothing half-made remains;
        // one DELETE for each run's refused upload).
        let chunked = try push(m, reg, "--chunk-size", "65536")
        #expect(chunked.status == 1, "\(chunked.text)")
        #expect(chunked.out.contains("refused   example/app:1.1: blob sha256:\(layer) in the layout does not match its digest"), "\(chunked.out)")
        let (patches, deletes) = (try reg.requests("PATCH"), try reg.requests("DELETE"))
        #expect(patches > 0 && deletes == 2, "\(patches) PATCH, \(deletes) DELETE")
        #expect(try httpStatus("HEAD", "http://\(reg.host)/v2/example/app/blobs/sha256:\(layer)") == 404)
        #expect(try reg.manifestDigest("example/app:1.1") == nil)
        let left = try reg.uploads()
        #expect(left.isEmpty, "\(left)")
    }

    @Test("registry auth: HTTP basic (htpasswd) and bearer tokens from a token service, credentials from a file")
    func auth() throws {
        let p = try PushFixture()
        let (m, layout) = try p.mirror([p.f.archive("example-app-1.1.oci.tar")])
        let want = try p.layoutDigest(layout, "example/app:1.1")
        try "alice:s3cret\n".write(toFile: p.s.at("creds"), atomically: true, encoding: .utf8)
        try "alice:wrong\n".write(toFile: p.s.at("wrong"), atomically: true, encoding: .utf8)

        // HTTP basic: docker-registry's htpasswd (bcrypt, made by libcrypt through perl).
        try sh("perl -e 'print \"alice:\", crypt(\"s3cret\", q{$2b$05$} . \"abcdefghijklmnopqrstuu\"), \"\\n\"' > \(p.s.at("htpasswd"))")
        let basic = try TestRegistry(p.s, name: "basic", extra: "auth: {htpasswd: {realm: test, path: \(p.s.at("htpasswd"))}}")
        try authCases(p, m, basic, want: want, refusedNone: "registry \(basic.host) asks for a user name and password; give them with --credentials FILE",
                      refusedWrong: "registry \(basic.host) refused the user name and password from --credentials (HTTP basic)")

        // Bearer: a token service (Python, tokens signed RS256 by openssl) the registry trusts.
        try sh("openssl req -x509 -newkey rsa:2048 -nodes -keyout \(p.s.at("tok.key")) -out \(p.s.at("tok.crt")) -days 2 -subj /CN=token >/dev/null 2>&1")
        let tokenPort = try freePort()
        let service = try TokenService(p.s, port: tokenPort)
        let bearer = try TestRegistry(p.s, name: "bearer", extra: """
            auth: {token: {realm: "http://127.0.0.1:\(tokenPort)/token", service: test-registry, issuer: test-issuer, rootcertbundle: \(p.s.at("tok.crt"))}}
            """)
        let realm = "the token service http://127.0.0.1:\(tokenPort)/token of registry \(bearer.host)"
        try authCases(p, m, bearer, want: want, refusedNone: "\(realm) asks for a user name and password; give them with --credentials FILE",
                      refusedWrong: "\(realm) refused the user name and password from --credentials")
        // A mount across repositories needs a token for both: the second push mounts everything.
        let again = try push(m, bearer, "--credentials", p.s.at("creds"), "--prefix", "copy")
        #expect(again.status == 0, "\(again.text)")
        let line = blobLine(again.out, "copy/example/app:1.1")
        #expect(count(line, "mounted") == 4 && bytesSent(line) == 0, "\(line)")
        #expect(service.requests() > 0)
    }

    /// No credentials, wrong ones, right ones: what each says, and that the right ones push.
    private func authCases(_ p: PushFixture, _ m: String, _ reg: TestRegistry, want: String, refusedNone: String, refusedWrong: String,
                           sourceLocation: SourceLocation = #_sourceLocation) throws {
        let none = try push(m, reg)
        #expect(none.status == 3 && none.err == "mirrorctl: \(refusedNone)\n", "\(none.text)", sourceLocation: sourceLocation)
        // These registries speak plain HTTP (--insecure): credentials with it earn a warning first.
        let warning = "mirrorctl: warning: --insecure with --credentials: the user name and password, and the tokens they buy, cross the network in plain HTTP, readable on the way\n"
        let wrong = try push(m, reg, "--credentials", p.s.at("wrong"))
        #expect(wrong.status == 3 && wrong.err == warning + "mirrorctl: \(refusedWrong)\n", "\(wrong.text)", sourceLocation: sourceLocation)
        let right = try push(m, reg, "--credentials", p.s.at("creds"))
        #expect(right.status == 0, "\(right.text)", sourceLocation: sourceLocation)
        let seen = try run("/bin/bash", ["-c", "set -o pipefail; skopeo inspect --raw --tls-verify=false --creds alice:s3cret docker://\(reg.host)/example/app:1.1 | sha256sum | cut -d' ' -f1"])
        #expect("sha256:" + seen.out.trimmingCharacters(in: .whitespacesAndNewlines) == want, "\(seen.text)", sourceLocation: sourceLocation)
        // The password never appears on a command line or in the output.
        #expect(!right.text.contains("s3cret"), sourceLocation: sourceLocation)
    }

    @Test("no registry, an untrusted HTTPS registry, bad options, a mirror without images: one clear line and the documented exit code")
    func badEnvironment() throws {
        let p = try PushFixture()
        let (m, _) = try p.mirror([p.f.archive("example-base-1.oci.tar")])
        let port = try freePort()
        let down = try run(Env.mirrorctl, ["push", "--mirror", m, "--registry", "127.0.0.1:\(port)", "--insecure"])
        #expect(down.status == 3, "\(down.text)")
        #expect(down.err == "mirrorctl: cannot reach registry 127.0.0.1:\(port): connection refused (after 5 attempts)\n", "\(down.err)")
        #expect(try mirrorctl("verify", "--mirror", m).status == 0)

        let bad = try run(Env.mirrorctl, ["push", "--mirror", m, "--registry", "http://127.0.0.1:\(port)"])
        #expect(bad.status == 2 && bad.err.contains("--registry must be HOST or HOST:PORT"), "\(bad.text)")
        // Hosts that could make no URL are refused up front, before anything is read or sent.
        for host in ["[zz]", "reg|istry:5000", "%zz"] {
            let r = try run(Env.mirrorctl, ["push", "--mirror", m, "--registry", host])
            #expect(r.status == 2 && r.err.contains("--registry must be HOST or HOST:PORT"), "\(host): \(r.text)")
        }
        let prefix = try run(Env.mirrorctl, ["push", "--mirror", m, "--registry", "127.0.0.1:\(port)", "--prefix", "Upper/Case"])
        #expect(prefix.status == 2 && prefix.err.contains("--prefix 'Upper/Case'"), "\(prefix.text)")
        let creds = try run(Env.mirrorctl, ["push", "--mirror", m, "--registry", "127.0.0.1:\(port)", "--credentials", p.s.at("none")])
        #expect(creds.status == 2 && creds.err.contains("credentials file"), "\(creds.text)")

        // HTTPS with a certificate the system does not trust: refused at once, with what to do.
        try sh("openssl req -x509 -newkey rsa:2048 -nodes -keyout \(p.s.at("tls.key")) -out \(p.s.at("tls.crt")) -days 2 -subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1 >/dev/null 2>&1")
        let tls = try TestRegistry(p.s, name: "tls", http: ", tls: {certificate: \(p.s.at("tls.crt")), key: \(p.s.at("tls.key"))}")
        let untrusted = try run(Env.mirrorctl, ["push", "--mirror", m, "--registry", tls.host])
        #expect(untrusted.status == 3, "\(untrusted.text)")
        #expect(untrusted.err == "mirrorctl: cannot talk HTTPS to registry \(tls.host): SSL certificate problem: self-signed certificate; "
                + "trust its certificate authority in the system's store (update-ca-certificates); --insecure is only for registries that speak plain HTTP\n", "\(untrusted.err)")
        let plain = try run(Env.mirrorctl, ["push", "--mirror", m, "--registry", tls.host, "--insecure"])
        #expect(plain.status == 3 && plain.err == "mirrorctl: http://\(tls.host)/v2/ answered HTTP 400; the registry speaks HTTPS: drop --insecure\n", "\(plain.text)")
        #expect(try tls.requests("PUT") == 0)

        // A mirror with no version, and one whose version holds advisories but no images.
        let empty = try p.f.mirror("empty")
        let none = try run(Env.mirrorctl, ["push", "--mirror", empty, "--registry", "127.0.0.1:\(port)", "--insecure"])
        #expect(none.status == 1 && none.err.contains("has no active version"), "\(none.text)")
        let feeds = p.s.at("feeds")
        try sh("mkdir -p \(feeds) && echo '{}' > \(feeds)/a.json")
        let spec = try p.s.spec("feeds.yaml", sequence: 1, sources: [("f", "advisories", feeds)])
        try p.s.build(spec, key: p.f.key, output: "feeds.bundle")
        let adv = try p.f.mirror("adv")
        #expect(try mirrorctl("apply", p.s.at("feeds.bundle"), "--mirror", adv).status == 0)
        let noImages = try run(Env.mirrorctl, ["push", "--mirror", adv, "--registry", "127.0.0.1:\(port)", "--insecure"])
        #expect(noImages.status == 1 && noImages.err.contains("holds no images; nothing to push"), "\(noImages.text)")
    }

    @Test("apply swaps the mirror during a push: apply is not kept waiting, and push finishes the version it started with")
    func applyDuringPush() throws {
        let p = try PushFixture()
        let (m, layout) = try p.mirror([try p.bigArchive("big", ref: "example/big:1", mib: 48)])
        let v1 = try p.layoutDigest(layout, "example/big:1")
        // The next version holds another image only.
        let spec2 = try p.f.spec("next.yaml", sequence: 2, [("images", [p.f.archive("example-base-1.oci.tar")])])
        #expect(try p.f.build(spec2, "next.bundle").status == 0)
        let reg = try TestRegistry(p.s)

        let proc = Process()
        proc.executableURL = URL(fileURLWithPath: Env.mirrorctl)
        proc.arguments = ["push", "--mirror", m, "--registry", reg.host, "--insecure", "--chunk-size", "1048576"]
        proc.environment = ["NO_PROGRESS": "1"]
        let outPipe = Pipe()
        proc.standardOutput = outPipe
        proc.standardError = outPipe
        try proc.run()
        var started = false
        while !started && proc.isRunning {
            started = try reg.uploads().contains { $0.1 > 0 }
            if !started { usleep(1000) }
        }
        kill(proc.processIdentifier, SIGSTOP)
        let a = try mirrorctl("apply", p.s.at("next.bundle"), "--mirror", m)
        kill(proc.processIdentifier, SIGCONT)
        proc.waitUntilExit()
        let out = String(decoding: outPipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        #expect(started)
        #expect(a.status == 0, "\(a.text)")
        #expect(proc.terminationStatus == 0, "\(out)")
        #expect(out.contains("version 1-"), "\(out)")
        #expect(try reg.manifestDigest("example/big:1") == v1)
        #expect(try reg.manifestDigest("example/base:1") == nil)
    }
}
