import BundleFormat
import Support
import Testing

/// The row-at-a-time reader and writer must agree byte for byte with the tree-of-values
/// `JSON.parseCanonical` and `canonicalBytes` they replace for FILES.json and INDEX.
@Suite("Canonical rows: listings and indexes read and written a row at a time")
struct CanonicalRowsTests {
    static func listing(_ n: Int) -> TreeListing {
        TreeListing(entries: (0..<n).map { i in
            TreeListing.Entry(path: "advisories/feed/r\(String(format: "%05d", i))\(i % 7 == 0 ? " é\"\\" : "").json", mode: i % 3 == 0 ? 0o755 : 0o644,
                              size: Int64(i * 37), sha256: SHA256Digest.of(Array("\(i)".utf8)))
        })
    }

    /// The encoding the tree of values gives, which the rows must reproduce.
    static func treeBytes(_ l: TreeListing) -> [UInt8] { l.json.canonicalBytes }

    @Test("the writer's bytes are the tree's, for empty, small and multi-chunk listings", arguments: [0, 1, 5, 20_000])
    func writerMatchesTree(_ n: Int) throws {
        let l = Self.listing(n)
        #expect(l.canonicalBytes == Self.treeBytes(l))
        #expect(l.digest == SHA256Digest.of(Self.treeBytes(l)))
        var chunks = 0
        try l.write { _ in chunks += 1 }
        #expect(n < 20_000 || chunks > 1, "a large listing is handed over in several chunks")
    }

    @Test("read in windows of any size, a listing comes back equal with the digest of its bytes", arguments: [1, 7, 4096, 1 << 20])
    func streamedRead(_ window: Int) throws {
        let l = Self.listing(3_000)
        let bytes = l.canonicalBytes
        var at = 0
        var rows = CanonicalRows(what: "FILES.json", limit: bytes.count) { buffer in
            let n = min(window, buffer.count, bytes.count - at)
            for k in 0..<n { buffer[k] = bytes[at + k] }
            at += n
            return n
        }
        #expect(try TreeListing(&rows, what: "FILES.json") == l)
        #expect(rows.sha256 == SHA256Digest.of(bytes))
        #expect(rows.size == Int64(bytes.count))
    }

    @Test("a document past its limit, or a row past the window, is refused")
    func bounds() throws {
        let bytes = Self.listing(100).canonicalBytes
        func reader(limit: Int, maxRow: Int = CanonicalRows.defaultMaxRow) -> CanonicalRows {
            var at = 0
            return CanonicalRows(what: "FILES.json", limit: limit, maxRow: maxRow) { buffer in
                let n = min(buffer.count, bytes.count - at)
                for k in 0..<n { buffer[k] = bytes[at + k] }
                at += n
                return n
            }
        }
        var short = reader(limit: bytes.count - 1)
        let large = #expect(throws: ToolError.self) { try TreeListing(&short, what: "FILES.json") }
        #expect(large?.message == "FILES.json is larger than the \(bytes.count - 1) bytes expected")
        var narrow = reader(limit: bytes.count, maxRow: 40)
        let error = #expect(throws: ToolError.self) { try TreeListing(&narrow, what: "FILES.json") }
        #expect(error?.message.contains("an entry longer than 40 bytes") == true, "\(String(describing: error))")
    }

    /// Every single-byte edit of a small listing: the rows accept it exactly when the tree
    /// parser and the listing's own checks do, and then read the same entries.
    @Test("accepts exactly what the tree parser accepts, over every one-byte edit of a listing")
    func differential() throws {
        let good = Self.listing(3).canonicalBytes
        let replacements: [UInt8] = Array(" ,:[]{}\"\\0-9a".utf8) + [0, 0x7f, 0xc3]
        var accepted = 0
        for i in good.indices {
            for b in replacements where b != good[i] {
                var edited = good
                edited[i] = b
                let old = try? TreeListing.fromTree(edited)
                let new = try? TreeListing(canonical: edited, what: "FILES.json")
                #expect(old == new, "edit at \(i) to \(b): tree \(old == nil ? "refuses" : "accepts"), rows \(new == nil ? "refuse" : "accept")")
                if new != nil { accepted += 1 }
            }
        }
        #expect(accepted > 0, "some edits (a digit in a size) stay valid")
    }

    @Test("keys out of order, repeated or unknown; spaces; trailing data: refused")
    func structure() {
        for text in [#"{"files":[],"files":[]}"#, #"{"a":1,"files":[]}"#, #"{ "files":[]}"#, #"{"files":[]} "#, #"{"files":[]}x"#,
                     #"{"files":[ ]}"#, #"{}"#, #"{"files":{}}"#, "", "{"] {
            #expect(throws: ToolError.self, "\(text)") { try TreeListing(canonical: Array(text.utf8), what: "FILES.json") }
        }
    }

    @Test("entries out of order are refused, so contains(path:) can search")
    func sortedAndSearch() throws {
        let l = Self.listing(50)
        for e in l.entries { #expect(l.contains(path: e.path)) }
        #expect(!l.contains(path: "advisories/feed/zzz.json") && !l.contains(path: "") && !l.contains(path: "advisories"))
        var swapped = l
        swapped.entries.swapAt(3, 4)
        let error = #expect(throws: ToolError.self) { try TreeListing(canonical: swapped.json.canonicalBytes, what: "FILES.json") }
        #expect(error?.message == "FILES.json is not sorted at entry 4")
    }
}

extension TreeListing {
    /// The listing as the tree parser would read it, with the same checks on each entry.
    static func fromTree(_ bytes: [UInt8]) throws -> TreeListing {
        let o = try JSONObject(JSON.parseCanonical(bytes, what: "FILES.json"), what: "FILES.json")
        try o.allowOnly(["files"])
        let entries = try o.array("files").map { v -> Entry in
            guard case .array(let a) = v, a.count == 4, case .string(let p) = a[0], case .int(let m) = a[1],
                  case .int(let s) = a[2], case .string(let h) = a[3], let d = SHA256Digest(hex: h),
                  LogicalPath.problem(p) == nil, s >= 0, m == 0o644 || m == 0o755 else { throw ToolError.refused("malformed") }
            return Entry(path: p, mode: UInt32(m), size: s, sha256: d)
        }
        for k in entries.indices.dropFirst() where !LogicalPath.bytewiseLess(entries[k - 1].path, entries[k].path) { throw ToolError.refused("unsorted") }
        return TreeListing(entries: entries)
    }
}
