import Foundation
import Testing

/// A real docker-registry on loopback, filled by skopeo from the test archives, and builds
/// whose specs pull from it by reference (`refs:`), each with its own cache and an environment
/// that finds no auth file but the test's own.
struct PullFixture {
    let f: ImageFixture
    let reg: TestRegistry
    var s: Scratch { f.s }
    var cache: String { s.at("cache") }

    init(auth: String = "") throws {
        f = try ImageFixture()
        reg = try TestRegistry(f.s, extra: auth)
        try FileManager.default.createDirectory(atPath: f.s.at("home"), withIntermediateDirectories: true)
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
}
