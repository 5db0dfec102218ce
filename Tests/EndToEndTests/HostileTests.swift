import Foundation
import Testing

/// A small mirror for hostile input: version 1 applied, a valid version 2 (a plain tar with two
/// packs, so there is a boundary between packs), a sentinel folder beside the mirror, and an
/// absolute path outside the scratch folder that nothing may create.
///
/// `mirrorctl` runs in `cwd/` inside the scratch folder, so a relative `../x` would land in the
/// scratch folder, which `world()` watches whole.
final class HostileFixture {
    let s: Scratch
    let key: String, pub: String
    let mirror: String
    let pristine: String
    let next: String
    let cwd: String
    let absolute: String

    init() throws {
        s = try Scratch()
        (key, pub) = try s.key("op")
        try sh("""
            cd \(s.path) && mkdir -p a/feed b/feed/sub outside cwd
            for i in $(seq 1 20); do echo "record $i" > a/feed/r$i.json; echo "record $i v2" > b/feed/r$i.json; done
            echo same > b/feed/sub/dup1 && echo same > b/feed/sub/dup2
            printf '#!/bin/sh\\n' > b/feed/sub/tool.sh && chmod 755 b/feed/sub/tool.sh
            # Over 8 MiB, so it gets a pack of its own; it compresses to about a kilobyte.
            yes 'a large and very compressible line' | head -c 9437184 > b/feed/large.txt
            echo 'nothing may touch this' > outside/sentinel
            """)
        let first = try s.build(try s.spec("a.yaml", sequence: 1, sources: [("feed", "advisories", s.at("a/feed"))]), key: key, output: "a.bundle", level: nil)
        // The default level: the crafted corpus's expected words name its packs' sizes.
        next = try s.build(try s.spec("b.yaml", sequence: 2, sources: [("feed", "advisories", s.at("b/feed"))]),
                           key: key, output: "b.bundle", container: "tar", level: nil)
        mirror = s.at("mirror")
        pristine = s.at("pristine")
        cwd = s.at("cwd")
        absolute = "/tmp/airgap-hostile-absolute-\(UUID().uuidString)"
        try sh("\(Env.mirrorctl) init --mirror \(mirror) --trust \(pub) && \(Env.mirrorctl) apply \(first) --mirror \(mirror) && cp -a \(mirror) \(pristine)")
    }

    deinit { _ = try? run("/bin/rm", ["-rf", absolute]) }

    /// Everything in the scratch folder except what a refusal may change (the journal, the lock
    /// file): each path with its kind and mode, and for files their size and modification time.
    func world() throws -> String {
        try sh("""
            cd \(s.path) && find . \\( -name journal.jsonl -o -name journal.head -o -name .lock \\) -prune \
              -o -type d -printf 'd %p %m\\n' -o -printf '%y %p %s %m %T@\\n' | sort
            """)
    }

    /// Mode and SHA-256 of every file below `dir` but the mirror's own BUNDLE.json. A mirror
    /// stores files without their write bits (444, 555), so modes are compared without them.
    func treeState(_ dir: String) throws -> String {
        try sh("""
            cd \(dir) && find . -type f ! -path ./BUNDLE.json -printf '%P %m\\n' | sed 's/ 644$/ 444/; s/ 755$/ 555/' | sort
            find . -type f ! -path ./BUNDLE.json -print0 | sort -z | xargs -0 sha256sum
            """)
    }

    func apply(_ bundle: String) throws -> Outcome {
        try run(Env.mirrorctl, ["apply", bundle, "--mirror", mirror], cwd: cwd)
    }

    /// Applies a bundle that must be refused: the exit status, one clear line naming the reason
    /// (also journaled), and nothing changed anywhere: not the mirror, its `current` tree or its
    /// staging, not the folders beside it, not the absolute path.
    func expectRefused(_ bundle: String, _ fragments: [String], status: Int32 = 1, label: String = "",
                       sourceLocation: SourceLocation = #_sourceLocation) throws {
        let before = try world(), snapshot = try MirrorSnapshot(mirror)
        let r = try apply(bundle)
        #expect(r.status == status, "\(label): exit \(r.status): \(r.text)", sourceLocation: sourceLocation)
        let line = r.err.hasSuffix("\n") ? String(r.err.dropLast()) : r.err
        #expect(line.hasPrefix("mirrorctl: ") && !line.contains("\n") && line.utf8.count <= 600,
                "\(label): not one clear line: \(r.err)", sourceLocation: sourceLocation)
        for f in fragments {
            #expect(line.contains(f.replacingOccurrences(of: "{abs}", with: absolute)),
                    "\(label): expected \"\(f)\" in: \(line)", sourceLocation: sourceLocation)
        }
        #expect(try world() == before, "\(label): something changed beside or inside the mirror", sourceLocation: sourceLocation)
        #expect(try MirrorSnapshot(mirror) == snapshot, "\(label): the mirror changed", sourceLocation: sourceLocation)
        #expect(try sh("ls -A \(mirror)/staging") == "", "\(label): staging left behind", sourceLocation: sourceLocation)
        #expect(!FileManager.default.fileExists(atPath: absolute), "\(label): \(absolute) was created", sourceLocation: sourceLocation)
        if status == 1 {
            let last = try sh("tail -n 1 \(mirror)/journal.jsonl")
            let entry = try JSONSerialization.jsonObject(with: Data(last.utf8)) as? [String: Any]
            #expect(entry?["event"] as? String == "refuse", "\(label): \(last)", sourceLocation: sourceLocation)
            #expect(entry?["reason"] as? String == String(line.dropFirst("mirrorctl: ".count)),
                    "\(label): the journal says \(last)", sourceLocation: sourceLocation)
        }
    }

    /// Applies a bundle that holds exactly the valid version 2's signed bytes, so it may be
    /// accepted, and then only as that very tree; puts the mirror back as it was.
    func expectIdenticalTree(_ bundle: String, label: String, sourceLocation: SourceLocation = #_sourceLocation) throws {
        let r = try apply(bundle)
        #expect(r.status == 0, "\(label): \(r.text)", sourceLocation: sourceLocation)
        try checkIdenticalAndReset(label: label, sourceLocation: sourceLocation)
    }

    /// After an apply that succeeded: `current` is exactly version 2's tree. Then resets the mirror.
    func checkIdenticalAndReset(label: String, sourceLocation: SourceLocation = #_sourceLocation) throws {
        #expect(try sh("ls \(mirror)/current && ls \(mirror)/current/advisories") == "BUNDLE.json\nadvisories\nfeed\n", sourceLocation: sourceLocation)
        #expect(try treeState(mirror + "/current/advisories/feed") == treeState(s.at("b/feed")),
                "\(label): accepted with a different tree", sourceLocation: sourceLocation)
        #expect(try mirrorctl("verify", "--mirror", mirror).status == 0, sourceLocation: sourceLocation)
        try sh("rm -rf \(mirror) && cp -a \(pristine) \(mirror)")
    }
}

/// The parts of a plain tar, as (offset of the header, offset of the data, data size, name).
func tarLayout(_ path: String) throws -> (entries: [(header: Int, data: Int, size: Int, name: String)], end: Int, total: Int) {
    let data = try Data(contentsOf: URL(fileURLWithPath: path))
    var entries: [(Int, Int, Int, String)] = []
    var pos = 0
    while pos + 512 <= data.count {
        let header = data[pos..<pos + 512]
        if header.allSatisfy({ $0 == 0 }) { break }
        let name = String(decoding: header.prefix(100).prefix(while: { $0 != 0 }), as: UTF8.self)
        let size = Int(String(decoding: header.dropFirst(124).prefix(12).prefix(while: { $0 != 0 && $0 != 32 }), as: UTF8.self), radix: 8) ?? 0
        entries.append((pos, pos + 512, size, name))
        pos += 512 + (size + 511) / 512 * 512
    }
    return (entries, pos, data.count)
}

/// A seeded generator, so a failing offset can be reproduced (SplitMix64).
struct SeededRandom: RandomNumberGenerator {
    var state: UInt64
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

@Suite("Hostile and broken bundles: refused with one clear line, nothing written anywhere")
struct HostileBundleTests {
    /// What each crafted bundle (Tests/Tools/craft_bundles.py) must end in: the exit status and
    /// parts of the one-line message. `{abs}` stands for the fixture's absolute path.
    static let expected: [String: (Int32, [String])] = [
        // Archive entries: names, kinds, order; the signed parts themselves are valid.
        "entry-dotdot-first": (1, ["is not a bundle: expected MANIFEST, found entry '../x'"]),
        "entry-dotdot-after-signature": (1, ["expected INDEX.zst, found entry '../x'"]),
        "entry-dotdot-between-packs": (1, ["holds an entry '../x' that the manifest does not list (expected packs/"]),
        "entry-dotdot-last": (1, ["holds an entry '../x' that the manifest does not list"]),
        "entry-dotdot-deep-last": (1, ["holds an entry 'advisories/feed/../../../x' that the manifest does not list"]),
        "entry-absolute-first": (1, ["expected MANIFEST, found entry '{abs}'"]),
        "entry-absolute-last": (1, ["holds an entry '{abs}' that the manifest does not list"]),
        "entry-absolute-as-pack": (1, ["holds an entry '{abs}' that the manifest does not list (expected packs/"]),
        // libarchive (like GNU tar) reads a name up to its first NUL.
        "entry-nul-name-last": (1, ["holds an entry 'x' that the manifest does not list"]),
        "entry-nul-name-first": (1, ["expected MANIFEST, found entry"]),
        "entry-nul-after-pack-name": (0, []),
        "entry-newline-name": (1, ["holds an entry 'x\\nmirrorctl: applied feeds 2' that the manifest does not list"]),
        "entry-long-name-pax": (1, ["holds an entry 'a/a/a/", "...(6001 bytes)' that the manifest does not list"]),
        "entry-long-name-gnu": (1, ["holds an entry 'b/b/b/", "...(80001 bytes)' that the manifest does not list"]),
        "entry-long-name-as-manifest": (1, ["expected MANIFEST, found entry 'MMMM", "...(70000 bytes)'"]),
        "symlink-as-manifest": (1, ["MANIFEST is not a regular file"]),
        "symlink-as-pack": (1, [".zst is not a regular file"]),
        "symlink-last": (1, ["holds an entry 'advisories/feed/link' that the manifest does not list"]),
        "symlink-dotdot-last": (1, ["holds an entry 'x' that the manifest does not list"]),
        "hardlink-as-index": (1, ["INDEX.zst is not a regular file"]),
        "hardlink-as-pack": (1, [".zst is not a regular file"]),
        "hardlink-with-data-as-pack": (1, [".zst is not a regular file"]),
        "hardlink-last": (1, ["holds an entry '../x' that the manifest does not list"]),
        "chardev-as-index": (1, ["INDEX.zst is not a regular file"]),
        "blockdev-as-pack": (1, [".zst is not a regular file"]),
        "fifo-as-pack": (1, [".zst is not a regular file"]),
        "fifo-last": (1, ["holds an entry 'fifo' that the manifest does not list"]),
        "directory-before-packs": (1, ["holds an entry 'packs/' that the manifest does not list"]),
        "duplicate-manifest": (1, ["holds MANIFEST twice"]),
        "duplicate-index": (1, ["holds INDEX.zst twice"]),
        "duplicate-pack-next": (1, ["holds packs/", ".zst twice"]),
        "duplicate-pack-last": (1, ["holds packs/", ".zst twice"]),
        "packs-swapped": (1, [".zst is out of order (expected packs/"]),
        "unlisted-pack-name": (1, ["holds an entry 'packs/0000000000000000000000000000000000000000000000000000000000000000.zst' that the manifest does not list"]),
        "pax-size-disagrees": (1, [".zst in '", "' is 1 bytes; the manifest says 87"]),
        "entry-size-too-small": (1, ["is 86 bytes; the manifest says 87"]),

        // The manifest: validly signed by the trusted key, but wrong.
        "manifest-unknown-format": (1, ["MANIFEST has format \"airgap-bundle/2\"; this tool reads \"airgap-bundle/1\""]),
        "manifest-no-format": (1, ["MANIFEST: field \"format\" must be a string"]),
        "manifest-invalid-json": (1, ["MANIFEST is not valid JSON: unterminated object"]),
        "manifest-not-json": (1, ["MANIFEST is not valid JSON: unexpected character at byte 0"]),
        "manifest-empty": (1, ["MANIFEST is not valid JSON: unexpected end at byte 0"]),
        "manifest-not-canonical": (1, ["MANIFEST is not in canonical form"]),
        "manifest-duplicate-key": (1, ["MANIFEST is not valid JSON: duplicate key \"version\""]),
        "manifest-float": (1, ["MANIFEST is not valid JSON: only integers are allowed"]),
        "manifest-array": (1, ["MANIFEST must be a JSON object"]),
        "manifest-sequence-string": (1, ["MANIFEST: field \"sequence\" must be an integer"]),
        "manifest-sequence-negative": (1, ["MANIFEST: field \"sequence\" is out of range (-1)"]),
        "manifest-sequence-huge": (1, ["MANIFEST is not valid JSON: integer out of range"]),
        "manifest-sequence-max-int64": (1, ["MANIFEST: field \"sequence\" is out of range (9223372036854775807)"]),
        "manifest-sequence-2-53": (1, ["MANIFEST: field \"sequence\" is out of range (9007199254740992)"]),
        "manifest-version-escape": (1, ["MANIFEST: field \"version\" contains a control character (U+001B)"]),
        "manifest-version-csi-c1": (1, ["MANIFEST: field \"version\" contains a control character (U+009B)"]),
        "manifest-version-osc-c1": (1, ["MANIFEST: field \"version\" contains a control character (U+009D)"]),
        "manifest-version-bidi": (1, ["MANIFEST: field \"version\" contains a bidirectional-text or line-separator character (U+202E)"]),
        "manifest-version-isolate": (1, ["MANIFEST: field \"version\" contains a bidirectional-text or line-separator character (U+2066)"]),
        "manifest-version-line-separator": (1, ["MANIFEST: field \"version\" contains a bidirectional-text or line-separator character (U+2028)"]),
        "manifest-origin-escape": (1, ["MANIFEST source 0: field \"origin\" contains a control character (U+001B)"]),
        "manifest-packs-object": (1, ["MANIFEST: field \"packs\" must be an array"]),
        "manifest-tree-array": (1, ["MANIFEST field \"tree\" must be a JSON object"]),
        "manifest-expires-number": (1, ["MANIFEST: field \"expires\" must be a string or null"]),
        "manifest-created-garbage": (1, ["MANIFEST: \"created\" is not an RFC 3339 UTC time"]),
        "manifest-unknown-field": (1, ["MANIFEST has an unknown field \"hooks\""]),
        "manifest-name-dotdot": (1, ["MANIFEST: bundle name \"../x\" is not a plain name"]),
        "manifest-nul-in-name": (1, ["MANIFEST: field \"name\" contains a control character (U+0000)"]),
        "manifest-pack-twice": (1, ["MANIFEST lists \"packs/", ".zst\" twice"]),
        "manifest-pack-path-dotdot": (1, ["MANIFEST: pack entry \"../x\" is not named after its digest"]),
        "manifest-pack-path-absolute": (1, ["MANIFEST: pack entry \"{abs}\" is not named after its digest"]),
        "manifest-index-path-dotdot": (1, ["MANIFEST: the index must be INDEX.zst"]),
        "manifest-pack-missing": (1, ["INDEX object 22 is in pack 1, which the manifest does not list"]),
        "manifest-extra-pack": (1, ["INDEX names nothing in pack 2"]),
        "manifest-huge-tree-size": (1, ["INDEX describes 24 files of 9437455 bytes; the manifest says 24 of 1125899906842624"]),
        "manifest-too-huge-tree-size": (1, ["MANIFEST field \"tree\": field \"size\" is out of range (4611686018427387904)"]),
        "manifest-huge-tree-files": (1, ["MANIFEST field \"tree\": field \"files\" is out of range (1099511627776)"]),
        "manifest-huge-pack-size": (1, ["bytes; the manifest says 1125899906842624"]),
        "manifest-huge-pack-uncompressed": (1, ["INDEX items of pack 1 add up to 9437184 bytes, the manifest says 1125899906842624"]),
        "manifest-huge-index-size": (1, ["INDEX.zst in '", "' is 211 bytes; the manifest says 1099511627776"]),
        "manifest-huge-index-uncompressed": (1, ["has a 4,294,967,295-byte index, more than this mirror's limit of 268,435,456 bytes; raise it with --max-index-bytes"]),
        "manifest-negative-pack-size": (1, ["MANIFEST pack 0: field \"size\" is out of range (-1)"]),
        "manifest-delta-without-base": (1, ["this delta needs base feeds sequence 1"]),

        // The index: its bytes match the signed digest, but it is wrong.
        "index-path-twice": (1, ["INDEX lists \"advisories/feed/r1.json\" twice"]),
        "index-path-dotdot": (1, ["INDEX path \"advisories/feed/../../../x\" has a '..' component"]),
        "index-path-dotdot-sorted": (1, ["INDEX path \"advisories/..\" has a '..' component"]),
        "index-path-absolute": (1, ["INDEX path \"{abs}\" is absolute"]),
        "index-path-outside-kinds": (1, ["INDEX path \"zzz/x\" is not under advisories/, policies/ or images/"]),
        "index-path-top-level-file": (1, ["INDEX path \"advisories\" is not under advisories/, policies/ or images/"]),
        "index-path-nul": (1, ["INDEX path \"advisories/feed/\\0x\" contains a control character"]),
        "index-path-c1": (1, ["INDEX path \"advisories/feed/\\u{9b}x\" contains a control character (U+009B)"]),
        "index-path-bidi": (1, ["INDEX path \"advisories/feed/\\u{202e}x\" contains a bidirectional-text or line-separator character (U+202E)"]),
        "index-path-paragraph-separator": (1, ["INDEX path \"advisories/feed/\\u{2029}x\" contains a bidirectional-text or line-separator character (U+2029)"]),
        "index-path-newline": (1, ["INDEX path \"advisories/feed/\\nx\" contains a control character"]),
        "index-path-empty-component": (1, ["INDEX path \"advisories//x\" has an empty component"]),
        "index-path-too-long": (1, ["is longer than 4096 bytes"]),
        "index-path-long-component": (1, ["has a component longer than 255 bytes"]),
        "index-file-and-folder": (1, ["\"advisories/feed\" is listed as a file and as the folder of \"advisories/feed/r1.json\""]),
        "index-unsorted": (1, ["INDEX files are not sorted at"]),
        "index-mode-setuid": (1, ["has mode 4755; only 644 and 755 are carried"]),
        "index-mode-string": (1, ["INDEX file 0 is malformed"]),
        "index-object-out-of-range": (1, ["INDEX file 0 names no object this bundle has"]),
        "index-object-negative": (1, ["INDEX file 0 names no object this bundle has"]),
        "index-file-as-object": (1, ["INDEX file 0 is malformed"]),
        "index-digest-reference-in-full-bundle": (1, ["INDEX file 0 names no object this bundle has"]),
        "index-objects-missing": (1, ["INDEX: field \"objects\" must be an array"]),
        "index-unknown-field": (1, ["INDEX has an unknown field \"patches\""]),
        "index-pack-out-of-range": (1, ["INDEX object 0 is in pack 5, which the manifest does not list"]),
        "index-negative-object-size": (1, ["INDEX object 0 is malformed"]),
        "index-objects-out-of-pack-order": (1, ["is not in pack order"]),
        "index-huge-object-sizes": (1, ["INDEX items of pack 1 add up to more than 1125899906842624 bytes"]),
        "index-many-huge-files": (1, ["INDEX files add up to more than 1125899906842624 bytes"]),
        "index-swapped-objects": (1, ["do not add up to the signed tree digest"]),
        "index-invalid-json": (1, ["INDEX is not valid JSON: unterminated object"]),
        "index-not-canonical": (1, ["INDEX is not in canonical form"]),
        "index-too-deep": (1, ["INDEX is not valid JSON: nesting deeper than 64"]),
        "index-declared-too-small": (1, ["INDEX.zst expands past its declared size of 10 bytes"]),
        "index-declared-too-large": (1, ["INDEX.zst is shorter than its declared size"]),

        // Decompression bombs and broken packs.
        "bomb-pack": (1, ["expands past its declared size of 266 bytes"]),
        "bomb-pack-large-object": (1, ["expands past its declared size of 9437184 bytes"]),
        "bomb-index": (1, ["INDEX.zst expands past its declared size of"]),
        "bomb-window": (1, ["is damaged: zstd says Frame requires too much memory for decoding"]),
        "pack-not-zstd": (1, ["is damaged: zstd says Unknown frame descriptor"]),
        "pack-truncated-frame": (1, ["is truncated: the zstd frame does not end"]),
        "pack-expands-short": (1, ["expands to 256 bytes; the manifest says 266"]),
        "pack-two-frames": (1, ["expands past its declared size of 266 bytes"]),
    ]

    @Test("every crafted bundle is refused with its reason, or (same signed bytes) gives the identical tree")
    func craftedCorpus() throws {
        let f = try HostileFixture()
        let out = f.s.at("crafted")
        try sh("python3 \(Env.packageRoot)/Tests/Tools/craft_bundles.py \(f.next) \(f.key) \(out) \(f.absolute)")
        let cases = try sh("cat \(out)/cases.txt").split(separator: "\n").map(String.init)
        #expect(Set(cases) == Set(Self.expected.keys), "cases without expectations: \(Set(cases).subtracting(Self.expected.keys)); expectations without cases: \(Set(Self.expected.keys).subtracting(cases))")
        for name in cases {
            guard let (status, fragments) = Self.expected[name] else { continue }
            let bundle = "\(out)/\(name).bundle"
            if status == 0 {
                try f.expectIdenticalTree(bundle, label: name)
            } else {
                try f.expectRefused(bundle, fragments, status: status, label: name)
            }
            if name.hasPrefix("manifest-version-") || name.hasPrefix("manifest-origin-") {
                // What inspect and verify would print is refused there too, before any report.
                for args in [["inspect", bundle], ["verify", bundle, "--trust", f.pub]] {
                    let r = try run(Env.bundlectl, args)
                    #expect(r.status == 1 && r.out.isEmpty && fragments.allSatisfy(r.err.contains), "\(name): bundlectl \(args[0]): \(r.text)")
                }
            }
        }
        #expect(try mirrorctl("verify", "--mirror", f.mirror).status == 0)
        // Still healthy: the valid bundle applies.
        try f.expectIdenticalTree(f.next, label: "the valid bundle")
    }

    @Test("cut at every section boundary: after each header, inside and after each entry, between packs, in the end marker")
    func truncatedAtEveryBoundary() throws {
        let f = try HostileFixture()
        let layout = try tarLayout(f.next)
        #expect(layout.entries.map(\.name).filter { $0.hasPrefix("packs/") }.count == 2)
        var cuts: Set<Int> = [0, 1]
        for e in layout.entries {
            let padded = e.data + (e.size + 511) / 512 * 512
            cuts.formUnion([e.header, e.header + 1, e.header + 100, e.header + 511, e.data, e.data + 1, e.data + e.size / 2,
                            e.data + e.size - 1, e.data + e.size, e.data + e.size + 1, padded - 1, padded])
        }
        cuts.formUnion([layout.end, layout.end + 1, layout.end + 511, layout.end + 512, layout.end + 1023])
        let points = cuts.filter { $0 >= 0 && $0 < layout.total }.sorted()
        #expect(points.count >= 50)
        for cut in points {
            let b = f.s.at("cut.bundle")
            try sh("head -c \(cut) \(f.next) > \(b)")
            try f.expectRefused(b, ["mirrorctl: '\(b)'"], label: "cut at \(cut) of \(layout.total)")
        }
        try f.expectIdenticalTree(f.next, label: "the whole bundle")
    }

    @Test("a flipped byte at 100 random offsets of a tar and 30 of a compressed container: refused, or the identical tree")
    func flippedBytes() throws {
        let f = try HostileFixture()
        let zst = try f.s.build(f.s.at("b.yaml"), key: f.key, output: "b.tar.zst.bundle", container: "tar.zst", level: nil)
        var random = SeededRandom(state: 20_260_601)
        var refused = 0, identical = 0
        // The crafted corpus and the cuts cover each section on purpose; these sample the rest.
        for (bundle, count) in [(f.next, 100), (zst, 30)] {
            let data = try Data(contentsOf: URL(fileURLWithPath: bundle))
            for _ in 0..<count {
                let offset = Int.random(in: 0..<data.count, using: &random)
                var copy = data
                copy[offset] ^= UInt8.random(in: 1...255, using: &random)
                let b = f.s.at("flip.bundle")
                try copy.write(to: URL(fileURLWithPath: b))
                let before = try f.world(), snapshot = try MirrorSnapshot(f.mirror)
                let label = "\(URL(fileURLWithPath: bundle).lastPathComponent) offset \(offset)"
                let r = try f.apply(b)
                if r.status == 0 {
                    identical += 1
                    try f.checkIdenticalAndReset(label: label)
                } else {
                    refused += 1
                    #expect(r.status == 1, "\(label): \(r.text)")
                    #expect(r.err.hasPrefix("mirrorctl: ") && r.err.split(separator: "\n").count == 1, "\(label): \(r.err)")
                    #expect(try f.world() == before, "\(label): something changed")
                    #expect(try MirrorSnapshot(f.mirror) == snapshot, "\(label): the mirror changed")
                }
            }
        }
        print("flipped bytes: \(refused) refused, \(identical) accepted with the identical tree")
        #expect(refused > 100)
    }
}

@Suite("Low side: links in a source are refused by name, never followed out")
struct SourceLinkTests {
    /// (link name, target). `fifo` points at a FIFO outside the source: opening it would block
    /// the build, so a build that ends at all has not opened what the link points at.
    @Test("a link out of the source (file, folder, FIFO, absolute, dangling) or inside it", arguments: [
        ("to-file", "../../../outside/secret"), ("to-folder", "../../../outside"), ("to-fifo", "../../../outside/fifo"),
        ("absolute", "/etc/shadow"), ("dangling", "../../../outside/nothing-here"), ("inside", "../r1.json"), ("self", "self"),
    ])
    func linkOut(_ name: String, _ target: String) throws {
        let s = try Scratch()
        let (key, _) = try s.key("op")
        try sh("""
            cd \(s.path) && mkdir -p src/feed/sub outside && echo record > src/feed/r1.json && echo secret > outside/secret
            mkfifo outside/fifo && ln -s \(target) src/feed/sub/\(name)
            """)
        let spec = try s.spec(sequence: 1, sources: [("feed", "advisories", s.at("src/feed"))])
        let r = try run("/usr/bin/timeout", ["60", Env.bundlectl, "build", spec, "--key", key, "--output", s.at("out.bundle")],
                        env: ["SOURCE_DATE_EPOCH": "1722470400"])
        #expect(r.status == 2, "exit \(r.status) (124 means it blocked opening the FIFO): \(r.text)")
        #expect(r.err == "bundlectl: source 'feed': 'sub/\(name)' is a symbolic link; bundles carry regular files only and never follow links\n", "\(r.err)")
        #expect(try sh("ls -A \(s.path)") == "op.key\nop.pub\noutside\nspec.yaml\nsrc\n", "no bundle and no scratch may be left")
        #expect(try sh("ls -A \(s.path)/outside && cat \(s.path)/outside/secret") == "fifo\nsecret\nsecret\n")
    }
}

@Suite("Low side: a broken spec gets a short error")
struct HugeSpecLineTests {
    @Test("one enormous broken YAML line: one line of error, not the whole line quoted back")
    func enormousLine() throws {
        let s = try Scratch()
        let (key, _) = try s.key("op")
        try ("name: " + String(repeating: "[", count: 200_000) + "\n").write(toFile: s.at("deep.yaml"), atomically: true, encoding: .utf8)
        let r = try bundlectl("build", s.at("deep.yaml"), "--key", key, "--output", s.at("out.bundle"))
        #expect(r.status == 2)
        #expect(r.err == "bundlectl: \(s.at("deep.yaml")):1:8: not valid YAML: nested too deeply\n", "\(r.err.prefix(300))")
        #expect(r.err.split(separator: "\n").count == 1 && r.err.utf8.count < 1000, "\(r.err.utf8.count) bytes")
    }
}
