import BundleFormat
import Foundation
import Support
import Testing

@Suite("Manifest and index parsing")
struct ManifestTests {
    static let d = SHA256Digest(hex: String(repeating: "ab", count: 32))!

    static func sample() -> Manifest {
        Manifest(name: "feeds", version: "2026.06", sequence: 7, created: 0, expires: nil, tree: d, treeFiles: 1, treeSize: 5,
                 index: PartRef(path: "INDEX.zst", sha256: d, size: 10, uncompressed: 20),
                 packs: [PartRef(path: "packs/\(d.hex).zst", sha256: d, size: 3, uncompressed: 5)],
                 sources: [SourceSummary(name: "x", kind: .advisories, origin: "feeds/x", files: 1, size: 5)])
    }

    @Test func roundTrip() throws {
        let m = Self.sample()
        #expect(try Manifest(canonical: m.canonicalBytes) == m)
    }

    static let ab = String(repeating: "ab", count: 32)

    /// Each case replaces one piece of a valid manifest's canonical text; every result must be refused.
    @Test("refuses hostile or broken manifests", arguments: [
        ("unknown format", "airgap-bundle/1", "airgap-bundle/9"),
        ("wrong type", #""sequence":7"#, #""sequence":"7""#),
        ("negative", #""sequence":7"#, #""sequence":-7"#),
        ("huge size", #""size":3"#, #""size":9223372036854775807"#),
        ("unknown field", #"{"created""#, #"{"backdoor":1,"created""#),
        ("upper-case digest", ab + "\",\"size\":3", ab.uppercased() + "\",\"size\":3"),
        ("pack not named by digest", "packs/ab", "packs/../ab"),
        ("not JSON", #"{"created""#, #"{{"created""#),
        ("bad name", #""name":"feeds""#, #""name":"../feeds""#),
        ("spaces", #""sequence":7"#, #""sequence": 7"#),
    ])
    func rejects(_ label: String, _ find: String, _ replacement: String) {
        let original = Self.sample().json.canonicalString
        let text = original.replacingOccurrences(of: find, with: replacement)
        #expect(text != original, "case \(label) must change the text")
        #expect(throws: ToolError.self, "\(label)") { try Manifest(canonical: Array(text.utf8)) }
    }

    static func index(_ files: String, objects: String = "[[0,5]]") -> [UInt8] {
        Array("{\"files\":\(files),\"objects\":\(objects)}".utf8)
    }

    @Test func validIndex() throws {
        let i = try BundleIndex(canonical: Self.index(#"[["advisories/x/a",420,0]]"#), manifest: Self.sample())
        #expect(i.files.count == 1)
    }

    @Test("refuses indexes that could write outside the tree or lie about sizes", arguments: [
        #"[["../etc/passwd",420,0]]"#, #"[["/abs",420,0]]"#, #"[["advisories/x/a",4095,0]]"#,
        #"[["advisories/x/a",420,1]]"#, #"[["elsewhere/a",420,0]]"#, #"[["advisories",420,0]]"#,
        #"[["advisories/x/a",420,0],["advisories/x/a",420,0]]"#, #"[]"#,
    ])
    func badIndex(_ files: String) {
        #expect(throws: ToolError.self) { try BundleIndex(canonical: Self.index(files), manifest: Self.sample()) }
    }

    @Test("refuses objects that do not add up to the pack's declared size")
    func badObjects() {
        #expect(throws: ToolError.self) {
            try BundleIndex(canonical: Self.index(#"[["advisories/x/a",420,0]]"#, objects: "[[0,6]]"), manifest: Self.sample())
        }
    }
}
