import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// A real docker-registry on loopback, filled by skopeo from the test archives, and builds
/// whose specs pull from it by reference (`refs:`), each with its own cache and an environment
/// that finds no auth file but the test's own.
struct PullFixture {
    let f: ImageFixture
    let reg: TestRegistry
    var s: Scratch { f.s }
    var cache: String { s.at("cache") }

    /// `auth` makes what the registry's auth section needs in the scratch folder and returns the section.
    init(auth: (Scratch) throws -> String = { _ in "" }) throws {
        f = try ImageFixture()
        reg = try TestRegistry(f.s, extra: try auth(f.s))
        try FileManager.default.createDirectory(atPath: f.s.at("home"), withIntermediateDirectories: true)
    }

    /// An auth file as `skopeo login` writes one: {"auths": {KEY: {"auth": base64(user:password)}}}.
    func authFile(_ name: String, key: String, _ userPassword: String) throws -> String {
        let json = #"{"auths": {"\#(key)": {"auth": "\#(Data(userPassword.utf8).base64EncodedString())"}}}"#
        try FileManager.default.createDirectory(atPath: (s.at(name) as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        try json.write(toFile: s.at(name), atomically: true, encoding: .utf8)
        return s.at(name)
    }

    /// Copies an archive from the shared test data to `repoTag` on the registry ("example/app:1.0").
    func fill(_ archive: String, _ repoTag: String, creds: String? = nil, all: Bool = false) throws {
        let transport = archive.hasSuffix(".docker.tar") ? "docker-archive" : "oci-archive"
        let path = archive.hasPrefix("/") ? archive : f.archive(archive)
        try sh("skopeo copy -q \(all ? "--all " : "")--dest-tls-verify=false \(creds.map { "--dest-creds \($0) " } ?? "")\(transport):\(path) docker://\(reg.host)/\(repoTag)")
    }

    /// A spec with one images source: `refs`, and `platforms` when given.
    func spec(_ file: String, sequence: Int = 1, refs: [String], platforms: [String]? = nil, archives: [String] = []) throws -> String {
        var y = "name: images\nversion: \"v\(sequence)\"\nsequence: \(sequence)\nsources:\n  - name: platform\n    kind: images\n    refs:\n"
        y += refs.map { "      - \($0)\n" }.joined()
        if let platforms { y += "    platforms: [\(platforms.joined(separator: ", "))]\n" }
        if !archives.isEmpty { y += "    archives:\n" + archives.map { "      - \(f.archive($0))\n" }.joined() }
        try y.write(toFile: s.at(file), atomically: true, encoding: .utf8)
        return s.at(file)
    }

    /// `bundlectl build` with this fixture's cache, the registry named insecure (it speaks plain
    /// HTTP), and HOME and XDG_RUNTIME_DIR in the scratch folder.
    func build(_ spec: String, _ output: String, _ extra: [String] = [], insecure: [String]? = nil, env: [String: String] = [:]) throws -> Outcome {
        let flags = (insecure ?? [reg.host]).flatMap { ["--insecure-registry", $0] }
        var e = ["SOURCE_DATE_EPOCH": "1722470400", "HOME": s.at("home"), "XDG_RUNTIME_DIR": s.at("home"), "REGISTRY_AUTH_FILE": "",
                 "DOCKER_CONFIG": "", "XDG_CACHE_HOME": ""]
        for (k, v) in env { e[k] = v }
        return try run(Env.bundlectl, ["build", spec, "--key", f.key, "--output", s.at(output), "--cache", cache] + flags + extra, env: e)
    }

    /// `inspect --json`'s images.
    func images(_ bundle: String) throws -> [[String: Any]] {
        let r = try bundlectl("inspect", "--json", s.at(bundle))
        let o = try JSONSerialization.jsonObject(with: Data(r.out.utf8)) as? [String: Any]
        return o?["images"] as? [[String: Any]] ?? []
    }

    /// Requests bundlectl made that the registry logged, by method and a piece of the path ("/blobs/").
    func logged(_ method: String, _ part: String) throws -> Int {
        try String(contentsOfFile: reg.log, encoding: .utf8).split(separator: "\n")
            .filter { $0.contains("\"\(method) /v2/") && $0.contains(part) && $0.hasSuffix("\"bundlectl\"") }.count
    }

    /// A layout's index.json as {name: digest}, each digest checked against the bytes of its
    /// blob file (sha256sum of the file), so a name pointing at other bytes fails.
    func layoutDigests(_ layout: String) throws -> [String: String] {
        let out = try sh("""
            python3 - '\(layout)' <<'EOF'
            import hashlib, json, sys
            d = sys.argv[1]
            for m in json.load(open(d + '/index.json'))['manifests']:
                blob = open(d + '/blobs/sha256/' + m['digest'][7:], 'rb').read()
                ok = 'sha256:' + hashlib.sha256(blob).hexdigest() == m['digest'] and len(blob) == m['size']
                print(m.get('annotations', {}).get('org.opencontainers.image.ref.name', '-'), m['digest'] if ok else 'mismatch')
            EOF
            """)
        return Dictionary(out.split(separator: "\n").map { l in let w = l.split(separator: " "); return (String(w[0]), String(w[1])) }) { a, _ in a }
    }

    /// Uploads an OCI artifact the way `oras push` or Trivy's publisher would, over the
    /// distribution API: a tiny config and one gzip layer, both of Trivy DB's media types.
    /// Returns the manifest's digest.
    func pushArtifact(_ repoTag: String) throws -> String {
        let (repo, tag) = (String(repoTag.split(separator: ":")[0]), String(repoTag.split(separator: ":")[1]))
        return try sh("""
            python3 - '\(reg.host)' '\(repo)' '\(tag)' <<'EOF'
            import gzip, hashlib, json, sys, urllib.request
            host, repo, tag = sys.argv[1:4]
            def blob(data):
                d = 'sha256:' + hashlib.sha256(data).hexdigest()
                r = urllib.request.urlopen(urllib.request.Request('http://%s/v2/%s/blobs/uploads/' % (host, repo), method='POST'))
                loc = r.headers['Location']
                loc = ('http://' + host + loc) if loc.startswith('/') else loc
                urllib.request.urlopen(urllib.request.Request(loc + ('&' if '?' in loc else '?') + 'digest=' + d, data=data, method='PUT',
                                                              headers={'Content-Type': 'application/octet-stream'}))
                return {'digest': d, 'size': len(data)}
            config = dict(blob(b'{}'), mediaType='application/vnd.aquasec.trivy.config.v1+json')
            layer = dict(blob(gzip.compress(b'vulnerability records ' * 4000, mtime=0)), mediaType='application/vnd.aquasec.trivy.db.layer.v1.tar+gzip',
                         annotations={'org.opencontainers.image.title': 'db.tar.gz'})
            m = json.dumps({'schemaVersion': 2, 'mediaType': 'application/vnd.oci.image.manifest.v1+json',
                            'artifactType': 'application/vnd.aquasec.trivy.config.v1+json', 'config': config, 'layers': [layer]}).encode()
            urllib.request.urlopen(urllib.request.Request('http://%s/v2/%s/manifests/%s' % (host, repo, tag), data=m, method='PUT',
                                                          headers={'Content-Type': 'application/vnd.oci.image.manifest.v1+json'}))
            print('sha256:' + hashlib.sha256(m).hexdigest())
            EOF
            """).trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// The temporary files the cache holds: none once a build has ended, whatever its end.
    func cacheLeftovers() throws -> [String] {
        (try? FileManager.default.contentsOfDirectory(atPath: cache + "/tmp")) ?? []
    }
}

/// A flaky front for a registry, in Python: each request's first try answers 503 (Retry-After: 0),
/// the second is passed on; blob GETs are held 0.3 s so downloads overlap. It logs every request,
/// and the most blob GETs it saw in flight at once.
final class FlakyProxy {
    private let process: Process
    let port: Int
    let log: String
    var host: String { "127.0.0.1:\(port)" }

    init(_ s: Scratch, to upstream: String) throws {
        port = try freePort()
        log = s.at("flaky.log")
        let script = s.at("flaky.py")
        try #"""
            import sys, threading, time, http.server, urllib.request, urllib.error
            port, upstream, log = int(sys.argv[1]), sys.argv[2], sys.argv[3]
            lock, seen, state = threading.Lock(), set(), {'now': 0, 'most': 0}
            class H(http.server.BaseHTTPRequestHandler):
                protocol_version = 'HTTP/1.1'
                def answer(self, method):
                    key = (method, self.path)
                    with lock:
                        first = key not in seen
                        seen.add(key)
                        open(log, 'a').write('%s %s %s\n' % ('503' if first else 'pass', method, self.path))
                    if first:
                        self.send_response(503); self.send_header('Retry-After', '0'); self.send_header('Content-Length', '0'); self.end_headers()
                        return
                    blob = '/blobs/' in self.path and method == 'GET'
                    if blob:
                        with lock:
                            state['now'] += 1; state['most'] = max(state['most'], state['now'])
                            open(log + '.most', 'w').write(str(state['most']))
                        time.sleep(0.3)
                    req = urllib.request.Request('http://' + upstream + self.path, method=method, headers={'Accept': self.headers.get('Accept', '*/*')})
                    try:
                        r = urllib.request.urlopen(req)
                    except urllib.error.HTTPError as e:
                        r = e
                    body = r.read()
                    if blob:
                        with lock: state['now'] -= 1
                    self.send_response(r.status if hasattr(r, 'status') else r.code)
                    for k in ['Content-Type', 'Docker-Content-Digest']:
                        if r.headers.get(k): self.send_header(k, r.headers[k])
                    self.send_header('Content-Length', r.headers.get('Content-Length', str(len(body))) if method == 'HEAD' else str(len(body)))
                    self.end_headers()
                    if method != 'HEAD': self.wfile.write(body)
                def do_GET(self): self.answer('GET')
                def do_HEAD(self): self.answer('HEAD')
                def log_message(self, *a): pass
            http.server.ThreadingHTTPServer(('127.0.0.1', port), H).serve_forever()
            """#.write(toFile: script, atomically: true, encoding: .utf8)
        process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", script, String(port), upstream, log]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        var tries = 0
        while try httpStatus("GET", "http://\(host)/v2/") == 0 && tries < 200 {
            usleep(50_000)
            tries += 1
        }
    }

    /// (answered 503, passed on) for requests whose line contains `part`.
    func requests(_ part: String) -> (failed: Int, passed: Int) {
        let lines = ((try? String(contentsOfFile: log, encoding: .utf8)) ?? "").split(separator: "\n").filter { $0.contains(part) }
        return (lines.filter { $0.hasPrefix("503 ") }.count, lines.filter { $0.hasPrefix("pass ") }.count)
    }

    var mostBlobsAtOnce: Int { Int((try? String(contentsOfFile: log + ".most", encoding: .utf8)) ?? "") ?? 0 }

    deinit {
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
    }
}

@Suite("bundlectl build pulls refs: from a real registry", .serialized)
struct RegistryPullTests {
    @Test("a spec of refs builds; the mirror's layout serves the registry's digests; the same spec again pulls nothing")
    func pullApplyAgain() throws {
        let p = try PullFixture()
        try p.fill("example-app-1.0.oci.tar", "example/app:1.0")
        try p.fill("example-base-1.docker.tar", "example/base:1")
        let refs = ["\(p.reg.host)/example/app:1.0", "\(p.reg.host)/example/base:1"]
        let spec = try p.spec("pull.yaml", refs: refs)
        let b = try p.build(spec, "b1.bundle")
        #expect(b.status == 0, "\(b.text)")
        #expect(b.out.contains("from registries, 0 (0 bytes) from the cache"), "\(b.out)")
        let (blobGets, manifestGets) = (try p.logged("GET", "/blobs/"), try p.logged("GET", "/manifests/"))
        #expect(blobGets > 0 && manifestGets == 2, "\(blobGets) blobs, \(manifestGets) manifests")

        // The bundle records each reference, the digest it resolved to and when.
        let want = [try p.reg.manifestDigest("example/app:1.0"), try p.reg.manifestDigest("example/base:1")]
        let images = try p.images("b1.bundle")
        #expect(images.map { $0["pulledFrom"] as? String } == refs, "\(images)")
        #expect(images.map { $0["ref"] as? String } == refs)
        #expect(images.map { $0["digest"] as? String } == want, "\(images)")
        #expect(images.allSatisfy { ($0["resolvedAt"] as? String)?.hasSuffix("Z") == true && $0["reducedFrom"] is NSNull })

        // Applied: the mirror's layout names each image with the registry's digest and holds
        // the registry's bytes under it; skopeo reads the OCI one (its oci: transport skips
        // entries of Docker media types, which base:1 keeps, as the registry serves it).
        let m = try p.f.mirror()
        let a = try mirrorctl("apply", p.s.at("b1.bundle"), "--mirror", m)
        #expect(a.status == 0, "\(a.text)")
        #expect(try p.layoutDigests(m + "/current/images") == Dictionary(uniqueKeysWithValues: zip(refs, want)))
        let seen = try run("/bin/bash", ["-c", "set -o pipefail; skopeo inspect --raw 'oci:\(m)/current/images:\(refs[0])' | sha256sum | cut -d' ' -f1"])
        #expect("sha256:" + seen.out.trimmingCharacters(in: .whitespacesAndNewlines) == want[0], "\(seen.text)")
        #expect(try sh("skopeo inspect 'oci:\(m)/current/images:\(refs[0])' | python3 -c 'import json,sys; print(json.load(sys.stdin)[\"Architecture\"])'") == "amd64\n")

        // Again from the same cache: every blob and manifest from the cache, none asked for.
        let again = try p.build(spec, "b2.bundle")
        #expect(again.status == 0, "\(again.text)")
        #expect(again.out.contains("pulled     0 manifests and blobs (0 bytes) from registries, "), "\(again.out)")
        #expect(try p.logged("GET", "/blobs/") == blobGets && p.logged("GET", "/manifests/") == manifestGets)
        #expect(try p.logged("HEAD", "/manifests/") == 4)
        #expect(try p.images("b2.bundle").map { $0["digest"] as? String } == want)
        #expect(try p.cacheLeftovers().isEmpty)
    }

    @Test("a second month adding one image carries only its new blobs; artifacts of any media type and tarballs ride along")
    func deltaAndArtifacts() throws {
        let p = try PullFixture()
        try p.fill("example-app-1.0.oci.tar", "example/app:1.0")
        try p.fill("example-app-1.1.oci.tar", "example/app:1.1")
        let trivy = try p.pushArtifact("aquasecurity/trivy-db:2")
        let (app10, app11, db) = ("\(p.reg.host)/example/app:1.0", "\(p.reg.host)/example/app:1.1", "\(p.reg.host)/aquasecurity/trivy-db:2")

        // Month 1: app 1.0, the artifact and a docker save tarball in the same source.
        let b1 = try p.build(try p.spec("m1.yaml", sequence: 1, refs: [app10, db], archives: ["example-base-1.docker.tar"]), "m1.bundle")
        #expect(b1.status == 0, "\(b1.text)")
        let images = try p.images("m1.bundle")
        // Sorted by name, as the layout's index.json is.
        #expect(images.map { $0["ref"] as? String } == [db, app10, "example/base:1"], "\(images)")
        #expect(images[0]["digest"] as? String == trivy && images[0]["mediaType"] as? String == "application/vnd.oci.image.manifest.v1+json")
        #expect(images[2]["pulledFrom"] is NSNull && images[2]["resolvedAt"] is NSNull)

        // Month 2 adds app 1.1: only its blobs are pulled, and the delta carries only them and index.json.
        let spec2 = try p.spec("m2.yaml", sequence: 2, refs: [app10, app11, db], archives: ["example-base-1.docker.tar"])
        let full2 = try p.build(spec2, "m2-full.bundle")
        #expect(full2.status == 0, "\(full2.text)")
        let new = Set(try p.f.indexPaths(p.s.at("m2-full.bundle"))).subtracting(try p.f.indexPaths(p.s.at("m1.bundle")))
        #expect(new.count == 3 && new.allSatisfy { $0.hasPrefix("images/blobs/sha256/") }, "\(new)")
        #expect(full2.out.contains("pulled     3 manifests and blobs ("), "\(full2.out)")
        let d2 = try p.build(spec2, "m2.bundle", ["--base", p.s.at("m1.bundle")])
        #expect(d2.status == 0, "\(d2.text)")
        #expect(Set(try p.f.indexPaths(p.s.at("m2.bundle"))) == new.union(["images/index.json"]))
        #expect(d2.out.contains("pulled     0 manifests and blobs (0 bytes) from registries"), "\(d2.out)")

        // Applied in turn: the mirror serves 1.1 with the registry's digest, and the artifact as it was pushed.
        let m = try p.f.mirror()
        #expect(try mirrorctl("apply", p.s.at("m1.bundle"), "--mirror", m).status == 0)
        let a = try mirrorctl("apply", p.s.at("m2.bundle"), "--mirror", m)
        #expect(a.status == 0, "\(a.text)")
        let layout = try p.layoutDigests(m + "/current/images")
        #expect(layout[app11] == (try p.reg.manifestDigest("example/app:1.1")) && layout[db] == trivy, "\(layout)")
        let seen = try sh("skopeo inspect --raw 'oci:\(m)/current/images:\(db)' | python3 -c 'import json,sys; print(json.load(sys.stdin)[\"layers\"][0][\"mediaType\"])'")
        #expect(seen == "application/vnd.aquasec.trivy.db.layer.v1.tar+gzip\n")
    }

    @Test("Trivy's database artifact: pulled, carried, applied, pushed to the enclave registry with its digest and media types; ORAS pulls the file back")
    func artifactToEnclave() throws {
        let p = try PullFixture()
        let digest = try p.pushArtifact("aquasecurity/trivy-db:2")
        let ref = "\(p.reg.host)/aquasecurity/trivy-db:2"
        #expect(try p.build(try p.spec("a.yaml", refs: [ref]), "a.bundle").status == 0)
        let m = try p.f.mirror()
        #expect(try mirrorctl("apply", p.s.at("a.bundle"), "--mirror", m).status == 0)

        let enclave = try TestRegistry(p.s, name: "enclave")
        let pushed = try mirrorctl("push", "--mirror", m, "--registry", enclave.host, "--insecure")
        #expect(pushed.status == 0, "\(pushed.text)")
        // Under the name without the upstream registry, byte for byte the manifest that was pulled.
        #expect(try enclave.manifestDigest("aquasecurity/trivy-db:2") == digest)
        let raw = try sh("skopeo inspect --raw --tls-verify=false docker://\(enclave.host)/aquasecurity/trivy-db:2")
        #expect(raw.contains("application/vnd.aquasec.trivy.db.layer.v1.tar+gzip") && raw.contains("application/vnd.aquasec.trivy.config.v1+json"), "\(raw)")

        // A real ORAS client, the library family Trivy pulls its database with.
        let out = p.s.at("oras-out")
        try sh("""
            python3 - '\(enclave.host)' '\(out)' <<'EOF'
            import sys, oras.client
            host, out = sys.argv[1:3]
            oras.client.OrasClient(hostname=host, insecure=True).pull(target=host + '/aquasecurity/trivy-db:2', outdir=out)
            EOF
            """)
        let layer = try sh("python3 -c \"import json; print(json.load(open('\(m)/current/images/blobs/sha256/\(digest.dropFirst(7))'))['layers'][0]['digest'][7:])\"")
            .trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(try sh("sha256sum \(out)/db.tar.gz | cut -c1-64").trimmingCharacters(in: .whitespacesAndNewlines) == layer)
        #expect(try sh("zcat \(out)/db.tar.gz | head -c 22") == "vulnerability records ")
    }

    @Test("credentials from auth files: HTTP basic (htpasswd), bearer tokens from a token service; a wrong password, none at all")
    func auth() throws {
        // HTTP basic: docker-registry's htpasswd (bcrypt, made by libcrypt through perl).
        let p = try PullFixture { s in
            try sh("perl -e 'print \"alice:\", crypt(\"s3cret\", q{$2b$05$} . \"abcdefghijklmnopqrstuu\"), \"\\n\"' > \(s.at("htpasswd"))")
            return "auth: {htpasswd: {realm: test, path: \(s.at("htpasswd"))}}"
        }
        try p.fill("example-app-1.0.oci.tar", "example/app:1.0", creds: "alice:s3cret")
        let spec = try p.spec("auth.yaml", refs: ["\(p.reg.host)/example/app:1.0"])
        let host = p.reg.host
        try authCases(p, spec, realm: nil, none: "registry \(host) asks for a user name and password; no credentials for it in the auth files "
                        + "(REGISTRY_AUTH_FILE, ${XDG_RUNTIME_DIR}/containers/auth.json, ~/.docker/config.json): log in with `skopeo login \(host)`",
                      wrong: { "registry \(host) refused the user name and password from \($0) (\(host))" })
        // Docker's own file under HOME, its key written with a scheme and a slash, as `docker login` writes it.
        _ = try p.authFile("home/.docker/config.json", key: "http://\(host)/", "alice:s3cret")
        let docker = try p.build(spec, "docker.bundle")
        #expect(docker.status == 0, "\(docker.text)")
        try helperCases(p, spec)

        // Bearer: a token service (Python, tokens signed RS256 by openssl) the registry trusts.
        let tokenPort = try freePort()
        var service: TokenService?
        let t = try PullFixture { s in
            try sh("openssl req -x509 -newkey rsa:2048 -nodes -keyout \(s.at("tok.key")) -out \(s.at("tok.crt")) -days 2 -subj /CN=token >/dev/null 2>&1")
            service = try TokenService(s, port: tokenPort)
            return """
                auth: {token: {realm: "http://127.0.0.1:\(tokenPort)/token", service: test-registry, issuer: test-issuer, rootcertbundle: \(s.at("tok.crt"))}}
                """
        }
        try t.fill("example-app-1.0.oci.tar", "example/app:1.0", creds: "alice:s3cret")
        let tspec = try t.spec("auth.yaml", refs: ["\(t.reg.host)/example/app:1.0"])
        let realm = "the token service http://127.0.0.1:\(tokenPort)/token of registry \(t.reg.host)"
        try authCases(t, tspec, realm: "127.0.0.1:\(tokenPort)",
                      none: "\(realm) asks for a user name and password; no credentials for it in the auth files "
                        + "(REGISTRY_AUTH_FILE, ${XDG_RUNTIME_DIR}/containers/auth.json, ~/.docker/config.json): log in with `skopeo login \(t.reg.host)`",
                      wrong: { "\(realm) refused the user name and password from \($0) (\(t.reg.host))" })
        #expect((service?.requests() ?? 0) > 0)
        // A helper's Username "<token>": its Secret is an identity token, traded at the realm by
        // OAuth2's refresh-token grant (POST), never sent to the registry as a password.
        let helpers = try CredentialHelpers(t.s)
        let tokenFile = try helpers.file("token.json", #"{"credHelpers": {"\#(t.reg.host)": "token"}}"#)
        let identity = try t.build(tspec, "identity.bundle", insecure: [t.reg.host, "127.0.0.1:\(tokenPort)"],
                                   env: helpers.env(["REGISTRY_AUTH_FILE": tokenFile]))
        #expect(identity.status == 0, "\(identity.text)")
        #expect(try String(contentsOfFile: t.s.at("token.log"), encoding: .utf8).contains("POST /token refresh_token"))
        #expect(!identity.text.contains("refresh-alice"))
        // A realm on plain HTTP gets the credentials only when --insecure-registry names it too.
        let plain = try t.build(tspec, "plain.bundle", env: ["REGISTRY_AUTH_FILE": t.s.at("right.json")])
        #expect(plain.status == 3 && plain.err == "bundlectl: source 'platform': image \(t.reg.host)/example/app:1.0: registry \(t.reg.host) names a token realm "
                + "on plain HTTP, http://127.0.0.1:\(tokenPort)/token; bundlectl speaks plain HTTP only to a HOST:PORT named with --insecure-registry (here 127.0.0.1:\(tokenPort))\n",
                "\(plain.text)")
    }

    /// None, a wrong password, the right one (from REGISTRY_AUTH_FILE): what each says, and that
    /// the right one pulls. `realm` is the token service's HOST:PORT, named insecure too.
    private func authCases(_ p: PullFixture, _ spec: String, realm: String?, none: String, wrong: (String) -> String,
                           sourceLocation: SourceLocation = #_sourceLocation) throws {
        let insecure = [p.reg.host] + (realm.map { [$0] } ?? [])
        let image = "bundlectl: source 'platform': image \(p.reg.host)/example/app:1.0: "
        let noCreds = try p.build(spec, "none.bundle", insecure: insecure)
        #expect(noCreds.status == 3 && noCreds.err == image + none + "\n", "\(noCreds.text)", sourceLocation: sourceLocation)
        let bad = try p.authFile("wrong.json", key: p.reg.host, "alice:wrong")
        let refused = try p.build(spec, "wrong.bundle", insecure: insecure, env: ["REGISTRY_AUTH_FILE": bad])
        #expect(refused.status == 3 && refused.err == image + wrong(bad) + "\n", "\(refused.text)", sourceLocation: sourceLocation)
        let good = try p.authFile("right.json", key: p.reg.host, "alice:s3cret")
        let right = try p.build(spec, "right.bundle", insecure: insecure, env: ["REGISTRY_AUTH_FILE": good])
        #expect(right.status == 0, "\(right.text)", sourceLocation: sourceLocation)
        for name in ["none.bundle", "wrong.bundle"] { #expect(!FileManager.default.fileExists(atPath: p.s.at(name)), sourceLocation: sourceLocation) }
        let seen = try run("/bin/bash", ["-c", "set -o pipefail; skopeo inspect --raw --tls-verify=false --creds alice:s3cret docker://\(p.reg.host)/example/app:1.0 | sha256sum | cut -d' ' -f1"])
        #expect(try p.images("right.bundle").first?["digest"] as? String == "sha256:" + seen.out.trimmingCharacters(in: .whitespacesAndNewlines),
                sourceLocation: sourceLocation)
        // The password never appears in what bundlectl says.
        #expect(!(noCreds.text + refused.text + right.text).contains("s3cret"), sourceLocation: sourceLocation)
    }

    @Test("platforms: an index is kept whole, or reduced to the platforms asked for by a new index that says so")
    func platforms() throws {
        let p = try PullFixture()
        try p.fill(try p.f.multiArchive(), "example/multi:1", all: true)
        let ref = "\(p.reg.host)/example/multi:1"
        let upstream = try #require(try p.reg.manifestDigest("example/multi:1"))
        let children = try sh("skopeo inspect --raw --tls-verify=false docker://\(ref) | python3 -c 'import json,sys; [print(m[\"platform\"][\"architecture\"], m[\"digest\"]) for m in json.load(sys.stdin)[\"manifests\"]]'")
        let child = Dictionary(uniqueKeysWithValues: children.split(separator: "\n").map { l in (String(l.split(separator: " ")[0]), String(l.split(separator: " ")[1])) })

        let whole = try p.build(try p.spec("whole.yaml", refs: [ref]), "whole.bundle")
        #expect(whole.status == 0, "\(whole.text)")
        let w = try #require(try p.images("whole.bundle").first)
        #expect(w["digest"] as? String == upstream && w["reducedFrom"] is NSNull && w["platforms"] as? [String] == ["linux/amd64", "linux/arm64"], "\(w)")

        let arm = try p.build(try p.spec("arm.yaml", refs: [ref], platforms: ["linux/arm64"]), "arm.bundle")
        #expect(arm.status == 0, "\(arm.text)")
        let a = try #require(try p.images("arm.bundle").first)
        #expect(a["digest"] as? String != upstream && a["reducedFrom"] as? String == upstream && a["platforms"] as? [String] == ["linux/arm64"], "\(a)")
        #expect(try bundlectl("inspect", p.s.at("arm.bundle")).out.contains("; an index reduced to these platforms from the registry's \(upstream)"))
        // The amd64 manifest stays behind; the arm64 one travels with the registry's digest.
        let paths = try p.f.indexPaths(p.s.at("arm.bundle"))
        #expect(!paths.contains("images/blobs/sha256/" + (child["amd64"] ?? "?").dropFirst(7)) && paths.contains("images/blobs/sha256/" + (child["arm64"] ?? "?").dropFirst(7)))
        let m = try p.f.mirror()
        #expect(try mirrorctl("apply", p.s.at("arm.bundle"), "--mirror", m).status == 0)
        let index = try sh("skopeo inspect --raw 'oci:\(m)/current/images:\(ref)'")
        let o = try JSONSerialization.jsonObject(with: Data(index.utf8)) as? [String: Any]
        #expect((o?["annotations"] as? [String: String]) == ["org.airgap-bundles.reduced-from": upstream, "org.airgap-bundles.platforms": "linux/arm64"], "\(index)")
        #expect(((o?["manifests"] as? [[String: Any]]) ?? []).map { $0["digest"] as? String } == [child["arm64"]])

        let none = try p.build(try p.spec("none.yaml", refs: [ref], platforms: ["windows/amd64"]), "none.bundle")
        #expect(none.status == 2 && none.err == "bundlectl: source 'platform': image \(ref) lists linux/amd64, linux/arm64; platforms: names none of them\n", "\(none.text)")
        #expect(!FileManager.default.fileExists(atPath: p.s.at("none.bundle")))
    }

    @Test("refused with one line and an exit code, nothing written: unknown tag, pin mismatch, corrupted blob, plain HTTP, TLS")
    func refusals() throws {
        let p = try PullFixture()
        try p.fill("example-app-1.0.oci.tar", "example/app:1.0")
        try p.fill("example-app-1.1.oci.tar", "example/app:1.1")
        let (h, d10, d11) = (p.reg.host, try #require(try p.reg.manifestDigest("example/app:1.0")), try #require(try p.reg.manifestDigest("example/app:1.1")))
        func refused(_ refs: [String], _ status: Int32, _ message: String, insecure: [String]? = nil, sourceLocation: SourceLocation = #_sourceLocation) throws {
            let out = "refused-\(UUID().uuidString).bundle"
            let r = try p.build(try p.spec("r.yaml", refs: refs), out, insecure: insecure)
            #expect(r.status == status && r.err == "bundlectl: source 'platform': image \(refs[0]): \(message)\n", "\(r.text)", sourceLocation: sourceLocation)
            #expect(r.out.isEmpty && !FileManager.default.fileExists(atPath: p.s.at(out)), sourceLocation: sourceLocation)
            #expect(try p.cacheLeftovers().isEmpty, sourceLocation: sourceLocation)
        }
        try refused(["\(h)/example/app:9.9"], 2, "registry \(h) has no tag 9.9 in example/app (MANIFEST_UNKNOWN: manifest unknown)")
        try refused(["\(h)/example/nothing:1"], 2, "registry \(h) has no tag 1 in example/nothing (MANIFEST_UNKNOWN: manifest unknown)")
        try refused(["\(h)/example/app@sha256:" + String(repeating: "0", count: 64)], 2,
                    "registry \(h) has no manifest sha256:\(String(repeating: "0", count: 64)) in example/app (MANIFEST_UNKNOWN: manifest unknown)")
        try refused(["\(h)/example/app:1.0@\(d11)"], 1, "tag 1.0 on registry \(h) is \(d10), but the spec pins \(d11); "
                    + "pin the digest the tag names now, or drop the tag to carry the pinned image")

        // A layer only 1.1 has, overwritten inside the registry's storage: same size, other bytes; then one byte longer.
        let layers = { (tag: String) in try sh("skopeo inspect --raw --tls-verify=false docker://\(h)/example/app:\(tag) | python3 -c 'import json,sys; [print(l[\"digest\"][7:]) for l in json.load(sys.stdin)[\"layers\"]]'") }
        let layer = try #require(Set(try layers("1.1").split(separator: "\n")).subtracting(try layers("1.0").split(separator: "\n")).first)
        let data = p.reg.storage + "/docker/registry/v2/blobs/sha256/\(layer.prefix(2))/\(layer)/data"
        let size = try #require(try FileManager.default.attributesOfItem(atPath: data)[.size] as? Int)
        let other = try sh("head -c \(size) /dev/urandom > \(data) && sha256sum \(data) | cut -d' ' -f1").trimmingCharacters(in: .whitespacesAndNewlines)
        try refused(["\(h)/example/app:1.1"], 1, "blob sha256:\(layer): registry \(h) served other bytes: they hash to sha256:\(other)")
        try sh("printf x >> \(data)")
        try refused(["\(h)/example/app:1.1"], 1, "blob sha256:\(layer): registry \(h) sent more than the \(size) bytes expected")
        #expect(!FileManager.default.fileExists(atPath: p.cache + "/blobs/sha256/\(layer)"))

        // Plain HTTP only for a registry named with --insecure-registry.
        try refused(["\(h)/example/app:1.0"], 3, "registry \(h) speaks plain HTTP, not HTTPS (it answered the TLS handshake without TLS); "
                    + "if the network to it is trusted, name it with --insecure-registry \(h)", insecure: [])
        // HTTPS with a certificate the system does not trust: refused at once, with what to do.
        try sh("openssl req -x509 -newkey rsa:2048 -nodes -keyout \(p.s.at("tls.key")) -out \(p.s.at("tls.crt")) -days 2 -subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1 >/dev/null 2>&1")
        let tls = try TestRegistry(p.s, name: "tls", http: ", tls: {certificate: \(p.s.at("tls.crt")), key: \(p.s.at("tls.key"))}")
        try refused(["\(tls.host)/example/app:1.0"], 3, "cannot talk HTTPS to registry \(tls.host): SSL certificate problem: self-signed certificate; "
                    + "trust its certificate authority in the system's store (update-ca-certificates)", insecure: [])
        try refused(["\(tls.host)/example/app:1.0"], 3, "registry \(tls.host) answered HTTP 400 to plain HTTP; if it speaks HTTPS, drop --insecure-registry \(tls.host)",
                    insecure: [tls.host])
        #expect(try tls.requests("GET") + tls.requests("HEAD") == 0)
        let flag = try p.build(try p.spec("r.yaml", refs: ["\(h)/example/app:1.0"]), "flag.bundle", insecure: ["http://\(h)"])
        #expect(flag.status == 2 && flag.err.contains("--insecure-registry 'http://\(h)' is not HOST or HOST:PORT"), "\(flag.text)")
    }

    @Test("HTTP 503 is retried; at most four blobs download at once; a damaged cache blob is hashed, dropped and pulled again")
    func retriesConcurrencyCache() throws {
        let p = try PullFixture()
        // An image of six small layers, made with umoci.
        let l = p.s.at("umoci")
        try sh("""
            umoci init --layout \(l) >/dev/null && umoci new --image \(l):x >/dev/null
            for i in 1 2 3 4 5 6; do mkdir -p \(l)-src && head -c 20000 /dev/urandom > \(l)-src/f$i && umoci insert --image \(l):x \(l)-src/f$i /f$i >/dev/null; done
            skopeo copy -q --dest-tls-verify=false oci:\(l):x docker://\(p.reg.host)/example/layers:1
            """)
        let proxy = try FlakyProxy(p.s, to: p.reg.host)
        let spec = try p.spec("flaky.yaml", refs: ["\(proxy.host)/example/layers:1"])
        let b = try p.build(spec, "flaky.bundle", insecure: [proxy.host])
        #expect(b.status == 0, "\(b.text)")
        let blobs = proxy.requests("/blobs/")
        // Config and six layers: each asked twice, its first try answered 503.
        #expect(blobs.failed == 7 && blobs.passed == 7, "\(blobs)")
        #expect(proxy.requests("/manifests/") == (2, 2))
        #expect(proxy.mostBlobsAtOnce == 4, "\(proxy.mostBlobsAtOnce)")

        // A cached layer overwritten: hashed before use, found wrong, dropped and pulled again.
        let layer = try #require(try FileManager.default.contentsOfDirectory(atPath: p.cache + "/blobs/sha256").sorted().first)
        try sh("printf damaged > \(p.cache)/blobs/sha256/\(layer)")
        let again = try p.build(spec, "again.bundle", insecure: [proxy.host])
        #expect(again.status == 0, "\(again.text)")
        #expect(again.out.contains("pulled     1 manifests and blobs ("), "\(again.out)")
        #expect(try sh("sha256sum \(p.cache)/blobs/sha256/\(layer) | cut -d' ' -f1") == layer + "\n")
    }
}
