import Foundation
import Testing

/// Three monthly specs (PyPA + KEV under stable names) and a key.
struct MonthlyFeeds {
    let s: Scratch
    let key: String, pub: String
    var specs: [String] = []
    var trees: [(pypa: String, kev: String)] = []

    init() throws {
        s = try Scratch()
        (key, pub) = try s.key("op")
        let months = [("2024-08-01", "2025-06-01"), ("2024-09-01", "2025-07-01"), ("2024-10-01", "2025-08-01")]
        for (i, (p, k)) in months.enumerated() {
            let pypa = try s.pypa(p), kev = try s.kev(k)
            specs.append(try s.spec("m\(i).yaml", sequence: i + 1, sources: [("pypa", "advisories", pypa), ("kev", "advisories", kev)]))
            trees.append((pypa, kev))
        }
    }

    func build(_ month: Int, _ output: String, _ extra: String...) throws -> Outcome {
        try run(Env.bundlectl, ["build", specs[month], "--key", key, "--output", s.at(output)] + extra, env: ["SOURCE_DATE_EPOCH": "1722470400"])
    }

    func expectMonth(_ mirror: String, _ month: Int, sourceLocation: SourceLocation = #_sourceLocation) throws {
        #expect(try sameTree(mirror + "/current/advisories/pypa", trees[month].pypa), sourceLocation: sourceLocation)
        try sh("cmp \(mirror)/current/advisories/kev/known_exploited_vulnerabilities.json \(trees[month].kev)")
        #expect(try mirrorctl("verify", "--mirror", mirror).status == 0, sourceLocation: sourceLocation)
    }
}

@Suite("Incremental bundles")
struct DeltaTests {
    @Test("full 08, delta 09, delta 10: after each apply the mirror equals that month, byte for byte")
    func chainFromBundles() throws {
        let f = try MonthlyFeeds()
        #expect(try f.build(0, "full0.bundle").status == 0)
        let d1 = try f.build(1, "d1.bundle", "--base", f.s.at("full0.bundle"))
        #expect(d1.status == 0 && d1.out.contains("patched"), "\(d1.text)")
        #expect(try f.build(1, "full1.bundle").status == 0)
        #expect(try f.build(2, "d2.bundle", "--base", f.s.at("full1.bundle")).status == 0)
        // A delta is a small fraction of the full bundle.
        let full = try FileManager.default.attributesOfItem(atPath: f.s.at("full1.bundle"))[.size] as? Int ?? 0
        let delta = try FileManager.default.attributesOfItem(atPath: f.s.at("d1.bundle"))[.size] as? Int ?? 0
        #expect(delta * 10 < full, "delta \(delta) B against full \(full) B")
        let inspect = try bundlectl("inspect", f.s.at("d1.bundle"))
        #expect(inspect.out.contains("delta of") && inspect.out.contains("sequence 1"))

        let m = f.s.at("mirror")
        try sh("\(Env.mirrorctl) init --mirror \(m) --trust \(f.pub) && \(Env.mirrorctl) apply \(f.s.at("full0.bundle")) --mirror \(m)")
        try f.expectMonth(m, 0)
        let dry = try mirrorctl("apply", f.s.at("d1.bundle"), "--mirror", m, "--dry-run")
        #expect(dry.status == 0 && dry.out.contains("advisories/pypa  7 added, 4 changed, 0 removed"), "\(dry.text)")
        for (i, d) in ["d1.bundle", "d2.bundle"].enumerated() {
            let r = try mirrorctl("apply", f.s.at(d), "--mirror", m)
            #expect(r.status == 0, "\(r.text)")
            try f.expectMonth(m, i + 1)
        }
        // Rolling back and re-applying a delta is still guarded by the sequence.
        #expect(try mirrorctl("rollback", "--mirror", m).status == 0)
        try f.expectMonth(m, 1)
    }

    @Test("a delta from a mirror's receipt needs no past bundles on the low side")
    func chainFromReceipts() throws {
        let f = try MonthlyFeeds()
        let m = f.s.at("mirror")
        #expect(try f.build(0, "full0.bundle").status == 0)
        try sh("\(Env.mirrorctl) init --mirror \(m) --trust \(f.pub) && \(Env.mirrorctl) apply \(f.s.at("full0.bundle")) --mirror \(m)")
        for month in 1...2 {
            let r = f.s.at("r\(month).json")
            #expect(try mirrorctl("receipt", "--mirror", m, "--output", r).status == 0)
            // The receipt is plain, readable JSON: names, sizes and digests only.
            let json = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: r))) as? [String: Any]
            #expect(json?["sequence"] as? Int == month)
            let b = try f.build(month, "d\(month).bundle", "--base-receipt", r)
            #expect(b.status == 0, "\(b.text)")
            let a = try mirrorctl("apply", f.s.at("d\(month).bundle"), "--mirror", m)
            #expect(a.status == 0, "\(a.text)")
            try f.expectMonth(m, month)
        }
    }

    @Test("refused, mirror untouched: wrong base, no base, corrupted patch, another mirror's receipt")
    func refusals() throws {
        let f = try MonthlyFeeds()
        #expect(try f.build(0, "full0.bundle").status == 0)
        #expect(try f.build(1, "full1.bundle").status == 0)
        #expect(try f.build(1, "d1.bundle", "--base", f.s.at("full0.bundle"), "--container", "tar").status == 0)
        #expect(try f.build(2, "d2.bundle", "--base", f.s.at("full1.bundle")).status == 0)

        // No version at all: the delta names the base it needs.
        let empty = f.s.at("empty")
        try sh("\(Env.mirrorctl) init --mirror \(empty) --trust \(f.pub)")
        let r0 = try mirrorctl("apply", f.s.at("d1.bundle"), "--mirror", empty)
        #expect(r0.status == 1 && r0.err.contains("needs base feeds sequence 1") && r0.err.contains("no version yet"), "\(r0.err)")

        // A month skipped: the mirror has 08, the delta is 09 -> 10.
        let m = f.s.at("mirror")
        try sh("\(Env.mirrorctl) init --mirror \(m) --trust \(f.pub) && \(Env.mirrorctl) apply \(f.s.at("full0.bundle")) --mirror \(m)")
        let before = try MirrorSnapshot(m)
        let r1 = try mirrorctl("apply", f.s.at("d2.bundle"), "--mirror", m)
        #expect(r1.status == 1 && r1.err.contains("needs base feeds sequence 2") && r1.err.contains("current version is sequence 1"), "\(r1.err)")
        #expect(try MirrorSnapshot(m) == before)

        // A patch flipped inside its pack: the signed digest catches it before anything changes.
        let bad = f.s.at("bad.bundle")
        try sh("cp \(f.s.at("d1.bundle")) \(bad)")
        let names = try sh("bsdtar -tf \(bad)").split(separator: "\n").map(String.init)
        try flipByte(bad, at: try entryOffset(bad, names[names.count - 1]) + 20)
        let r2 = try mirrorctl("apply", bad, "--mirror", m)
        // The frame checksum or the pack's signed digest stops it, whichever comes first.
        #expect(r2.status == 1 && (r2.err.contains("does not match its signed digest") || r2.err.contains("is damaged")), "\(r2.err)")
        #expect(try MirrorSnapshot(m) == before)

        // A receipt from another mirror: the delta is bound to that mirror.
        let other = f.s.at("other")
        try sh("\(Env.mirrorctl) init --mirror \(other) --trust \(f.pub) && \(Env.mirrorctl) apply \(f.s.at("full0.bundle")) --mirror \(other)")
        #expect(try mirrorctl("receipt", "--mirror", other, "--output", f.s.at("other.json")).status == 0)
        #expect(try f.build(1, "foreign.bundle", "--base-receipt", f.s.at("other.json")).status == 0)
        let r3 = try mirrorctl("apply", f.s.at("foreign.bundle"), "--mirror", m)
        #expect(r3.status == 1 && r3.err.contains("built from the receipt of mirror"), "\(r3.err)")
        #expect(try MirrorSnapshot(m) == before)

        // A delta as the base of a delta, and a base of another channel, are refused at build time.
        let r4 = try f.build(2, "x.bundle", "--base", f.s.at("d1.bundle"))
        #expect(r4.status == 2 && r4.err.contains("is itself a delta"), "\(r4.err)")
        #expect(try mirrorctl("apply", f.s.at("d1.bundle"), "--mirror", m).status == 0)
        try f.expectMonth(m, 1)
    }

    @Test("stock zstd decodes every stored patch against its base file")
    func stockZstdDecodesPatches() throws {
        let f = try MonthlyFeeds()
        #expect(try f.build(0, "full0.bundle").status == 0)
        #expect(try f.build(1, "d1.bundle", "--base", f.s.at("full0.bundle")).status == 0)
        // Read the index with stock tools, then cut each patch out of its pack and decode it.
        let script = """
        cd \(f.s.path) && mkdir x && bsdtar -xf d1.bundle -C x && zstd -qdc x/INDEX.zst > index.json
        python3 - <<'PY'
        import json, hashlib, subprocess, glob
        idx = json.load(open('index.json'))
        man = json.load(open('x/MANIFEST'))
        base_by_digest = {}
        import os
        for top in ['\(f.trees[0].pypa)', '\((f.trees[0].kev as NSString).deletingLastPathComponent)']:
            for root, _, files in os.walk(top):
                for n in files:
                    p = os.path.join(root, n)
                    base_by_digest[hashlib.sha256(open(p, 'rb').read()).hexdigest()] = p
        offsets = {}
        decoded = 0
        nobj = len(idx['objects'])
        for k, (pack, stored, size, base) in enumerate(idx['patches']):
            name = 'x/' + man['packs'][pack]['path']
            off = offsets.get(pack, 0)
            frame = open(name, 'rb').read()[off:off + stored]
            offsets[pack] = off + stored
            open('frame.zst', 'wb').write(frame)
            out = subprocess.run(['zstd', '-qdc', '--patch-from=' + base_by_digest[base], 'frame.zst'], check=True, capture_output=True).stdout
            assert len(out) == size, (k, len(out), size)
            paths = [f[0] for f in idx['files'] if f[2] == nobj + k]
            src, rest = paths[0].split('/', 2)[1:]
            new_root = '\(f.trees[1].pypa)' if src == 'pypa' else '\((f.trees[1].kev as NSString).deletingLastPathComponent)'
            new = open(new_root + '/' + rest, 'rb').read()
            assert out == new, paths
            decoded += 1
        assert decoded > 0
        print(decoded)
        PY
        """
        let out = try sh(script)
        #expect((Int(out.trimmingCharacters(in: .whitespacesAndNewlines)) ?? 0) > 0)
    }

    @Test("size targets on the PyPA snapshots, against stock zstd computed here")
    func sizeTargets() throws {
        let s = try Scratch()
        let (key, _) = try s.key("op")
        var trees: [String] = []
        var bundles: [String] = []
        for (i, month) in ["2024-08-01", "2024-09-01", "2024-10-01"].enumerated() {
            let tree = try s.pypa(month)
            trees.append(tree)
            let spec = try s.spec("p\(i).yaml", name: "pypa", sequence: i + 1, sources: [("pypa", "advisories", tree)])
            bundles.append(try s.build(spec, key: key, output: "full\(i).bundle", level: nil))
            if i > 0 {
                let r = try bundlectl("build", spec, "--key", key, "--output", s.at("delta\(i).bundle"), "--base", bundles[i - 1])
                #expect(r.status == 0, "\(r.text)")
            }
        }
        func size(_ p: String) throws -> Int { try Int(sh("stat -c %s \(p)").trimmingCharacters(in: .whitespacesAndNewlines)) ?? Int.max }
        func tarOf(_ tree: String, _ out: String) throws {
            try sh("cd \(tree)/.. && tar --sort=name --mtime=@0 --owner=0 --group=0 -cf \(s.at(out)) vulns")
        }
        for i in 0..<3 { try tarOf(trees[i], "t\(i).tar") }
        // A full bundle: at most 1.1 x tar | zstd -19 --long of the same tree.
        try sh("zstd -q -19 --long -c \(s.at("t0.tar")) > \(s.at("t0.tar.zst"))")
        let full = try size(bundles[0]), reference = try size(s.at("t0.tar.zst"))
        #expect(Double(full) <= 1.1 * Double(reference), "full bundle \(full) B against tar|zstd -19 --long \(reference) B")
        // A delta: at most 1.25 x zstd -19 --patch-from=old.tar new.tar, plus 4 KiB for the signed manifest.
        for i in 1...2 {
            try sh("zstd -q -19 --patch-from=\(s.at("t\(i - 1).tar")) -c \(s.at("t\(i).tar")) > \(s.at("p\(i).zst"))")
            let delta = try size(s.at("delta\(i).bundle")), patch = try size(s.at("p\(i).zst"))
            #expect(Double(delta) <= 1.25 * Double(patch) + 4096, "delta \(i) is \(delta) B against patch-from \(patch) B")
        }
    }
}
