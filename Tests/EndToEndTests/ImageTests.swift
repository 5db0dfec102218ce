import Foundation
import Testing

/// The real images in testdata/images, and skopeo, umoci and python3 to make more.
struct ImageFixture {
    let s: Scratch
    let key: String, pub: String
    static let images = Env.testdata + "/images"

    init() throws {
        s = try Scratch()
        (key, pub) = try s.key("op")
    }

    func archive(_ name: String) -> String { "\(ImageFixture.images)/\(name)" }

    /// A spec with one images source per entry: (name, [archive paths]).
    func spec(_ file: String, sequence: Int, _ sources: [(String, [String])]) throws -> String {
        var y = "name: images\nversion: \"v\(sequence)\"\nsequence: \(sequence)\nsources:\n"
        for (n, archives) in sources {
            y += "  - name: \(n)\n    kind: images\n    archives:\n" + archives.map { "      - \($0)\n" }.joined()
        }
        try y.write(toFile: s.at(file), atomically: true, encoding: .utf8)
        return s.at(file)
    }

    func build(_ spec: String, _ output: String, _ extra: String...) throws -> Outcome {
        try run(Env.bundlectl, ["build", spec, "--key", key, "--output", s.at(output)] + extra, env: ["SOURCE_DATE_EPOCH": "1722470400"])
    }

    func mirror(_ name: String = "mirror") throws -> String {
        let m = s.at(name)
        try sh("\(Env.mirrorctl) init --mirror \(m) --trust \(pub) >/dev/null")
        return m
    }

    /// What skopeo says of an image: its manifest digest and its config digest.
    func digests(_ ref: String) throws -> (manifest: String, config: String) {
        let raw = try sh("skopeo inspect --raw '\(ref)'")
        let manifest = "sha256:" + (try sh("skopeo inspect --raw '\(ref)' | sha256sum | cut -d' ' -f1")).trimmingCharacters(in: .whitespacesAndNewlines)
        let object = try JSONSerialization.jsonObject(with: Data(raw.utf8)) as? [String: Any]
        let config = (object?["config"] as? [String: Any])?["digest"] as? String ?? "(none)"
        return (manifest, config)
    }

    /// The paths a bundle's INDEX names, read with stock tar, zstd and python.
    func indexPaths(_ bundle: String) throws -> [String] {
        let out = try sh("""
            tar -xOf \(bundle) INDEX.zst | zstd -dc | python3 -c 'import json,sys; [print(f[0]) for f in json.load(sys.stdin)["files"]]'
            """)
        return out.split(separator: "\n").map(String.init)
    }

    /// An OCI archive holding a two-platform index (base:1 as amd64, app:1.0 as arm64) named example/multi:1.
    func multiArchive() throws -> String {
        let idx = s.at("multi-layout")
        try sh("""
            skopeo copy -q oci-archive:\(archive("example-base-1.oci.tar")) oci:\(idx):a
            skopeo copy -q oci-archive:\(archive("example-app-1.0.oci.tar")) oci:\(idx):b
            python3 - <<'EOF'
            import json, hashlib
            d = '\(idx)'
            top = json.load(open(d + '/index.json'))
            ms = []
            for m, arch in zip(sorted(top['manifests'], key=lambda m: m['annotations']['org.opencontainers.image.ref.name']), ['amd64', 'arm64']):
                m = dict(m); m.pop('annotations'); m['platform'] = {'architecture': arch, 'os': 'linux'}; ms.append(m)
            body = json.dumps({'schemaVersion': 2, 'mediaType': 'application/vnd.oci.image.index.v1+json', 'manifests': ms}).encode()
            h = hashlib.sha256(body).hexdigest()
            open(d + '/blobs/sha256/' + h, 'wb').write(body)
            top['manifests'] = [{'mediaType': 'application/vnd.oci.image.index.v1+json', 'digest': 'sha256:' + h, 'size': len(body),
                                 'annotations': {'org.opencontainers.image.ref.name': 'example/multi:1'}}]
            json.dump(top, open(d + '/index.json', 'w'))
            EOF
            cd \(idx) && tar -cf \(s.at("multi.oci.tar")) oci-layout index.json blobs
            """)
        return s.at("multi.oci.tar")
    }
}

@Suite("Container images")
struct ImageTests {
    @Test("OCI and docker save tarballs become one OCI layout that skopeo reads, digests kept")
    func layoutDigests() throws {
        let f = try ImageFixture()
        let spec = try f.spec("s.yaml", sequence: 1, [
            ("base", [f.archive("example-base-1.oci.tar"), f.archive("example-app-1.0.docker.tar")]),
            ("apps", [f.archive("example-app-1.1.oci.tar")]),
        ])
        let b = try f.build(spec, "b.bundle")
        #expect(b.status == 0, "\(b.text)")
        let m = try f.mirror()
        let a = try mirrorctl("apply", f.s.at("b.bundle"), "--mirror", m)
        #expect(a.status == 0, "\(a.text)")
        #expect(a.out.contains("image") && a.out.contains("example/app:1.1"), "\(a.out)")
        let layout = m + "/current/images"

        // OCI inputs: manifest and config digests are the input's.
        for (ref, file) in [("example/base:1", "example-base-1.oci.tar"), ("example/app:1.1", "example-app-1.1.oci.tar")] {
            let want = try f.digests("oci-archive:\(f.archive(file))")
            let got = try f.digests("oci:\(layout):\(ref)")
            #expect(got.manifest == want.manifest && got.config == want.config, "\(ref): \(got) vs \(want)")
            let inspect = try sh("skopeo inspect oci:\(layout):\(ref)")
            #expect(inspect.contains(want.manifest))
        }
        // docker save input: the config digest is the image ID (the config file's name in the tarball).
        let imageID = try sh("tar -xOf \(f.archive("example-app-1.0.docker.tar")) manifest.json | python3 -c 'import json,sys; print(json.load(sys.stdin)[0][\"Config\"].split(\".\")[0])'")
            .trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(try f.digests("oci:\(layout):example/app:1.0").config == "sha256:\(imageID)")

        // skopeo copies an image out to a docker archive; its layers are the same bytes.
        try sh("skopeo copy -q oci:\(layout):example/app:1.0 docker-archive:\(f.s.at("out.tar")):example/app:1.0")
        let layers = try sh("tar -tf \(f.s.at("out.tar")) | grep -cE '^[0-9a-f]{64}\\.tar$' || true").trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(layers == "2")
        #expect(try sh("skopeo inspect --config docker-archive:\(f.s.at("out.tar"))").contains("\"rootfs\""))

        // umoci, another outside reader, unpacks an image from the layout.
        try sh("cp -r \(layout) \(f.s.at("copy")) && umoci unpack --rootless --image \(f.s.at("copy")):example/app:1.1 \(f.s.at("bundle-fs")) >/dev/null 2>&1")
        #expect(FileManager.default.fileExists(atPath: f.s.at("bundle-fs/rootfs/bin/dash")))
        #expect(try mirrorctl("verify", "--mirror", m).status == 0)
    }

    @Test("each blob stored once: the bundle is within 1% of the distinct blobs, and inspect says what sharing saved")
    func dedupAndSize() throws {
        let f = try ImageFixture()
        let archives = ["example-base-1.oci.tar", "example-app-1.0.oci.tar", "example-app-1.1.oci.tar"].map(f.archive)
        let spec = try f.spec("s.yaml", sequence: 1, [("all", archives)])
        #expect(try f.build(spec, "b.bundle").status == 0)
        // The distinct blobs of the three inputs, counted by an outside tool.
        let distinct = try sh("""
            d=\(f.s.at("x")); mkdir -p $d
            for a in \(archives.joined(separator: " ")); do tar -xf $a -C $d blobs; done
            du -cb $d/blobs/sha256/* | tail -1 | cut -f1
            """).trimmingCharacters(in: .whitespacesAndNewlines)
        let size = try FileManager.default.attributesOfItem(atPath: f.s.at("b.bundle"))[.size] as? Int ?? 0
        let sum = Int(distinct) ?? 0
        #expect(sum > 0 && Double(size) <= Double(sum) * 1.01, "bundle \(size) B, distinct blobs \(sum) B")
        // The shared base layer is stored once: the index has one object per distinct blob plus the two layout files.
        let blobs = try sh("ls \(f.s.at("x"))/blobs/sha256 | wc -l").trimmingCharacters(in: .whitespacesAndNewlines)
        let info = try bundlectl("inspect", f.s.at("b.bundle"), "--json")
        let json = try JSONSerialization.jsonObject(with: Data(info.out.utf8)) as? [String: Any] ?? [:]
        #expect(json["objects"] as? Int == (Int(blobs) ?? 0) + 2, "\(info.out)")
        let images = json["images"] as? [[String: Any]] ?? []
        #expect(images.map { $0["ref"] as? String ?? "" } == ["example/app:1.0", "example/app:1.1", "example/base:1"])
        #expect(images.allSatisfy { ($0["platforms"] as? [String]) == ["linux/amd64"] })
        let text = try bundlectl("inspect", f.s.at("b.bundle")).out
        #expect(text.contains("dedup") && text.contains("save"), "\(text)")
        // Reproducible: the same tarballs, key and time give the same bytes.
        #expect(try f.build(spec, "again.bundle").status == 0)
        try sh("cmp \(f.s.at("b.bundle")) \(f.s.at("again.bundle"))")
    }

    @Test("a delta from app 1.0 to 1.1 carries one layer, one config, one manifest and the layout index; blobs are hard-linked")
    func deltaOneLayer() throws {
        let f = try ImageFixture()
        let s1 = try f.spec("s1.yaml", sequence: 1, [("apps", [f.archive("example-app-1.0.oci.tar")])])
        let s2 = try f.spec("s2.yaml", sequence: 2, [("apps", [f.archive("example-app-1.1.oci.tar")])])
        #expect(try f.build(s1, "full1.bundle").status == 0)
        let d = try f.build(s2, "delta2.bundle", "--base", f.s.at("full1.bundle"))
        #expect(d.status == 0, "\(d.text)")

        // What 1.1 has that 1.0 lacks, by skopeo: its manifest, its config and its third layer.
        let raw = try sh("skopeo inspect --raw oci-archive:\(f.archive("example-app-1.1.oci.tar"))")
        let m11 = try JSONSerialization.jsonObject(with: Data(raw.utf8)) as? [String: Any] ?? [:]
        let config = ((m11["config"] as? [String: Any])?["digest"] as? String ?? "").replacingOccurrences(of: "sha256:", with: "")
        let layers = (m11["layers"] as? [[String: Any]] ?? []).compactMap { ($0["digest"] as? String)?.replacingOccurrences(of: "sha256:", with: "") }
        let manifest = try f.digests("oci-archive:\(f.archive("example-app-1.1.oci.tar"))").manifest.replacingOccurrences(of: "sha256:", with: "")
        let expected = (["images/index.json"] + [manifest, config, layers[2]].map { "images/blobs/sha256/\($0)" }).sorted()
        #expect(try f.indexPaths(f.s.at("delta2.bundle")).sorted() == expected)

        let m = try f.mirror()
        #expect(try mirrorctl("apply", f.s.at("full1.bundle"), "--mirror", m).status == 0)
        let r = try mirrorctl("apply", f.s.at("delta2.bundle"), "--mirror", m)
        #expect(r.status == 0, "\(r.text)")
        #expect(try f.digests("oci:\(m)/current/images:example/app:1.1").manifest == "sha256:\(manifest)")
        // The two shared layers are the same inodes in both retained versions: no new disk.
        for layer in layers.prefix(2) {
            let links = try sh("stat -c %h \(m)/current/images/blobs/sha256/\(layer)").trimmingCharacters(in: .whitespacesAndNewlines)
            #expect(Int(links) ?? 0 >= 2, "layer \(layer) has \(links) link(s)")
        }
        let inodes = try sh("stat -L -c %i \(m)/versions/*/tree/images/blobs/sha256/\(layers[0])").split(separator: "\n")
        #expect(inodes.count == 2 && Set(inodes).count == 1, "\(inodes)")
        #expect(try mirrorctl("verify", "--mirror", m).status == 0)
    }

    @Test("several images in one docker save tarball, a gzipped tarball and a multi-platform index")
    func moreShapes() throws {
        let f = try ImageFixture()
        // One docker save tarball holding two images, merged from two real ones.
        let multi = f.s.at("two.docker.tar")
        try sh("""
            python3 - <<'EOF'
            import tarfile, json, io
            seen = set(); manifests = []
            with tarfile.open('\(multi)', 'w', format=tarfile.PAX_FORMAT) as out:
                for src in ['\(f.archive("example-base-1.docker.tar"))', '\(f.archive("example-app-1.1.docker.tar"))']:
                    with tarfile.open(src) as t:
                        for m in t.getmembers():
                            if m.name == 'manifest.json': manifests += json.load(t.extractfile(m)); continue
                            if m.name in seen or m.name == 'repositories': continue
                            seen.add(m.name)
                            out.addfile(m, t.extractfile(m) if m.isfile() else None)
                data = json.dumps(manifests).encode()
                info = tarfile.TarInfo('manifest.json'); info.size = len(data)
                out.addfile(info, io.BytesIO(data))
            EOF
            gzip -c \(f.archive("example-app-1.0.oci.tar")) > \(f.s.at("app10.oci.tar.gz"))
            """)
        let spec = try f.spec("s.yaml", sequence: 1, [
            ("docker", [multi]), ("gz", [f.s.at("app10.oci.tar.gz")]), ("multi", [try f.multiArchive()]),
        ])
        let b = try f.build(spec, "b.bundle")
        #expect(b.status == 0, "\(b.text)")
        let m = try f.mirror()
        #expect(try mirrorctl("apply", f.s.at("b.bundle"), "--mirror", m).status == 0)
        let layout = m + "/current/images"
        for ref in ["example/base:1", "example/app:1.1", "example/app:1.0", "example/multi:1"] {
            #expect(try run("/usr/bin/skopeo", ["inspect", "--raw", "oci:\(layout):\(ref)"]).status == 0, "\(ref)")
        }
        #expect(try f.digests("oci:\(layout):example/app:1.0").manifest == (try f.digests("oci-archive:\(f.archive("example-app-1.0.oci.tar"))")).manifest)
        // The index is kept whole: skopeo copies every platform out of it.
        try sh("skopeo copy -q --all oci:\(layout):example/multi:1 oci:\(f.s.at("out")):m")
        let kept = try sh("skopeo inspect --raw oci:\(f.s.at("out")):m | python3 -c 'import json,sys; print(len(json.load(sys.stdin)[\"manifests\"]))'")
        #expect(kept.trimmingCharacters(in: .whitespacesAndNewlines) == "2")
        let inspect = try bundlectl("inspect", f.s.at("b.bundle")).out
        #expect(inspect.contains("example/multi:1") && inspect.contains("linux/amd64,linux/arm64"), "\(inspect)")
    }

    @Test("a blob that does not match its digest, a missing blob, the same name twice, not an image: refused by name, no bundle")
    func badArchives() throws {
        let f = try ImageFixture()
        // Flip one byte inside a layer of an OCI archive and of a docker archive, at offsets python's tarfile gives.
        let layer = "9b726660b4fce298eb3f9a65ed887926e9b25311ead13b2c976b5d43a62aefbe"
        try sh("""
            cp \(f.archive("example-app-1.0.oci.tar")) \(f.s.at("bad.oci.tar")); cp \(f.archive("example-app-1.0.docker.tar")) \(f.s.at("bad.docker.tar"))
            chmod u+w \(f.s.at("bad.oci.tar")) \(f.s.at("bad.docker.tar"))
            python3 - <<'EOF'
            import tarfile
            for path, name in [('\(f.s.at("bad.oci.tar"))', 'blobs/sha256/\(layer)'), ('\(f.s.at("bad.docker.tar"))', 'a7855ec7c806cca50f5f7dbe9467007d24fbaf13946f5eab0a6810020f134fda.tar')]:
                with tarfile.open(path) as t: off = t.getmember(name).offset_data + 1000
                with open(path, 'r+b') as fh:
                    fh.seek(off); b = fh.read(1); fh.seek(off); fh.write(bytes([b[0] ^ 0x40]))
            EOF
            tar -cf \(f.s.at("missing.oci.tar")) -C \(f.s.at("")) --files-from /dev/null
            mkdir \(f.s.at("m")) && tar -xf \(f.archive("example-app-1.0.oci.tar")) -C \(f.s.at("m")) && rm \(f.s.at("m"))/blobs/sha256/\(layer)
            tar -cf \(f.s.at("missing.oci.tar")) -C \(f.s.at("m")) .
            echo 'not a tarball' > \(f.s.at("junk.tar"))
            """)
        let cases: [(String, [String], Int32, [String])] = [
            ("oci", [f.s.at("bad.oci.tar")], 1, ["example/app:1.0", layer, "does not match"]),
            ("docker", [f.s.at("bad.docker.tar")], 1, ["example/app:1.0", "a7855ec7c806cca50f5f7dbe9467007d24fbaf13946f5eab0a6810020f134fda.tar", "does not match"]),
            ("missing", [f.s.at("missing.oci.tar")], 1, ["example/app:1.0", layer, "does not hold"]),
            ("twice", [f.archive("example-app-1.0.oci.tar"), f.archive("example-app-1.0.docker.tar")], 2, ["example/app:1.0", "keep one"]),
            ("junk", [f.s.at("junk.tar")], 1, ["junk.tar"]),
            ("absent", [f.s.at("nope.tar")], 2, ["nope.tar", "does not exist"]),
        ]
        for (name, archives, status, words) in cases {
            let spec = try f.spec("\(name).yaml", sequence: 1, [("s", archives)])
            let r = try f.build(spec, "\(name).bundle")
            #expect(r.status == status, "\(name): \(r.text)")
            #expect(words.allSatisfy { r.err.contains($0) }, "\(name): \(r.err)")
            #expect(r.err.split(separator: "\n").count == 1, "\(name): one line, got \(r.err)")
            #expect(!FileManager.default.fileExists(atPath: f.s.at("\(name).bundle")))
        }
        // The spec says what an images source needs.
        try "name: x\nversion: \"1\"\nsequence: 1\nsources:\n  - name: i\n    kind: images\n    path: /tmp\n".write(toFile: f.s.at("p.yaml"), atomically: true, encoding: .utf8)
        let r = try bundlectl("build", f.s.at("p.yaml"), "--key", f.key, "--output", f.s.at("p.bundle"))
        #expect(r.status == 2 && r.err.contains("archives") && r.err.contains(":5"), "\(r.err)")
    }
}
