import Support

/// A JSON value restricted to what our formats use: no floating point, integers that fit Int64.
///
/// Canonical encoding: object keys sorted by their UTF-8 bytes, no insignificant white space,
/// strings escaped minimally (`"`, `\`, control characters). Signed documents must be canonical,
/// so the bytes a signer saw are the only bytes that parse to those values.
public indirect enum JSON: Equatable, Sendable {
    case null
    case bool(Bool)
    case int(Int64)
    case string(String)
    case array([JSON])
    case object([String: JSON])

    // MARK: Encoding

    public var canonicalBytes: [UInt8] {
        var out: [UInt8] = []
        encode(into: &out)
        return out
    }

    public var canonicalString: String { String(decoding: canonicalBytes, as: UTF8.self) }

    func encode(into out: inout [UInt8]) {
        switch self {
        case .null: out += Array("null".utf8)
        case .bool(let b): out += Array((b ? "true" : "false").utf8)
        case .int(let i): out += Array(String(i).utf8)
        case .string(let s): JSON.encodeString(s, into: &out)
        case .array(let items):
            out.append(UInt8(ascii: "["))
            for (i, v) in items.enumerated() {
                if i > 0 { out.append(UInt8(ascii: ",")) }
                v.encode(into: &out)
            }
            out.append(UInt8(ascii: "]"))
        case .object(let members):
            out.append(UInt8(ascii: "{"))
            let keys = members.keys.sorted { Array($0.utf8).lexicographicallyPrecedes(Array($1.utf8)) }
            for (i, k) in keys.enumerated() {
                if i > 0 { out.append(UInt8(ascii: ",")) }
                JSON.encodeString(k, into: &out)
                out.append(UInt8(ascii: ":"))
                members[k]!.encode(into: &out)
            }
            out.append(UInt8(ascii: "}"))
        }
    }

    private static let hexDigits = Array("0123456789abcdef".utf8)

    static func encodeString(_ s: String, into out: inout [UInt8]) {
        out.append(UInt8(ascii: "\""))
        for b in s.utf8 {
            switch b {
            case UInt8(ascii: "\""): out += [92, 34]
            case UInt8(ascii: "\\"): out += [92, 92]
            case 0x08: out += [92, UInt8(ascii: "b")]
            case 0x0C: out += [92, UInt8(ascii: "f")]
            case 0x0A: out += [92, UInt8(ascii: "n")]
            case 0x0D: out += [92, UInt8(ascii: "r")]
            case 0x09: out += [92, UInt8(ascii: "t")]
            case 0..<0x20: out += [92, UInt8(ascii: "u"), 48, 48, hexDigits[Int(b >> 4)], hexDigits[Int(b & 0xf)]]
            default: out.append(b)
            }
        }
        out.append(UInt8(ascii: "\""))
    }

    // MARK: Parsing

    /// Parses strict JSON: UTF-8, no duplicate keys, no floats, nesting at most 64 deep.
    public static func parse(_ bytes: [UInt8], what: String) throws -> JSON {
        var p = Parser(bytes: bytes, what: what)
        p.skipSpace()
        let v = try p.value(depth: 0)
        p.skipSpace()
        guard p.i == bytes.count else { throw p.fail("unexpected data after the JSON value") }
        return v
    }

    /// Parses and insists the bytes are already canonical: for signed documents.
    public static func parseCanonical(_ bytes: [UInt8], what: String) throws -> JSON {
        let v = try parse(bytes, what: what)
        guard v.canonicalBytes == bytes else {
            throw ToolError.refused("\(what) is not in canonical form (sorted keys, no spaces)")
        }
        return v
    }

    /// `CanonicalRows` parses one row at a time with it, from a window of a longer document
    /// that starts `offset` bytes into it.
    struct Parser {
        let bytes: [UInt8]
        let what: String
        var i = 0
        var offset = 0

        func fail(_ m: String) -> ToolError {
            ToolError.refused("\(what) is not valid JSON: \(m) at byte \(offset + i)")
        }

        mutating func skipSpace() {
            while i < bytes.count, [0x20, 0x09, 0x0A, 0x0D].contains(bytes[i]) { i += 1 }
        }

        mutating func literal(_ word: String, _ v: JSON) throws -> JSON {
            let w = Array(word.utf8)
            guard i + w.count <= bytes.count, Array(bytes[i..<i + w.count]) == w else { throw fail("unknown literal") }
            i += w.count
            return v
        }

        mutating func value(depth: Int) throws -> JSON {
            guard depth < 64 else { throw fail("nesting deeper than 64") }
            guard i < bytes.count else { throw fail("unexpected end") }
            switch bytes[i] {
            case UInt8(ascii: "n"): return try literal("null", .null)
            case UInt8(ascii: "t"): return try literal("true", .bool(true))
            case UInt8(ascii: "f"): return try literal("false", .bool(false))
            case UInt8(ascii: "\""): return .string(try string())
            case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return try number()
            case UInt8(ascii: "["):
                i += 1
                var items: [JSON] = []
                skipSpace()
                if i < bytes.count, bytes[i] == UInt8(ascii: "]") { i += 1; return .array(items) }
                while true {
                    skipSpace()
                    items.append(try value(depth: depth + 1))
                    skipSpace()
                    guard i < bytes.count else { throw fail("unterminated array") }
                    if bytes[i] == UInt8(ascii: ",") { i += 1; continue }
                    if bytes[i] == UInt8(ascii: "]") { i += 1; return .array(items) }
                    throw fail("expected ',' or ']'")
                }
            case UInt8(ascii: "{"):
                i += 1
                var members: [String: JSON] = [:]
                skipSpace()
                if i < bytes.count, bytes[i] == UInt8(ascii: "}") { i += 1; return .object(members) }
                while true {
                    skipSpace()
                    guard i < bytes.count, bytes[i] == UInt8(ascii: "\"") else { throw fail("expected a key") }
                    let k = try string()
                    skipSpace()
                    guard i < bytes.count, bytes[i] == UInt8(ascii: ":") else { throw fail("expected ':'") }
                    i += 1
                    skipSpace()
                    let v = try value(depth: depth + 1)
                    guard members.updateValue(v, forKey: k) == nil else { throw fail("duplicate key \"\(ToolError.shown(k))\"") }
                    skipSpace()
                    guard i < bytes.count else { throw fail("unterminated object") }
                    if bytes[i] == UInt8(ascii: ",") { i += 1; continue }
                    if bytes[i] == UInt8(ascii: "}") { i += 1; return .object(members) }
                    throw fail("expected ',' or '}'")
                }
            default:
                throw fail("unexpected character")
            }
        }

        mutating func number() throws -> JSON {
            let start = i
            if bytes[i] == UInt8(ascii: "-") { i += 1 }
            let digitsStart = i
            while i < bytes.count, bytes[i] >= 48, bytes[i] <= 57 { i += 1 }
            guard i > digitsStart else { throw fail("malformed number") }
            if bytes[digitsStart] == 48 && i - digitsStart > 1 { throw fail("leading zero") }
            if i < bytes.count, [UInt8(ascii: "."), UInt8(ascii: "e"), UInt8(ascii: "E")].contains(bytes[i]) {
                throw fail("only integers are allowed")
            }
            guard let v = Int64(String(decoding: bytes[start..<i], as: UTF8.self)) else { throw fail("integer out of range") }
            return .int(v)
        }

        mutating func string() throws -> String {
            i += 1
            var out: [UInt8] = []
            while true {
                guard i < bytes.count else { throw fail("unterminated string") }
                let c = bytes[i]
                i += 1
                switch c {
                case UInt8(ascii: "\""):
                    guard let s = String(validating: out, as: UTF8.self) else { throw fail("string is not UTF-8") }
                    return s
                case UInt8(ascii: "\\"):
                    guard i < bytes.count else { throw fail("unterminated escape") }
                    let e = bytes[i]
                    i += 1
                    switch e {
                    case UInt8(ascii: "\""): out.append(34)
                    case UInt8(ascii: "\\"): out.append(92)
                    case UInt8(ascii: "/"): out.append(47)
                    case UInt8(ascii: "b"): out.append(8)
                    case UInt8(ascii: "f"): out.append(12)
                    case UInt8(ascii: "n"): out.append(10)
                    case UInt8(ascii: "r"): out.append(13)
                    case UInt8(ascii: "t"): out.append(9)
                    case UInt8(ascii: "u"):
                        var code = try hex4()
                        if (0xD800..<0xDC00).contains(code) {
                            guard i + 1 < bytes.count, bytes[i] == 92, bytes[i + 1] == UInt8(ascii: "u") else { throw fail("lone surrogate") }
                            i += 2
                            let low = try hex4()
                            guard (0xDC00..<0xE000).contains(low) else { throw fail("bad surrogate pair") }
                            code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00)
                        } else if (0xDC00..<0xE000).contains(code) {
                            throw fail("lone surrogate")
                        }
                        guard let scalar = Unicode.Scalar(code) else { throw fail("bad code point") }
                        out += Array(String(Character(scalar)).utf8)
                    default: throw fail("unknown escape")
                    }
                default:
                    guard c >= 0x20 else { throw fail("control character in string") }
                    out.append(c)
                }
            }
        }

        mutating func hex4() throws -> UInt32 {
            guard i + 4 <= bytes.count, let b = Hex.decode(String(decoding: bytes[i..<i + 4], as: UTF8.self)) else {
                throw fail("bad \\u escape")
            }
            i += 4
            return UInt32(b[0]) << 8 | UInt32(b[1])
        }
    }
}

/// Typed access to a parsed object, with errors that name the document and the field.
public struct JSONObject {
    public let members: [String: JSON]
    public let what: String

    public init(_ value: JSON, what: String) throws {
        guard case .object(let m) = value else { throw ToolError.refused("\(what) must be a JSON object") }
        members = m
        self.what = what
    }

    /// Refuses fields this version does not know: a field we would ignore could carry meaning.
    public func allowOnly(_ keys: Set<String>) throws {
        for k in members.keys where !keys.contains(k) {
            throw ToolError.refused("\(what) has an unknown field \"\(ToolError.shown(k))\"")
        }
    }

    private func wrong(_ key: String, _ type: String) -> ToolError {
        ToolError.refused("\(what): field \"\(key)\" must be \(type)")
    }

    /// A string field. Every string our documents hold (names, versions, origins, references,
    /// times) may be shown to someone, so none may carry controls or bidirectional overrides.
    public func string(_ key: String) throws -> String {
        guard case .string(let s)? = members[key] else { throw wrong(key, "a string") }
        return try Self.plain(s, "\(what): field \"\(key)\"")
    }

    public func optionalString(_ key: String) throws -> String? {
        switch members[key] {
        case nil, .null?: return nil
        case .string(let s)?: return try Self.plain(s, "\(what): field \"\(key)\"")
        default: throw wrong(key, "a string or null")
        }
    }

    /// `text` if it holds nothing `OutsideText` refuses; `what` names it in the refusal.
    public static func plain(_ text: String, _ what: String) throws -> String {
        if let problem = OutsideText.problem(text) { throw ToolError.refused("\(what) \(problem)") }
        return text
    }

    public func int(_ key: String, min: Int64 = 0, max: Int64 = Int64.max) throws -> Int64 {
        guard case .int(let v)? = members[key] else { throw wrong(key, "an integer") }
        guard v >= min && v <= max else { throw ToolError.refused("\(what): field \"\(key)\" is out of range (\(v))") }
        return v
    }

    public func array(_ key: String) throws -> [JSON] {
        guard case .array(let a)? = members[key] else { throw wrong(key, "an array") }
        return a
    }

    public func object(_ key: String) throws -> JSONObject {
        guard let v = members[key] else { throw wrong(key, "an object") }
        return try JSONObject(v, what: "\(what) field \"\(key)\"")
    }

    public func digest(_ key: String) throws -> SHA256Digest {
        let s = try string(key)
        guard let d = SHA256Digest(hex: s) else { throw wrong(key, "a SHA-256 digest in lower-case hex") }
        return d
    }
}
