@testable import Collect
import Support
import Testing

@Suite("unpack: the limits' arithmetic, entry names, and the spec field")
struct UnpackLimitTests {
    static let mib: Int64 = 1 << 20

    static let sizes: [(archive: Int64, limit: Int64)] = [
        (0, 64 * mib), (-5, 64 * mib), (1000, 64 * mib), (mib, 200 * mib), (100 * mib, 20_000 * mib),
        (1024 * mib, 32 * 1024 * mib), (Int64.max / 200 + 1, 32 * 1024 * mib), (Int64.max, 32 * 1024 * mib),
    ]

    @Test("the byte limit: the floor for a small archive, the ratio above it, the absolute cap at the top, no overflow", arguments: sizes)
    func maxBytes(_ archiveSize: Int64, _ expected: Int64) {
        #expect(UnpackLimits.standard.maxBytes(archiveSize: archiveSize) == expected)
    }

    @Test("a declared size past the limit is refused at the header, before any byte is read")
    func declaredSize() {
        var b = UnpackBudget(limits: .standard, archiveSize: 0)
        #expect(b.enter(nameBytes: 1, declaredSize: 64 * Self.mib, streamPosition: 0) == nil)
        #expect(b.enter(nameBytes: 1, declaredSize: 1, streamPosition: 0) == .bytes)
        var c = UnpackBudget(limits: .standard, archiveSize: 0)
        #expect(c.enter(nameBytes: 1, declaredSize: .max, streamPosition: 0) == .bytes)
        var d = UnpackBudget(limits: .standard, archiveSize: 0)
        #expect(d.enter(nameBytes: 1, declaredSize: 10, streamPosition: 0) == nil)
        #expect(d.enter(nameBytes: 1, declaredSize: .max, streamPosition: 0) == .bytes, "committed + Int64.max overflows")
    }

    @Test("read bytes count once with the declared size, and the first byte past the limit is refused")
    func reads() {
        var b = UnpackBudget(limits: .standard, archiveSize: 0)
        #expect(b.enter(nameBytes: 1, declaredSize: 10, streamPosition: 0) == nil)
        #expect(b.add(read: 10) == nil)
        #expect(b.total == 10, "declared and read are the same bytes")
        // An entry that said 0 (a zip's size unset or a lie) and keeps coming.
        #expect(b.enter(nameBytes: 1, declaredSize: 0, streamPosition: 0) == nil)
        #expect(b.add(read: Int(64 * Self.mib - 10)) == nil)
        #expect(b.total == 64 * Self.mib)
        #expect(b.add(read: 1) == .bytes)
        #expect(b.total == 64 * Self.mib, "the refused chunk is not counted")
    }

    @Test("the uncompressed stream's position counts too: headers alone can be a bomb")
    func streamPosition() {
        var b = UnpackBudget(limits: .standard, archiveSize: 0)
        #expect(b.enter(nameBytes: 1, declaredSize: 0, streamPosition: 64 * Self.mib) == nil)
        #expect(b.enter(nameBytes: 1, declaredSize: 0, streamPosition: 64 * Self.mib + 512) == .bytes)
    }

    @Test("the entry count and the names' bytes have their own limits")
    func entriesAndNames() {
        var limits = UnpackLimits.standard
        limits.maxEntries = 3
        limits.maxNameBytes = 10
        var b = UnpackBudget(limits: limits, archiveSize: 0)
        for _ in 0..<3 { #expect(b.enter(nameBytes: 2, declaredSize: 0, streamPosition: 0) == nil) }
        #expect(b.enter(nameBytes: 2, declaredSize: 0, streamPosition: 0) == .entries)
        var n = UnpackBudget(limits: limits, archiveSize: 0)
        #expect(n.enter(nameBytes: 10, declaredSize: 0, streamPosition: 0) == nil)
        #expect(n.enter(nameBytes: 1, declaredSize: 0, streamPosition: 0) == .names)
        var o = UnpackBudget(limits: .standard, archiveSize: 0)
        #expect(o.enter(nameBytes: .max, declaredSize: 0, streamPosition: 0) == .names)
    }

    @Test("the limit is explained in the message's words")
    func explain() {
        #expect(UnpackLimits.standard.explain(archiveSize: 66_533)
            == "200 times the archive's 66,533 bytes, at least 64.0 MiB and at most 32.0 GiB")
    }

    @Test("entry names: './' and a folder's '/' dropped, the bundle's path rule for the rest", arguments: [
        ("a.json", false, ArchiveUnpacker.Relative.name("a.json")),
        ("./a.json", false, .name("a.json")),
        ("db/", true, .name("db")),
        ("./db/", true, .name("db")),
        ("./", true, .root),
        (".", true, .root),
        ("./", false, .refused("is empty")),
        ("", false, .refused("has an empty name, or one that is not UTF-8")),
        ("../x", false, .refused("has a '..' component")),
        ("a/../../x", false, .refused("has a '..' component")),
        ("./../x", false, .refused("has a '..' component")),
        ("/etc/passwd", false, .refused("is absolute")),
        ("a//b", false, .refused("has an empty component")),
        ("a/./b", false, .refused("has a '.' component")),
        ("././a", false, .refused("has a '.' component")),
        ("db//", true, .refused("has an empty component")),
        ("x\u{1b}[2J", false, .refused("contains a control character (U+001B)")),
        ("a\u{202e}txt.json", false, .refused("contains a bidirectional-text or line-separator character (U+202E)")),
    ])
    func relative(_ raw: String, _ directory: Bool, _ expected: ArchiveUnpacker.Relative) {
        #expect(ArchiveUnpacker.relative(raw, directory: directory) == expected)
    }

    static func parse(_ yaml: String) throws -> BundleSpec {
        try BundleSpec.parse("name: a\nversion: v\n" + yaml, file: "s.yaml", baseDirectory: "/specs")
    }

    @Test("the spec's unpack field: true or false on file and URL sources, off unless given")
    func specField() throws {
        let s = try Self.parse("""
            sources:
              - {name: grype, kind: advisories, url: "https://e/vulnerability-db_v6.tar.zst", unpack: true}
              - {name: osv, kind: advisories, path: feeds/all.zip, unpack: true}
              - {name: rules, kind: policies, path: rules.tar, unpack: false}
              - {name: kev, kind: advisories, path: kev.json}
            """)
        #expect(s.sources.map(\.unpack) == [true, true, false, false])
    }

    @Test("unpack is refused with its line on kind images and for any value but true or false", arguments: [
        ("sources:\n  - name: base\n    kind: images\n    archives: [a.tar]\n    unpack: true\n",
         "s.yaml:7: source 'base': \"unpack\" is for a file or URL source of kind advisories or policies; image archives are read as they are"),
        ("sources:\n  - {name: x, kind: advisories, path: a.zip, unpack: yes}\n",
         "s.yaml:4: source 'x': unpack must be true or false (found \"yes\")"),
        ("sources:\n  - {name: x, kind: advisories, path: a.zip, unpack: [true]}\n",
         "s.yaml:4: \"unpack\" in source 'x' must be a single value"),
    ])
    func specRefusals(_ yaml: String, _ message: String) {
        #expect {
            _ = try Self.parse(yaml)
        } throws: { error in
            (error as? ToolError).map { $0.status == .usage && $0.message == message } ?? false
        }
    }
}
