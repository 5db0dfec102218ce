import BundleFormat
import Collect
import Support
import Testing

@Suite("bundle spec parsing")
struct SpecTests {
    static func parse(_ yaml: String) throws -> BundleSpec {
        try BundleSpec.parse(yaml, file: "s.yaml", baseDirectory: "/specs")
    }

    @Test("a full spec: relative paths from the spec's folder, absolute ones kept, pins, images and URLs")
    func valid() throws {
        let s = try Self.parse("""
            name: feeds
            version: "2024.08"
            sequence: 7
            expires: 2026-09-01T00:00:00Z
            sources:
              - name: kev
                kind: advisories
                path: data/kev.json
                sha256: \(String(repeating: "AB", count: 32))
              - name: osv
                kind: advisories
                url: https://example.org/osv.zip
              - name: rules
                kind: policies
                path: /etc/rules
              - name: base
                kind: images
                archives: [one.tar, /img/two.tar]
            """)
        #expect(s.name == "feeds" && s.version == "2024.08" && s.sequence == 7 && s.expires == Timestamp.parse("2026-09-01T00:00:00Z"))
        #expect(s.sources.map(\.name) == ["kev", "osv", "rules", "base"])
        #expect(s.sources.map(\.kind) == [.advisories, .advisories, .policies, .images])
        #expect(s.sources[0].origin == .path("/specs/data/kev.json") && s.sources[0].originText == "data/kev.json")
        #expect(s.sources[0].sha256 == SHA256Digest(hex: String(repeating: "ab", count: 32)))
        #expect(s.sources[1].origin == .url("https://example.org/osv.zip"))
        #expect(s.sources[2].origin == .path("/etc/rules"))
        #expect(s.sources[3].origin == .archives(["/specs/one.tar", "/img/two.tar"]) && s.sources[3].originText == "one.tar, /img/two.tar")
        #expect(s.sources.map(\.line) == [6, 10, 13, 16])
    }

    @Test("no sequence in the spec is allowed (--sequence gives it)")
    func noSequence() throws {
        let s = try Self.parse("name: a\nversion: v\nsources:\n  - {name: x, kind: policies, path: p}\n")
        #expect(s.sequence == nil && s.expires == nil)
    }

    struct Bad: Sendable, CustomTestStringConvertible {
        var yaml: String
        var message: String
        var testDescription: String { message }
    }

    static let head = "name: a\nversion: v\nsequence: 1\n"
    static let bad: [Bad] = [
        Bad(yaml: "- 1\n", message: "s.yaml:1: the spec must be a mapping with name, version, sequence and sources"),
        Bad(yaml: "name: a\nversion: v\nsources: []\nextra: 1\n",
            message: "s.yaml:4: the spec has an unknown field \"extra\" (expected name, version, sequence, expires, sources)"),
        Bad(yaml: "version: v\nsources: []\n", message: "s.yaml:1: the spec has no \"name\""),
        Bad(yaml: "name: a/b\nversion: v\n", message: "s.yaml:1: name \"a/b\" may use only letters, digits, '.', '-' and '_'"),
        Bad(yaml: "name: [a]\n", message: "s.yaml:1: \"name\" in the spec must be a single value"),
        Bad(yaml: "name: a\nversion: v\nsequence: -1\n", message: "s.yaml:3: sequence must be a whole number, 0 or more (found \"-1\")"),
        Bad(yaml: "name: a\nversion: v\nsequence: 9007199254740992\n", message: "s.yaml:3: sequence must be at most 9007199254740991 (found 9007199254740992)"),
        Bad(yaml: "name: a\nversion: v\nexpires: soon\n", message: "s.yaml:3: expires must be a UTC time like 2026-09-01T00:00:00Z (found \"soon\")"),
        Bad(yaml: "name: a\nversion: v\n", message: "s.yaml:1: the spec has no \"sources\""),
        Bad(yaml: head + "sources: x\n", message: "s.yaml:4: sources must be a list"),
        Bad(yaml: head + "sources: []\n", message: "s.yaml:4: sources is empty: a bundle needs at least one source"),
        Bad(yaml: head + "sources:\n  - x\n", message: "s.yaml:5: each source must be a mapping with name, kind and path or url"),
        Bad(yaml: head + "sources:\n  - {name: x, kind: policies, path: p}\n  - {name: x, kind: policies, path: q}\n",
            message: "s.yaml:6: source name \"x\" is used twice"),
        Bad(yaml: head + "sources:\n  - {name: x, kind: feeds, path: p}\n",
            message: "s.yaml:5: source 'x' has kind \"feeds\"; expected advisories, policies or images"),
        Bad(yaml: head + "sources:\n  - {name: x, kind: policies}\n", message: "s.yaml:5: source 'x' needs a path or a url"),
        Bad(yaml: head + "sources:\n  - {name: x, kind: policies, path: p, url: https://e/x}\n",
            message: "s.yaml:5: source 'x' has both a path and a url; give one"),
        Bad(yaml: head + "sources:\n  - {name: x, kind: policies, url: ftp://e/x}\n",
            message: "s.yaml:5: source 'x': url must start with https:// or http://"),
        Bad(yaml: head + "sources:\n  - {name: x, kind: policies, path: p, sha256: 12}\n",
            message: "s.yaml:5: source 'x': sha256 must be 64 hex digits"),
        Bad(yaml: head + "sources:\n  - {name: x, kind: policies, path: p, archives: [a]}\n",
            message: "s.yaml:5: source 'x': \"archives\" is for kind images"),
        Bad(yaml: head + "sources:\n  - {name: x, kind: images}\n",
            message: "s.yaml:5: source 'x' of kind images needs \"archives\" (a list of image tarballs) or \"refs\" (a list of image references)"),
        Bad(yaml: head + "sources:\n  - {name: x, kind: images, archives: [a], path: p}\n",
            message: "s.yaml:5: source 'x' of kind images takes \"archives\", \"refs\" and \"platforms\" only, not path, url or sha256"),
        Bad(yaml: head + "sources:\n  - {name: x, kind: images, archives: []}\n",
            message: "s.yaml:5: source 'x': archives must be a non-empty list of files"),
        Bad(yaml: head + "sources:\n  - {name: x, kind: images, archives: [[a]]}\n",
            message: "s.yaml:5: source 'x': each archive must be a file path"),
        Bad(yaml: head + "sources:\n  - {name: x, kind: policies, path: p, mode: 1}\n",
            message: "s.yaml:5: source 'x' has an unknown field \"mode\" (expected name, kind, path, url, sha256, archives, refs, platforms, unpack)"),
    ]

    @Test("every mistake is a usage error naming its line", arguments: bad)
    func refused(_ c: Bad) {
        #expect {
            _ = try Self.parse(c.yaml)
        } throws: { error in
            guard let e = error as? ToolError else { return false }
            return e.status == .usage && e.message == c.message
        }
    }

    @Test("not YAML at all: one line, cut")
    func notYAML() {
        #expect {
            _ = try Self.parse("name: [a\n" + String(repeating: "x", count: 2000))
        } throws: { error in
            guard let e = error as? ToolError else { return false }
            return e.message.hasPrefix("s.yaml:3:1: not valid YAML: ") && !e.message.contains("\n") && e.message.count < 500
        }
    }
}
