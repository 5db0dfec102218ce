import BundleFormat
import Support
import Testing

@Suite("Canonical JSON")
struct CanonicalJSONTests {
    @Test("encodes with sorted keys, no spaces, minimal escapes")
    func encoding() {
        let v = JSON.object(["b": .int(-3), "a": .array([.null, .bool(true), .string("q\"\\\n\u{1}é")]), "B": .object([:])])
        #expect(v.canonicalString == #"{"B":{},"a":[null,true,"q\"\\\n\u0001é"],"b":-3}"#)
    }

    @Test("round-trips what it encodes", arguments: [
        JSON.string(""), .int(Int64.min), .int(Int64.max), .array([]),
        .object(["path": .string("advisories/x/ü y.json"), "n": .int(0)]),
    ])
    func roundTrip(_ v: JSON) throws {
        #expect(try JSON.parseCanonical(v.canonicalBytes, what: "t") == v)
    }

    @Test("refuses malformed or ambiguous input", arguments: [
        #"{"a":1,"a":2}"#,          // duplicate key: which one did the signer mean?
        #"{"a":1.5}"#,              // floats are not part of our formats
        #"{"a":01}"#,               // leading zero
        #"[1,]"#, #"{"a" 1}"#, #"[" "#, "nul", #""\ud800""#, "[1] x",
        #"{"a":99999999999999999999}"#,
        String(repeating: "[", count: 100) + String(repeating: "]", count: 100),
        "\"a\u{1}\"",
    ])
    func rejects(_ text: String) {
        #expect(throws: ToolError.self) { try JSON.parse(Array(text.utf8), what: "t") }
    }

    @Test("signed documents must already be canonical", arguments: [#"{"b":1,"a":2}"#, #"{ "a":1}"#, #"{"a":"\u0041"}"#])
    func nonCanonical(_ text: String) throws {
        _ = try JSON.parse(Array(text.utf8), what: "t")
        #expect(throws: ToolError.self) { try JSON.parseCanonical(Array(text.utf8), what: "t") }
    }
}

@Suite("Logical paths")
struct PathTests {
    @Test("refuses paths that could escape or confuse", arguments: [
        "", "/etc/passwd", "../x", "a/../b", "a//b", "a/./b", "a/", "a\u{0}b", "a\nb",
        String(repeating: "x", count: 256), String(repeating: "a/", count: 2100) + "z",
    ])
    func bad(_ p: String) { #expect(LogicalPath.problem(p) != nil) }

    @Test("accepts ordinary paths", arguments: ["advisories/pypa/vulns/a b/PYSEC-1.yaml", "policies/base/ü.rego", "a"])
    func good(_ p: String) { #expect(LogicalPath.problem(p) == nil) }

    @Test("a path cannot be a file and a folder at once")
    func shape() {
        #expect(throws: ToolError.self) { try TreeListing.checkShape(["advisories/a", "advisories/a/b"]) }
        #expect(throws: ToolError.self) { try TreeListing.checkShape(["BUNDLE.json"]) }
        #expect(throws: Never.self) { try TreeListing.checkShape(["advisories/a", "advisories/ab/c"]) }
    }
}

@Suite("Timestamps")
struct TimestampTests {
    @Test func roundTrip() {
        #expect(Timestamp.format(0) == "1970-01-01T00:00:00Z")
        #expect(Timestamp.parse("2026-09-01T00:00:00Z") == 1_788_220_800)
        #expect(Timestamp.parse(Timestamp.format(1_788_220_800)) == 1_788_220_800)
    }

    @Test("refuses what is not an RFC 3339 UTC time", arguments: ["2026-02-31T00:00:00Z", "2026-09-01", "2026-09-01T00:00:00+02:00", "yesterday"])
    func bad(_ s: String) { #expect(Timestamp.parse(s) == nil) }
}
