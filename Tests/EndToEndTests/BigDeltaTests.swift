import Foundation
import Testing

/// A big file between two days (issue 14): a feed database of ~85 MB, past the old 64 MiB patch
/// limit, made here by a seeded script: text rows numbered like SQLite rowids, so that removing
/// one row renumbers every row after it, as a database rebuilt from scratch does.
struct BigPair {
    let s: Scratch
    let key: String, pub: String
    let day1: String, day2: String

    init() throws {
        s = try Scratch()
        (key, pub) = try s.key("op")
        day1 = s.at("d1/db/feed.db")
        day2 = s.at("d2/db/feed.db")
        try sh("""
        mkdir -p \(s.at("d1/db")) \(s.at("d2/db")) && python3 - \(day1) \(day2) <<'PY'
        import random, sys
        W = ('buffer overflow heap use after free integer out of bounds read write denial of service remote code '
             'execution crafted request allows attackers via the parser when handling malformed input memory '
             'corruption cross site scripting injection template path traversal archive validation').split()
        SEV = ['LOW', 'MODERATE', 'HIGH', 'CRITICAL']
        def row(rng):
            return ('{"id":"GHSA-%010x","package":"pkg-%d","severity":"%s","summary":"%s","fixed":"%d.%d.%d"}'
                    % (rng.getrandbits(40), rng.randrange(40000), rng.choice(SEV), ' '.join(rng.choices(W, k=rng.randint(8, 16))),
                       rng.randrange(10), rng.randrange(20), rng.randrange(10)))
        def write(path, rows):
            with open(path, 'w') as f:
                f.write(''.join('%d|%s\\n' % (i + 1, r) for i, r in enumerate(rows)))
        rng = random.Random(14)
        day1 = [row(rng) for _ in range(520000)]
        rng = random.Random(15)
        day2 = []
        for r in day1:
            x = rng.random()
            if x < 0.010: continue
            day2.append(r.replace('"severity":"', '"severity":"RE-') if x < 0.035 else r)
            if rng.random() < 0.015: day2.append(row(rng))
        write(sys.argv[1], day1)
        write(sys.argv[2], day2)
        PY
        """)
    }

    func spec(_ day: Int) throws -> String {
        try s.spec("s\(day).yaml", name: "scanner", sequence: day, sources: [("scanner", "advisories", s.at("d\(day)/db"))])
    }

    func size(_ path: String) throws -> Int {
        Int(try sh("stat -c %s \(path)").trimmingCharacters(in: .whitespacesAndNewlines)) ?? -1
    }
}

@Suite("Big-file deltas")
struct BigDeltaTests {
    @Test("a file past the old 64 MiB limit travels as a small segmented patch, applies byte for byte, and stock zstd decodes each segment; a damaged base is refused")
    func bigFilePatched() throws {
        let p = try BigPair()
        #expect(try p.size(p.day1) > 64 << 20 && p.size(p.day2) > 64 << 20)
        let full = try p.s.build(p.spec(1), key: p.key, output: "full.bundle")
        let r = try bundlectl("build", p.spec(2), "--key", p.key, "--output", p.s.at("delta.bundle"), "--base", full,
                              env: ["SOURCE_DATE_EPOCH": "1722470400"])
        #expect(r.status == 0 && r.out.contains("0 whole, 1 patched"), "\(r.text)")
        // Well below the file compressed alone (the full bundle holds nothing else).
        let delta = try p.size(p.s.at("delta.bundle")), whole = try p.size(full)
        #expect(delta * 4 < whole, "delta \(delta) B against the full bundle's \(whole) B")

        let m = p.s.at("mirror")
        try sh("\(Env.mirrorctl) init --mirror \(m) --trust \(p.pub) && \(Env.mirrorctl) apply \(full) --mirror \(m)")
        let a = try mirrorctl("apply", p.s.at("delta.bundle"), "--mirror", m)
        #expect(a.status == 0, "\(a.text)")
        try sh("cmp \(m)/current/advisories/scanner/feed.db \(p.day2)")
        #expect(try mirrorctl("verify", "--mirror", m).status == 0)

        // Each segment is one zstd frame; stock zstd decodes it against its extents cut out of day 1.
        let out = try sh("""
        cd \(p.s.path) && mkdir x && bsdtar -xf delta.bundle -C x && zstd -qdc x/INDEX.zst > index.json
        python3 - <<'PY'
        import json, subprocess
        idx = json.load(open('index.json')); man = json.load(open('x/MANIFEST'))
        (pack, stored, size, base, segments), = idx['patches']
        data = open('x/' + man['packs'][pack]['path'], 'rb').read()
        old = open('\(p.day1)', 'rb').read()
        out, pos = [], 0
        for s_stored, s_size, extents in segments:
            open('frame.zst', 'wb').write(data[pos:pos + s_stored]); pos += s_stored
            open('reference', 'wb').write(b''.join(old[o:o + n] for o, n in extents))
            args = ['zstd', '-qdc', 'frame.zst'] + (['--patch-from=reference'] if extents else [])
            out.append(subprocess.run(args, check=True, capture_output=True).stdout)
            assert len(out[-1]) == s_size
        assert pos == stored == len(data)
        assert b''.join(out) == open('\(p.day2)', 'rb').read()
        print(len(segments), sum(1 for s in segments if s[2]))
        PY
        """)
        let counts = out.split(separator: " ").compactMap { Int($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
        #expect(counts.count == 2 && counts[0] >= 5 && counts[1] == counts[0], "segments, referenced: \(out)")
        try damagedBase(p, full: full)
    }

    /// The same delta on a mirror whose day-1 file was damaged since: refused by name, nothing changed.
    func damagedBase(_ p: BigPair, full: String) throws {
        let m = p.s.at("damaged")
        try sh("\(Env.mirrorctl) init --mirror \(m) --trust \(p.pub) && \(Env.mirrorctl) apply \(full) --mirror \(m)")
        let stored = try sh("readlink -f \(m)/current/advisories/scanner/feed.db").trimmingCharacters(in: .whitespacesAndNewlines)
        try sh("chmod u+w \(stored) && printf X | dd of=\(stored) bs=1 seek=70000000 conv=notrunc status=none")
        let before = try MirrorSnapshot(m)
        let a = try mirrorctl("apply", p.s.at("delta.bundle"), "--mirror", m)
        #expect(a.status == 1 && a.err.contains("the current version is damaged at") && a.err.contains("run `mirrorctl verify`"), "\(a.text)")
        #expect(try MirrorSnapshot(m) == before)
    }
}
