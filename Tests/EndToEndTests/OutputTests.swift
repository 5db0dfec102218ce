import Foundation
import Testing

/// Issue 12, item 13: what a terminal would obey never reaches it raw. Names on the media are
/// chosen by whoever wrote the media; the tools print them escaped, the format refuses them.
@Suite("Outside text on the terminal: escaped when printed, refused in the format")
struct OutputTests {
    /// An OSC title change, a screen clear, a CSI (U+009B), a bidi override and a line separator.
    static let hostile = "x\u{1B}]0;owned\u{07}\u{1B}[2J\u{9B}2J\u{202E}gpj.\u{2028}"

    /// Raw bytes no report may carry: ESC, BEL, C1 CSI, U+202E, U+2028.
    static func rawControls(in text: String) -> [String] {
        let bad: [(String, Unicode.Scalar)] = [("ESC", "\u{1B}"), ("BEL", "\u{07}"), ("U+009B", "\u{9B}"),
                                                ("U+202E", "\u{202E}"), ("U+2028", "\u{2028}")]
        return bad.filter { text.unicodeScalars.contains($0.1) }.map(\.0)
    }

    @Test("apply names a bundle file with escapes, a bidi override and a line separator only escaped")
    func applyEscapesBundleFileName() throws {
        let s = try Scratch()
        let (key, pub) = try s.key("k")
        let spec = try s.spec(sequence: 1, sources: [("feed", "advisories", try s.kev("2025-06-01"))])
        let built = try s.build(spec, key: key, output: "feeds.bundle")
        let named = s.at("feeds-\(Self.hostile).bundle")
        try FileManager.default.copyItem(atPath: built, toPath: named)
        let m = s.at("mirror")
        #expect(try mirrorctl("init", "--mirror", m, "--trust", pub).status == 0)

        let r = try mirrorctl("apply", named, "--mirror", m)
        #expect(r.status == 0, "\(r.text)")
        #expect(Self.rawControls(in: r.text) == [], "raw controls on the terminal: \(r.text)")
        #expect(r.out.contains("feeds-x\\u{1b}]0;owned\\u{7}\\u{1b}[2J\\u{9b}2J\\u{202e}gpj.\\u{2028}.bundle"), "\(r.out)")
        // The same file refused (already applied) is named escaped in the one-line error too.
        let again = try mirrorctl("apply", named, "--mirror", m)
        #expect(again.status == 1)
        #expect(Self.rawControls(in: again.text) == [], "\(again.text)")
        let log = try mirrorctl("log", "--mirror", m)
        #expect(Self.rawControls(in: log.text) == [], "\(log.text)")
    }

    @Test("media verify and apply from volumes name a junk file on the media only escaped")
    func mediaEscapesVolumeFileNames() throws {
        let s = try Scratch()
        let (key, pub) = try s.key("k")
        let spec = try s.spec(sequence: 1, sources: [("feed", "advisories", try s.kev("2025-06-01"))])
        let bundle = try s.build(spec, key: key, output: "feeds.bundle")
        // The mount point's name and a file on it are chosen by whoever wrote the media.
        let vols = s.at("vols-\(Self.hostile)")
        #expect(try bundlectl("media", "write", bundle, "--to", vols, "--create", "--volume-size", "1M", "--key", key).status == 0)
        // A file named like a volume, which the reader must report as a finding.
        try Data("junk".utf8).write(to: URL(fileURLWithPath: vols + "/\(Self.hostile)feeds-1.01of02.vol"))

        let v = try bundlectl("media", "verify", vols, "--trust", pub)
        #expect(v.text.contains("\\u{1b}]0;owned"), "the junk file is named: \(v.text)")
        #expect(Self.rawControls(in: v.text) == [], "raw controls on the terminal: \(v.text)")

        let m = s.at("mirror")
        #expect(try mirrorctl("init", "--mirror", m, "--trust", pub).status == 0)
        let a = try mirrorctl("apply", vols, "--mirror", m)
        #expect(a.text.contains("\\u{1b}]0;owned"), "the junk file is named: \(a.text)")
        #expect(Self.rawControls(in: a.text) == [], "raw controls on the terminal: \(a.text)")
        let log = try mirrorctl("log", "--mirror", m)
        #expect(Self.rawControls(in: log.text) == [], "\(log.text)")
    }

    @Test("a spec whose version carries an escape sequence or a bidi override is refused by build (exit 2)")
    func buildRefusesHostileVersion() throws {
        let s = try Scratch()
        let (key, _) = try s.key("k")
        // Raw controls are refused by YAML itself; its escapes ("\\e", "\\x9d") are how they get in.
        for (label, version, code) in [("escape", #"2026-12\e[2J"#, "U+001B"), ("C1", #"2026\x9d0;x"#, "U+009D"),
                                       ("bidi", "2026-12\u{202E}", "U+202E"), ("isolate", #"\u20672026"#, "U+2067")] {
            let spec = s.at("spec-\(label).yaml")
            let yaml = "name: feeds\nversion: \"\(version)\"\nsequence: 1\nsources:\n  - name: feed\n    kind: advisories\n    path: \(try s.kev("2025-06-01"))\n"
            try yaml.write(toFile: spec, atomically: true, encoding: .utf8)
            let r = try bundlectl("build", spec, "--key", key, "--output", s.at("out-\(label).bundle"))
            #expect(r.status == 2, "\(label): \(r.text)")
            #expect(r.err.contains("\"version\" in the spec contains") && r.err.contains(code), "\(label): \(r.err)")
            #expect(Self.rawControls(in: r.text) == [], "\(label): \(r.text)")
            #expect(!FileManager.default.fileExists(atPath: s.at("out-\(label).bundle")), "\(label): no bundle is written")
        }
    }
}
