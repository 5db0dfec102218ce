import Support

/// A strict JSON reader for feed records that builds only what it is asked for.
///
/// `JSON.parse` (BundleFormat) reads the project's own documents: integers only, everything
/// materialized. Feed records are other people's JSON: floats, numbers of any size, and a KEV
/// catalog of a megabyte and more, of which the report needs a few fields. So this reader checks
/// every byte against the JSON grammar (RFC 8259) but materializes only the strings a caller
/// reads; a skipped value is checked and passed over without allocating. Nesting is bounded
/// (`maxDepth`) so a hostile file cannot exhaust the stack; any violation throws `Invalid`,
/// which the report turns into "a changed file", never an error.
struct RecordJSON {
    struct Invalid: Error {}

    static let maxDepth = 64

    private let p: UnsafeBufferPointer<UInt8>
    private var i = 0

    private init(_ p: UnsafeBufferPointer<UInt8>) { self.p = p }

    /// Runs `body` over `bytes` as one JSON document: `body` reads the top-level value, and
    /// only white space may follow it. The bytes must be UTF-8 (checked once, up front, so the
    /// strings read later need no second check).
    static func read<T>(_ bytes: UnsafeBufferPointer<UInt8>, _ body: (inout RecordJSON) throws -> T) throws -> T {
        guard WellFormedUTF8.check(bytes) else { throw Invalid() }
        var r = RecordJSON(bytes)
        r.space()
        let v = try body(&r)
        r.space()
        guard r.i == bytes.count else { throw Invalid() }
        return v
    }

    /// The first byte of the next value, after white space.
    mutating func peek() -> UInt8? {
        space()
        return i < p.count ? p[i] : nil
    }

    private mutating func space() {
        while i < p.count, p[i] == 0x20 || p[i] == 0x0A || p[i] == 0x0D || p[i] == 0x09 { i += 1 }
    }

    private mutating func expect(_ c: UInt8) throws {
        space()
        guard i < p.count, p[i] == c else { throw Invalid() }
        i += 1
    }

    /// Checks and passes over one value of any kind.
    mutating func skip(depth: Int) throws {
        guard depth < RecordJSON.maxDepth, let c = peek() else { throw Invalid() }
        switch c {
        case UInt8(ascii: "{"): try members(depth: depth) { r, _ in try r.skip(depth: depth + 1) }
        case UInt8(ascii: "["): try elements(depth: depth) { r in try r.skip(depth: depth + 1) }
        case UInt8(ascii: "\""): try passString()
        case UInt8(ascii: "t"): try word("true")
        case UInt8(ascii: "f"): try word("false")
        case UInt8(ascii: "n"): try word("null")
        default: try number()
        }
    }

    /// An object member's name, decoded, valid only during the call that receives it.
    struct Key {
        let bytes: UnsafeBufferPointer<UInt8>

        func `is`(_ name: StaticString) -> Bool {
            guard bytes.count == name.utf8CodeUnitCount else { return false }
            for k in 0..<bytes.count where bytes[k] != name.utf8Start[k] { return false }
            return true
        }
    }

    /// Visits each member of an object: `body` gets the key and must read or skip the value.
    /// A key without escapes is handed over in place, so a catalog's thousands of keys cost no
    /// allocation.
    mutating func members(depth: Int, _ body: (inout RecordJSON, Key) throws -> Void) throws {
        guard depth < RecordJSON.maxDepth else { throw Invalid() }
        try expect(UInt8(ascii: "{"))
        if peek() == UInt8(ascii: "}") { i += 1; return }
        while true {
            guard peek() == UInt8(ascii: "\"") else { throw Invalid() }
            if let plain = plainString() {
                try expect(UInt8(ascii: ":"))
                try body(&self, Key(bytes: UnsafeBufferPointer(rebasing: p[plain])))
            } else {
                let decoded = try stringBytes(limit: 4096) ?? []
                try expect(UInt8(ascii: ":"))
                try decoded.withUnsafeBufferPointer { try body(&self, Key(bytes: $0)) }
            }
            space()
            guard i < p.count else { throw Invalid() }
            i += 1
            if p[i - 1] == UInt8(ascii: "}") { return }
            guard p[i - 1] == UInt8(ascii: ",") else { throw Invalid() }
        }
    }

    /// Visits each element of an array: `body` must read or skip it.
    mutating func elements(depth: Int, _ body: (inout RecordJSON) throws -> Void) throws {
        guard depth < RecordJSON.maxDepth else { throw Invalid() }
        try expect(UInt8(ascii: "["))
        if peek() == UInt8(ascii: "]") { i += 1; return }
        while true {
            try body(&self)
            space()
            guard i < p.count else { throw Invalid() }
            i += 1
            if p[i - 1] == UInt8(ascii: "]") { return }
            guard p[i - 1] == UInt8(ascii: ",") else { throw Invalid() }
        }
    }

    /// A string value, decoded; nil (the value still consumed and checked) when it is longer
    /// than `limit` bytes once decoded. Throws if the value is not a string.
    mutating func string(limit: Int) throws -> String? {
        guard peek() == UInt8(ascii: "\"") else { throw Invalid() }
        if let plain = plainString() { return plain.count > limit ? nil : String(decoding: UnsafeBufferPointer(rebasing: p[plain]), as: UTF8.self) }
        guard let bytes = try stringBytes(limit: limit) else { return nil }
        // UTF-8 was checked for the whole document; escapes are checked as they are decoded.
        return String(decoding: bytes, as: UTF8.self)
    }

    /// A string, or null (nil), or any other value (skipped; `other` is set).
    mutating func optionalString(limit: Int, depth: Int, other: inout Bool) throws -> String? {
        switch peek() {
        case UInt8(ascii: "\"")?: return try string(limit: limit)
        case UInt8(ascii: "n")?: try word("null"); return nil
        default: other = true; try skip(depth: depth); return nil
        }
    }

    private mutating func word(_ w: StaticString) throws {
        let n = w.utf8CodeUnitCount
        guard p.count - i >= n else { throw Invalid() }
        for k in 0..<n where p[i + k] != w.utf8Start[k] { throw Invalid() }
        i += n
    }

    /// A number, checked against the grammar and never converted: its size does not matter.
    private mutating func number() throws {
        if i < p.count, p[i] == UInt8(ascii: "-") { i += 1 }
        guard i < p.count else { throw Invalid() }
        if p[i] == UInt8(ascii: "0") { i += 1 } else { try digits() }
        if i < p.count, p[i] == UInt8(ascii: ".") { i += 1; try digits() }
        if i < p.count, p[i] | 0x20 == UInt8(ascii: "e") {
            i += 1
            if i < p.count, p[i] == UInt8(ascii: "+") || p[i] == UInt8(ascii: "-") { i += 1 }
            try digits()
        }
    }

    private mutating func digits() throws {
        let start = i
        while i < p.count, p[i] >= UInt8(ascii: "0"), p[i] <= UInt8(ascii: "9") { i += 1 }
        guard i > start else { throw Invalid() }
    }

    /// The bytes of a string without escapes (the cursor on its opening quote, then past its
    /// closing one); nil, the cursor unmoved, for a string with escapes or a control character.
    private mutating func plainString() -> Range<Int>? {
        let k = plainRun(from: i + 1)
        guard k < p.count, p[k] == UInt8(ascii: "\"") else { return nil }
        defer { i = k + 1 }
        return (i + 1)..<k
    }

    /// The index of the first quote, backslash or control character at or after `k` (or the
    /// end). Eight bytes at a time: a KEV catalog is mostly long descriptions the report skips.
    private func plainRun(from start: Int) -> Int {
        var k = start
        if let base = UnsafeRawPointer(p.baseAddress) {
            while p.count - k >= 8 {
                let m = RecordJSON.stops(UInt64(littleEndian: base.loadUnaligned(fromByteOffset: k, as: UInt64.self)))
                if m != 0 { return k + m.trailingZeroBitCount >> 3 }
                k += 8
            }
        }
        while k < p.count, p[k] != UInt8(ascii: "\""), p[k] != UInt8(ascii: "\\"), p[k] >= 0x20 { k += 1 }
        return k
    }

    /// The high bit of each byte of `x` (little-endian) that is a quote, a backslash or a control
    /// character, exact up to the first such byte, so its lowest set bit finds that byte. A byte
    /// of v is below n (at most 0x80) when (v - n) borrows into its high bit while v's is clear;
    /// a borrow only runs upward, so no byte below the first such one is marked. A byte equal to
    /// c is a byte of v ^ c below 1.
    private static func stops(_ x: UInt64) -> UInt64 {
        let ones: UInt64 = 0x0101_0101_0101_0101, highs: UInt64 = 0x8080_8080_8080_8080
        func below(_ v: UInt64, _ n: UInt64) -> UInt64 { (v &- n &* ones) & ~v }
        return (below(x, 0x20) | below(x ^ 0x2222_2222_2222_2222, 1) | below(x ^ 0x5C5C_5C5C_5C5C_5C5C, 1)) & highs
    }

    /// Passes over a string without decoding it (escapes are still checked).
    private mutating func passString() throws {
        var none: [UInt8] = []
        try stringBody(into: &none, keep: false)
    }

    /// Decodes a string (the cursor on its opening quote); nil when longer than `limit`.
    private mutating func stringBytes(limit: Int) throws -> [UInt8]? {
        var out: [UInt8] = []
        try stringBody(into: &out, keep: true, limit: limit)
        return out.count > limit ? nil : out
    }

    /// Reads a string from its opening quote to its closing one, appending the decoded bytes
    /// to `out` when `keep` (and only up to just past `limit`, so a huge value costs no memory).
    private mutating func stringBody(into out: inout [UInt8], keep: Bool, limit: Int = 0) throws {
        i += 1
        while i < p.count {
            let start = i
            i = plainRun(from: i)
            if keep, out.count <= limit { out += p[start..<min(i, start + limit + 1 - out.count)] }
            guard i < p.count, p[i] >= 0x20 else { throw Invalid() }
            if p[i] == UInt8(ascii: "\"") { i += 1; return }
            try escape(into: &out, keep: keep && out.count <= limit)
        }
        throw Invalid()
    }

    /// One escape sequence (the cursor on the backslash), checked, and appended to `out` as
    /// UTF-8 when `keep`.
    private mutating func escape(into out: inout [UInt8], keep: Bool) throws {
        guard i + 1 < p.count else { throw Invalid() }
        let e = p[i + 1]
        i += 2
        let byte: UInt8
        switch e {
        case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): byte = e
        case UInt8(ascii: "b"): byte = 8
        case UInt8(ascii: "f"): byte = 12
        case UInt8(ascii: "n"): byte = 10
        case UInt8(ascii: "r"): byte = 13
        case UInt8(ascii: "t"): byte = 9
        case UInt8(ascii: "u"): return try unicodeEscape(into: &out, keep: keep)
        default: throw Invalid()
        }
        if keep { out.append(byte) }
    }

    /// The rest of a \uXXXX escape (or a surrogate pair of them).
    private mutating func unicodeEscape(into out: inout [UInt8], keep: Bool) throws {
        var code = try hex4()
        if (0xD800..<0xDC00).contains(code) {
            guard p.count - i >= 2, p[i] == UInt8(ascii: "\\"), p[i + 1] == UInt8(ascii: "u") else { throw Invalid() }
            i += 2
            let low = try hex4()
            guard (0xDC00..<0xE000).contains(low) else { throw Invalid() }
            code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00)
        } else if (0xDC00..<0xE000).contains(code) {
            throw Invalid()
        }
        guard let scalar = Unicode.Scalar(code) else { throw Invalid() }
        if keep { out += Array(String(Character(scalar)).utf8) }
    }

    private mutating func hex4() throws -> UInt32 {
        guard p.count - i >= 4 else { throw Invalid() }
        var v: UInt32 = 0
        for _ in 0..<4 {
            let c = p[i] | 0x20
            let d: UInt8
            switch c {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): d = c - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): d = c - UInt8(ascii: "a") + 10
            default: throw Invalid()
            }
            v = v << 4 | UInt32(d)
            i += 1
        }
        return v
    }
}
