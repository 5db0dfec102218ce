import Foundation
import Testing

/// A scratch folder with a key, a feed tree to archive, and specs whose one source unpacks an archive.
private struct UnpackFixture {
    let s: Scratch
    let key: String, pub: String

    init() throws {
        s = try Scratch()
        (key, pub) = try s.key("op")
    }

    /// A feed like a scanner database's: a binary file that does not compress, JSON records in
    /// folders, an executable, an empty file and a name with a space and a non-ASCII letter.
    func makeFeed(_ dir: String = "feed") throws -> String {
        let d = s.at(dir)
        try sh("""
            mkdir -p \(d)/records/sub \(d)/bin
            head -c 300000 /dev/urandom > \(d)/vulnerability.db
            echo '{"schemaVersion": "v6.0.2", "built": "2026-06-01"}' > \(d)/metadata.json
            echo '{"id": "GHSA-1"}' > \(d)/records/GHSA-1.json
            echo '{"id": "PYSEC-2"}' > \(d)/records/sub/PYSEC-2.json
            printf '#!/bin/sh\\necho hi\\n' > \(d)/bin/run.sh && chmod 755 \(d)/bin/run.sh
            : > \(d)/empty
            echo '{}' > '\(d)/naïve name.json'
            """)
        return d
    }

    /// Archives the feed folder `dir` as `format` with stock tools, into `name`.
    func archive(_ dir: String, _ format: String, _ name: String) throws -> String {
        let (d, out) = (s.at(dir), s.at(name))
        switch format {
        case "tar": try sh("bsdtar -C \(d) -cf \(out) .")
        // GNU tar writes "./name" entries for "."; bsdtar and zstd give plain names.
        case "tar.gz": try sh("tar -C \(d) -czf \(out) .")
        case "tar.zst": try sh("cd \(d) && bsdtar -cf - * | zstd -q -19 -o \(out)")
        case "zip": try sh("python3 - \(d) \(out) <<'EOF'\n\(Self.zipScript)\nEOF")
        default: Issue.record("no format \(format)")
        }
        return out
    }

    /// Every folder and file of a tree, with its mode and time, as python3's zipfile writes them.
    static let zipScript = """
        import os, sys, zipfile
        src, out = sys.argv[1], sys.argv[2]
        with zipfile.ZipFile(out, 'w', zipfile.ZIP_DEFLATED) as z:
            for root, dirs, files in os.walk(src):
                dirs.sort()
                for n in dirs + sorted(files):
                    p = os.path.join(root, n)
                    z.write(p, os.path.relpath(p, src))
        """

    /// A spec whose one source, "db", unpacks `archive` (a path relative to the spec, or a URL).
    func spec(_ archive: String, file: String = "u.yaml", sequence: Int = 1, field: String = "path", extra: String = "") throws -> String {
        let y = "name: feeds\nversion: \"v\(sequence)\"\nsequence: \(sequence)\nsources:\n  - name: db\n    kind: advisories\n    \(field): \(archive)\n\(extra)    unpack: true\n"
        try y.write(toFile: s.at(file), atomically: true, encoding: .utf8)
        return s.at(file)
    }

    /// A new mirror trusting the fixture's key, with `bundle` applied; returns the unpacked source's folder.
    func apply(_ bundle: String, mirror: String = "mirror") throws -> String {
        let m = s.at(mirror)
        try sh("\(Env.mirrorctl) init --mirror \(m) --trust \(pub) >/dev/null && \(Env.mirrorctl) apply \(bundle) --mirror \(m) >/dev/null")
        return m + "/current/advisories/db"
    }

    /// Builds and expects a refusal: the exit code, one line holding `message`, and no bundle
    /// (nor the scratch folder beside it) left behind.
    @discardableResult
    func expectRefused(_ spec: String, status: Int32 = 2, _ message: String, sourceLocation: SourceLocation = #_sourceLocation) throws -> Outcome {
        let r = try bundlectl("build", spec, "--key", key, "--output", s.at("x.bundle"))
        #expect(r.status == status, "exit \(r.status): \(r.text)", sourceLocation: sourceLocation)
        #expect(r.err.contains(message), "message was: \(r.err)", sourceLocation: sourceLocation)
        #expect(r.err.split(separator: "\n").count == 1, "one line expected: \(r.err)", sourceLocation: sourceLocation)
        let left = try FileManager.default.contentsOfDirectory(atPath: s.path).filter { $0.hasPrefix("x.bundle") }
        #expect(left.isEmpty, "left behind: \(left)", sourceLocation: sourceLocation)
        return r
    }
}

@Suite("Archive sources (unpack: true): the archive's files become the source's, hostile archives are refused")
struct UnpackTests {
    @Test("tar, tar.gz, tar.zst and zip made by stock tools land as the files bsdtar extracts, executable bit kept, and build the same bytes twice",
          arguments: ["tar", "tar.gz", "tar.zst", "zip"])
    func formats(_ format: String) throws {
        let f = try UnpackFixture()
        _ = try f.makeFeed()
        let archive = try f.archive("feed", format, "db.\(format)")
        let b1 = try f.s.build(try f.spec("db.\(format)"), key: f.key, output: "1.bundle")
        let tree = try f.apply(b1)
        // The judge: what bsdtar extracts from the same archive, and how many regular files it lists.
        try sh("mkdir \(f.s.at("x")) && bsdtar -xf \(archive) -C \(f.s.at("x"))")
        #expect(try sameTree(f.s.at("x"), tree), "the mirror's tree differs from bsdtar's extraction")
        let listed = try sh("bsdtar -tvf \(archive) | grep -c '^-'").trimmingCharacters(in: .whitespacesAndNewlines)
        let carried = try sh("find \(tree)/ -type f | wc -l").trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(listed == "7" && carried == "7", "bsdtar lists \(listed) files, the mirror has \(carried)")
        try sh("test -x \(tree)/bin/run.sh && test ! -x \(tree)/metadata.json")
        // The same archive again: the same bytes.
        let b2 = try f.s.build(f.s.at("u.yaml"), key: f.key, output: "2.bundle")
        try sh("cmp \(b1) \(b2)")
    }

    @Test("the archive's times and owners do not reach the bundle: the same files archived later give the same bytes")
    func archiveMetadataDoesNotLeak() throws {
        let f = try UnpackFixture()
        _ = try f.makeFeed()
        _ = try f.archive("feed", "tar.zst", "db.tar.zst")
        let b1 = try f.s.build(try f.spec("db.tar.zst"), key: f.key, output: "1.bundle")
        try sh("""
            cp \(f.s.at("db.tar.zst")) \(f.s.at("old.tar.zst"))
            find \(f.s.at("feed")) -exec touch -h -d '2001-02-03 04:05:06' {} +
            rm \(f.s.at("db.tar.zst")) && cd \(f.s.at("feed")) && bsdtar --uid 1234 --gid 99 -cf - * | zstd -q -19 -o \(f.s.at("db.tar.zst"))
            ! cmp -s \(f.s.at("old.tar.zst")) \(f.s.at("db.tar.zst"))
            """)
        let b2 = try f.s.build(f.s.at("u.yaml"), key: f.key, output: "2.bundle")
        try sh("cmp \(b1) \(b2)")
    }

    @Test("a new database archive deltas by file: the delta carries the changed file, the rest is unchanged")
    func deltaByContent() throws {
        let f = try UnpackFixture()
        _ = try f.makeFeed()
        _ = try f.archive("feed", "tar.zst", "db-1.tar.zst")
        let full = try f.s.build(try f.spec("db-1.tar.zst", file: "1.yaml"), key: f.key, output: "1.bundle")
        try sh("echo '{\"id\": \"GHSA-3\"}' > \(f.s.at("feed"))/records/GHSA-3.json")
        let next = try f.archive("feed", "tar.zst", "db-2.tar.zst")
        let r = try bundlectl("build", try f.spec("db-2.tar.zst", file: "2.yaml", sequence: 2), "--key", f.key,
                              "--output", f.s.at("2.bundle"), "--base", full, "--json")
        #expect(r.status == 0, "\(r.text)")
        let json = try JSONSerialization.jsonObject(with: Data(r.out.utf8)) as? [String: Any]
        let delta = json?["delta"] as? [String: Any]
        #expect(delta?["whole"] as? Int == 1 && delta?["unchanged"] as? Int == 7, "\(r.out)")
        let tree = try f.apply(full)
        try sh("\(Env.mirrorctl) apply \(f.s.at("2.bundle")) --mirror \(f.s.at("mirror")) >/dev/null")
        try sh("mkdir \(f.s.at("x")) && bsdtar -xf \(next) -C \(f.s.at("x"))")
        #expect(try sameTree(f.s.at("x"), tree))
    }

    @Test("a URL source with a sha256 pin is fetched, checked as downloaded, then unpacked; a wrong pin stops it first")
    func url() throws {
        let f = try UnpackFixture()
        _ = try f.makeFeed()
        try sh("mkdir \(f.s.at("www"))")
        let archive = try f.archive("feed", "tar.zst", "www/vulnerability-db_v6.tar.zst")
        let digest = try sh("sha256sum \(archive) | cut -c1-64").trimmingCharacters(in: .whitespacesAndNewlines)
        let server = try HTTPServer(root: f.s.at("www"))
        defer { server.stop() }
        let url = "http://127.0.0.1:\(server.port)/vulnerability-db_v6.tar.zst"
        let b = try f.s.build(try f.spec(url, field: "url", extra: "    sha256: \(digest)\n"), key: f.key, output: "u.bundle")
        let tree = try f.apply(b)
        try sh("mkdir \(f.s.at("x")) && bsdtar -xf \(archive) -C \(f.s.at("x"))")
        #expect(try sameTree(f.s.at("x"), tree))
        let wrong = String(repeating: "0", count: 64)
        try f.expectRefused(try f.spec(url, field: "url", extra: "    sha256: \(wrong)\n"), status: 1, "but the spec pins \(wrong)")
    }

    /// Hostile archives, each written by python3's tarfile or zipfile as `hostile.tar` or
    /// `hostile.zip` (the script's argument picks one).
    static let hostileScript = #"""
        import io, struct, sys, tarfile, warnings, zipfile
        warnings.simplefilter('ignore')
        case = sys.argv[1]
        R, S, L, C, F = tarfile.REGTYPE, tarfile.SYMTYPE, tarfile.LNKTYPE, tarfile.CHRTYPE, tarfile.FIFOTYPE
        def tar(entries):
            with tarfile.open('hostile.tar', 'w', format=tarfile.PAX_FORMAT) as t:
                for name, typ, extra in entries:
                    ti = tarfile.TarInfo(name); ti.type = typ; data = None
                    if typ == R: data = extra or b'x'; ti.size = len(data)
                    elif typ in (S, L): ti.linkname = extra
                    elif typ == C: ti.devmajor, ti.devminor = 1, 3
                    elif typ == tarfile.DIRTYPE: ti.mode = 0o755
                    t.addfile(ti, io.BytesIO(data) if data else None)
        def zip(entries):
            with zipfile.ZipFile('hostile.zip', 'w') as z:
                for name, mode in entries:
                    zi = zipfile.ZipInfo(name); zi.create_system = 3; zi.external_attr = mode << 16
                    z.writestr(zi, b'/etc/passwd' if mode & 0o170000 == 0o120000 else b'x')
        ok = ('ok.json', R, None)
        if case == 'symlink': tar([ok, ('evil', S, '/etc/passwd')])
        if case == 'hardlink': tar([ok, ('evil', L, 'ok.json')])
        if case == 'dotdot': tar([ok, ('../x', R, None)])
        if case == 'inner-dotdot': tar([ok, ('a/../../x', R, None)])
        if case == 'absolute': tar([ok, ('/abs', R, None)])
        if case == 'device': tar([ok, ('null', C, None)])
        if case == 'fifo': tar([ok, ('pipe', F, None)])
        if case == 'duplicate': tar([ok, ('ok.json', R, b'other')])
        if case == 'control': tar([('evil\x1b[31m.json', R, None)])
        if case == 'file-and-folder': tar([('a', R, None), ('a/b', R, None)])
        if case == 'no-files': tar([('d/', tarfile.DIRTYPE, None)])
        if case == 'zip-symlink': zip([('ok.json', 0o100644), ('evil', 0o120777)])
        if case == 'zip-dotdot': zip([('ok.json', 0o100644), ('../x', 0o100644)])
        if case == 'zip-device': zip([('ok.json', 0o100644), ('null', 0o020644)])
        if case == 'zip-duplicate': zip([('ok.json', 0o100644), ('ok.json', 0o100644)])
        if case == 'declared-terabyte':
            # One header that says 1 TiB follows, and no data: refused by the header alone.
            ti = tarfile.TarInfo('huge.bin'); ti.size = 1 << 40
            open('hostile.tar', 'wb').write(ti.tobuf(format=tarfile.PAX_FORMAT))
        if case == 'not-an-archive': open('hostile.tar', 'wb').write(bytes(range(256)) * 20)
        """#

    @Test("a hostile archive is refused naming the archive and the entry, exit 2, and no bundle is written", arguments: [
        ("symlink", "archive 'hostile.tar': entry 'evil' is a symbolic link; bundles carry regular files only and never follow links"),
        ("hardlink", "archive 'hostile.tar': entry 'evil' is a hard link"),
        ("dotdot", "archive 'hostile.tar': entry '../x' has a '..' component; names in an archive must be plain relative paths inside the source"),
        ("inner-dotdot", "entry 'a/../../x' has a '..' component"),
        ("absolute", "archive 'hostile.tar': entry '/abs' is absolute"),
        ("device", "archive 'hostile.tar': entry 'null' is not a regular file (device, socket or FIFO)"),
        ("fifo", "archive 'hostile.tar': entry 'pipe' is not a regular file (device, socket or FIFO)"),
        ("duplicate", "archive 'hostile.tar': entry 'ok.json' appears twice"),
        ("control", "archive 'hostile.tar': entry 'evil\\u{1b}[31m.json' contains a control character (U+001B)"),
        ("file-and-folder", "archive 'hostile.tar': \"advisories/db/a\" is listed as a file and as the folder of \"advisories/db/a/b\""),
        ("no-files", "archive 'hostile.tar' holds no files"),
        ("zip-symlink", "archive 'hostile.zip': entry 'evil' is a symbolic link"),
        ("zip-dotdot", "archive 'hostile.zip': entry '../x' has a '..' component"),
        ("zip-device", "archive 'hostile.zip': entry 'null' is not a regular file (device, socket or FIFO)"),
        ("zip-duplicate", "archive 'hostile.zip': entry 'ok.json' appears twice"),
        ("declared-terabyte", "archive 'hostile.tar': entry 'huge.bin' is past the unpack limit: the archive unpacks to more than 67,108,864 bytes"),
        ("not-an-archive", "source 'db': 'hostile.tar' is not a readable tar or zip archive"),
    ])
    func hostile(_ kind: String, _ message: String) throws {
        let f = try UnpackFixture()
        try sh("cd \(f.s.path) && python3 - \(kind) <<'EOF'\n\(Self.hostileScript)\nEOF")
        let archive = kind.hasPrefix("zip-") ? "hostile.zip" : "hostile.tar"
        let r = try f.expectRefused(try f.spec(archive), message)
        #expect(r.err.hasPrefix("bundlectl: \(f.s.at("u.yaml")):5: source 'db': "), "\(r.err)")
    }

    @Test("a tar.zst of 2 GiB of zeros (66 KB on disk) is refused at once, naming the entry and the limit")
    func zstdBomb() throws {
        let f = try UnpackFixture()
        // 32 zstd frames of 64 MiB of zeros after a tar header: concatenated frames are one stream.
        try sh("""
            cd \(f.s.path)
            python3 -c "import sys, tarfile; t = tarfile.TarInfo('zeros.bin'); t.size = 2 << 30; sys.stdout.buffer.write(t.tobuf())" | zstd -q -c > head.zst
            head -c 64M /dev/zero | zstd -q -c > zeros.zst
            (cat head.zst; for i in $(seq 32); do cat zeros.zst; done; head -c 1024 /dev/zero | zstd -q -c) > bomb.tar.zst
            """)
        // The outside judge: bsdtar lists one 2 GiB file.
        #expect(try sh("bsdtar -tvf \(f.s.at("bomb.tar.zst"))").contains(" 2147483648 "))
        let size = try FileManager.default.attributesOfItem(atPath: f.s.at("bomb.tar.zst"))[.size] as? Int ?? 0
        let start = Date()
        try f.expectRefused(try f.spec("bomb.tar.zst"),
                            "archive 'bomb.tar.zst': entry 'zeros.bin' is past the unpack limit: the archive unpacks to more than 67,108,864 bytes, the limit for it (200 times the archive's \(grouped(size)) bytes, at least 64.0 MiB and at most 32.0 GiB)")
        #expect(Date().timeIntervalSince(start) < 5, "the refusal took \(Date().timeIntervalSince(start)) s")
    }

    @Test("a zip whose headers claim 1,000 bytes but whose data inflates to 96 MiB is refused as the bytes pass the limit")
    func zipBombLyingSize() throws {
        let f = try UnpackFixture()
        try sh("""
            cd \(f.s.path) && python3 - <<'EOF'
            import struct, zipfile
            with zipfile.ZipFile('bomb.zip', 'w', zipfile.ZIP_DEFLATED) as z:
                with z.open('zeros.bin', 'w') as w:
                    for _ in range(96): w.write(bytes(1 << 20))
            b = bytearray(open('bomb.zip', 'rb').read())
            # The local header and the central directory both say 1,000 bytes: only reading finds the lie.
            struct.pack_into('<I', b, 22, 1000)
            struct.pack_into('<I', b, b.rfind(b'PK\\x01\\x02') + 24, 1000)
            open('bomb.zip', 'wb').write(b)
            EOF
            """)
        #expect(try sh("bsdtar -tvf \(f.s.at("bomb.zip"))").contains(" 1000 "), "bsdtar believes the headers")
        try f.expectRefused(try f.spec("bomb.zip"), "archive 'bomb.zip': entry 'zeros.bin' is past the unpack limit: the archive unpacks to more than 67,108,864 bytes")
    }

    @Test("unpack is refused on a folder and on kind images, naming the spec line")
    func specMisuse() throws {
        let f = try UnpackFixture()
        _ = try f.makeFeed()
        try f.expectRefused(try f.spec("feed"), "source 'db': unpack needs an archive file or URL, not a folder")
        let images = f.s.at("i.yaml")
        try "name: feeds\nversion: \"1\"\nsequence: 1\nsources:\n  - name: base\n    kind: images\n    archives: [base.tar]\n    unpack: true\n"
            .write(toFile: images, atomically: true, encoding: .utf8)
        try f.expectRefused(images, "\(images):8: source 'base': \"unpack\" is for a file or URL source of kind advisories or policies")
    }
}
