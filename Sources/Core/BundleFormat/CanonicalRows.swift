import Support

/// Reads a canonical JSON object whose large members are arrays of rows (FILES.json, INDEX)
/// one row at a time, so a listing of a million files never becomes a tree of a million values.
///
/// It accepts exactly what `JSON.parseCanonical` accepts: keys in byte order without repeats, no
/// white space, and every row in its canonical encoding. The document may be in memory or read
/// through `read` in windows of 1 MiB; a row longer than `maxRow` bytes is refused either way.
public struct CanonicalRows {
    public static let defaultMaxRow = 1 << 16
    private let what: String
    private let maxRow: Int
    private let read: ((UnsafeMutableRawBufferPointer) throws -> Int)?
    private let limit: Int
    private var buf: [UInt8]
    private var pos = 0
    /// Bytes of the document before `buf[0]`.
    private var consumed = 0
    private var eof: Bool
    private var hash = SHA256Stream()
    private var lastKey: [UInt8]?
    private var ended = false
    /// Where `read` puts each piece before it joins `buf`: allocated once.
    private var chunk: [UInt8] = []

    /// A document already in memory: its rows may be as long as it is.
    public init(_ bytes: [UInt8], what: String) {
        self.what = what
        maxRow = max(bytes.count, 1)
        read = nil
        limit = bytes.count
        buf = bytes
        eof = true
        hash.update(bytes)
    }

    /// A document read through `read` (0 at its end), refused past `limit` bytes.
    public init(what: String, limit: Int, maxRow: Int = defaultMaxRow, read: @escaping (UnsafeMutableRawBufferPointer) throws -> Int) {
        self.what = what
        self.maxRow = maxRow
        self.read = read
        self.limit = limit
        buf = []
        eof = false
    }

    /// The SHA-256 of every byte the document held: valid once `nextKey()` has returned nil.
    public var sha256: SHA256Digest { hash.finalize() }
    /// The document's size in bytes: valid once `nextKey()` has returned nil.
    public var size: Int64 { hash.count }

    /// The next member's key, or nil after the closing brace (then nothing may follow). Call
    /// `value()` or `rows(_:)` for each key before asking for the next.
    public mutating func nextKey() throws -> String? {
        if ended { return nil }
        if lastKey == nil { try open() }
        guard let next = try peek() else { throw fail("unterminated object") }
        if next == UInt8(ascii: "}") {
            pos += 1
            try finish()
            return nil
        }
        if lastKey != nil { try expect(UInt8(ascii: ",")) }
        let v = try parseOne()
        guard case .string(let key) = v else { throw fail("expected a key") }
        let k = Array(key.utf8)
        if let lastKey, !lastKey.lexicographicallyPrecedes(k) {
            throw lastKey == k ? fail("duplicate key \"\(ToolError.shown(key))\"") : notCanonical
        }
        lastKey = k
        try expect(UInt8(ascii: ":"))
        return key
    }

    /// The current member's value, whole: for the small members beside the rows.
    public mutating func value() throws -> JSON { try parseOne() }

    /// Hands `body` each row of the current member, which must be an array, with its position.
    public mutating func rows(_ body: (Int, JSON) throws -> Void) throws {
        guard try peek() == UInt8(ascii: "[") else { throw ToolError.refused("\(what): field \"\(ToolError.shown(String(decoding: lastKey ?? [], as: UTF8.self)))\" must be an array") }
        pos += 1
        if try peek() == UInt8(ascii: "]") { pos += 1; return }
        var n = 0
        while true {
            try body(n, try parseOne())
            n += 1
            switch try peek() {
            case UInt8(ascii: ",")?: pos += 1
            case UInt8(ascii: "]")?: pos += 1; return
            case nil: throw fail("unterminated array")
            default: throw notCanonical
            }
        }
    }

    // MARK: The window

    private var notCanonical: ToolError { ToolError.refused("\(what) is not in canonical form (sorted keys, no spaces)") }

    private func fail(_ m: String) -> ToolError {
        ToolError.refused("\(what) is not valid JSON: \(m) at byte \(consumed + pos)")
    }

    /// The opening brace. A document that is not an object is refused as the tree parser
    /// refuses it: with what is wrong in it as JSON, or else that it is not an object.
    private mutating func open() throws {
        if try peek() == UInt8(ascii: "{") { return pos += 1 }
        if read == nil { _ = try JSON.parse(buf, what: what) }
        if let c = try peek(), [0x20, 0x09, 0x0A, 0x0D].contains(c) { throw notCanonical }
        throw ToolError.refused("\(what) must be a JSON object")
    }

    /// One value at `pos`, checked to be in its canonical encoding.
    private mutating func parseOne() throws -> JSON {
        try fill(maxRow)
        if pos < buf.count, [0x20, 0x09, 0x0A, 0x0D].contains(buf[pos]) { throw notCanonical }
        var p = JSON.Parser(bytes: buf, what: what, i: pos, offset: consumed)
        let v: JSON
        do { v = try p.value(depth: 1) } catch {
            if !eof && p.i >= buf.count { throw ToolError.refused("\(what) has an entry longer than \(maxRow) bytes at byte \(consumed + pos)") }
            throw error
        }
        guard p.i - pos <= maxRow else { throw ToolError.refused("\(what) has an entry longer than \(maxRow) bytes at byte \(consumed + pos)") }
        var encoded: [UInt8] = []
        v.encode(into: &encoded)
        guard buf[pos..<p.i].elementsEqual(encoded) else { throw notCanonical }
        pos = p.i
        return v
    }

    private mutating func peek() throws -> UInt8? {
        try fill(1)
        return pos < buf.count ? buf[pos] : nil
    }

    private mutating func expect(_ c: UInt8) throws {
        switch try peek() {
        case c?: pos += 1
        case nil: throw fail("unexpected end")
        case 0x20?, 0x09?, 0x0A?, 0x0D?: throw notCanonical
        default: throw fail("expected '\(Character(Unicode.Scalar(c)))'")
        }
    }

    private mutating func finish() throws {
        ended = true
        try fill(1)
        guard pos == buf.count else {
            if [0x20, 0x09, 0x0A, 0x0D].contains(buf[pos]) { throw notCanonical }
            throw fail("unexpected data after the JSON value")
        }
    }

    /// Makes at least `n` bytes available at `pos`, unless the document ends first.
    private mutating func fill(_ n: Int) throws {
        guard let read, !eof, buf.count - pos < n else { return }
        if pos > 0 {
            buf.removeFirst(pos)
            consumed += pos
            pos = 0
        }
        if chunk.isEmpty { chunk = [UInt8](repeating: 0, count: 1 << 20) }
        while !eof && buf.count - pos < n {
            let got = try chunk.withUnsafeMutableBytes { try read($0) }
            guard got > 0 else { eof = true; break }
            guard consumed + buf.count + got <= limit else { throw ToolError.refused("\(what) is larger than the \(limit) bytes expected") }
            chunk.withUnsafeBytes { hash.update(UnsafeRawBufferPointer(rebasing: $0[..<got])) }
            buf.append(contentsOf: chunk[..<got])
        }
    }
}

/// Writes a canonical JSON object whose large members are arrays of rows, a row at a time, to
/// `sink` in chunks of about 1 MiB: the bytes `JSON.canonicalBytes` gives for the same object.
public struct CanonicalRowsWriter {
    private let sink: ([UInt8]) throws -> Void
    /// The bytes not yet handed to the sink; rows are encoded straight into it.
    private var e = RowEncoder()
    private var lastKey: [UInt8]?

    public init(sink: @escaping ([UInt8]) throws -> Void) {
        self.sink = sink
        e.out.reserveCapacity(1 << 20)
    }

    /// A member with a small value. Keys must come in byte order.
    public mutating func member(_ key: String, _ value: JSON) throws {
        startMember(key)
        value.encode(into: &e.out)
        try flushIfFull()
    }

    /// A member whose value is an array of rows, each written by one call of `row`.
    public mutating func rows<S: Sequence>(_ key: String, _ items: S, _ row: (S.Element, inout RowEncoder) throws -> Void) throws {
        startMember(key)
        e.out.append(UInt8(ascii: "["))
        var first = true
        for item in items {
            if !first { e.out.append(UInt8(ascii: ",")) }
            first = false
            e.begin()
            try row(item, &e)
            e.end()
            try flushIfFull()
        }
        e.out.append(UInt8(ascii: "]"))
    }

    /// Closes the object and hands the sink what is left.
    public mutating func finish() throws {
        if lastKey == nil { e.out.append(UInt8(ascii: "{")) }
        e.out.append(UInt8(ascii: "}"))
        try sink(e.out)
        e.out = []
    }

    private mutating func startMember(_ key: String) {
        let k = Array(key.utf8)
        precondition(lastKey.map { $0.lexicographicallyPrecedes(k) } ?? true, "canonical members must be written in key order")
        e.out.append(UInt8(ascii: lastKey == nil ? "{" : ","))
        lastKey = k
        JSON.encodeString(key, into: &e.out)
        e.out.append(UInt8(ascii: ":"))
    }

    private mutating func flushIfFull() throws {
        guard e.out.count >= 1 << 20 else { return }
        try sink(e.out)
        e.out.removeAll(keepingCapacity: true)
    }
}

/// One row: a JSON array of strings and integers, encoded canonically as it is written.
public struct RowEncoder {
    fileprivate var out: [UInt8] = []
    private var count = 0

    public mutating func string(_ s: String) {
        separate()
        JSON.encodeString(s, into: &out)
    }

    public mutating func int(_ i: Int64) {
        separate()
        out += String(i).utf8
    }

    public mutating func value(_ v: JSON) {
        separate()
        v.encode(into: &out)
    }

    private mutating func separate() {
        if count > 0 { out.append(UInt8(ascii: ",")) }
        count += 1
    }

    fileprivate mutating func begin() {
        out.append(UInt8(ascii: "["))
        count = 0
    }

    fileprivate mutating func end() { out.append(UInt8(ascii: "]")) }
}
