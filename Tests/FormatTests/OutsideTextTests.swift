import BundleFormat
import Support
import Testing

/// One rule decides which characters outside text may not carry, and the escaping shows exactly
/// those: the table below is the list (C0, C1, DEL, U+2028-U+202E, U+2066-U+2069).
@Suite("Outside text: refused and escaped by one rule")
struct OutsideTextTests {
    static let unsafe: [UInt32] = [0x00, 0x07, 0x0A, 0x1B, 0x1F, 0x7F, 0x80, 0x9B, 0x9D, 0x9F,
                                   0x2028, 0x2029, 0x202A, 0x202D, 0x202E, 0x2066, 0x2069]
    static let safe: [UInt32] = [0x20, 0x41, 0x7E, 0xA0, 0xE9, 0x200F, 0x2027, 0x202F, 0x2065, 0x206A, 0x1F600]

    @Test("refuses every listed character, accepts its neighbours")
    func table() throws {
        for v in Self.unsafe {
            let u = try #require(Unicode.Scalar(v))
            #expect(OutsideText.isUnsafe(u), "U+\(String(v, radix: 16))")
            #expect(OutsideText.problem("a\(Character(u))b") != nil)
            #expect(!ToolError.shown("a\(Character(u))b").unicodeScalars.contains(u), "shown escapes U+\(String(v, radix: 16))")
        }
        for v in Self.safe {
            let u = try #require(Unicode.Scalar(v))
            #expect(!OutsideText.isUnsafe(u), "U+\(String(v, radix: 16))")
            #expect(ToolError.shown("a\(Character(u))b") == "a\(Character(u))b")
        }
    }

    @Test("names the first offending character with its code point")
    func wording() {
        #expect(OutsideText.problem("v1\u{9B}2J") == "contains a control character (U+009B)")
        #expect(OutsideText.problem("v1\u{202E}x\u{1B}") == "contains a bidirectional-text or line-separator character (U+202E)")
        #expect(OutsideText.problem("2026-12 é") == nil)
    }

    @Test("paths, and every string field of a signed document, are held to it")
    func paths() throws {
        #expect(LogicalPath.problem("advisories/feed/\u{202E}x") == "contains a bidirectional-text or line-separator character (U+202E)")
        #expect(LogicalPath.problem("advisories/feed/\u{85}x") == "contains a control character (U+0085)")
        #expect(LogicalPath.problem("advisories/feed/ü.json") == nil)
        let o = try JSONObject(.object(["version": .string("v\u{2066}1"), "ref": .string("r\u{9D}")]), what: "MANIFEST")
        #expect(throws: ToolError.self) { try o.string("version") }
        #expect(throws: ToolError.self) { try o.optionalString("ref") }
        #expect((try? o.string("version")) == nil)
    }
}
