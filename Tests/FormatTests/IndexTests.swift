import BundleFormat
import Support
import Testing

/// The index's refusals, word for word: every check of `BundleIndex(canonical:manifest:)` in the
/// order it runs, so that reshaping the parser cannot change what a user reads.
@Suite("Index refusals")
struct IndexTests {
    static let d = SHA256Digest(hex: String(repeating: "ab", count: 32))!
    static let e = SHA256Digest(hex: String(repeating: "cd", count: 32))!

    static func pack(_ n: Int, size: Int64, uncompressed: Int64) -> PartRef {
        PartRef(path: "packs/\(String(repeating: "0\(n)", count: 32)).zst", sha256: d, size: size, uncompressed: uncompressed)
    }

    /// A full bundle: one solid pack of 5 bytes holding one file; or two packs when `packs` is 2.
    static func full(packs: Int = 1) -> Manifest {
        Manifest(name: "feeds", version: "1", sequence: 1, created: 0, expires: nil, tree: d, treeFiles: 1, treeSize: 5,
                 index: PartRef(path: "INDEX.zst", sha256: d, size: 10, uncompressed: 20),
                 packs: (0..<packs).map { pack($0, size: 3, uncompressed: 5) }, sources: [])
    }

    /// A delta: pack 0 holds objects (5 bytes), pack 1 holds patches (4 bytes stored, 7 decoded).
    static func delta() -> Manifest {
        Manifest(name: "feeds", version: "2", sequence: 2, created: 0, expires: nil, tree: d, treeFiles: 3, treeSize: 20,
                 index: PartRef(path: "INDEX.zst", sha256: d, size: 10, uncompressed: 20),
                 packs: [pack(0, size: 3, uncompressed: 5), pack(1, size: 4, uncompressed: 7)], sources: [],
                 base: BaseRef(name: "feeds", sequence: 1, manifest: d, tree: e, mirror: nil))
    }

    static func index(files: String, objects: String, patches: String? = nil, removed: String? = nil) -> [UInt8] {
        var text = "{\"files\":\(files),\"objects\":\(objects)"
        if let patches { text += ",\"patches\":\(patches)" }
        if let removed { text += ",\"removed\":\(removed)" }
        return Array((text + "}").utf8)
    }

    struct Case: Sendable, CustomTestStringConvertible {
        var label: String
        var delta = false
        var packs = 1
        var files = #"[["advisories/x/a",420,0]]"#
        var objects = "[[0,5]]"
        var patches: String?
        var removed: String?
        var message: String
        var testDescription: String { label }
    }

    static let ab = String(repeating: "ab", count: 32)
    static let okPatch = "[[1,4,7,\"\(ab)\"]]"

    static let refusals: [Case] = [
        Case(label: "object malformed", objects: "[[0]]", message: "INDEX object 0 is malformed"),
        Case(label: "object in an unlisted pack", objects: "[[1,5]]", message: "INDEX object 0 is in pack 1, which the manifest does not list"),
        Case(label: "objects out of pack order", packs: 2, objects: "[[1,5],[0,5]]", message: "INDEX object 1 is not in pack order"),
        Case(label: "object sizes wrap", objects: "[[0,1125899906842624],[0,1]]", message: "INDEX items of pack 0 add up to more than 1125899906842624 bytes"),
        Case(label: "pack sum wrong", objects: "[[0,6]]", message: "INDEX items of pack 0 add up to 6 bytes, the manifest says 5"),
        Case(label: "empty pack", packs: 2, message: "INDEX names nothing in pack 1"),
        Case(label: "file malformed", files: #"[["advisories/x/a",420]]"#, message: "INDEX file 0 is malformed"),
        Case(label: "file names no object", files: #"[["advisories/x/a",420,1]]"#, message: "INDEX file 0 names no object this bundle has"),
        Case(label: "digest in a full bundle", files: "[[\"advisories/x/a\",420,\"\(ab)\"]]", message: "INDEX file 0 names no object this bundle has"),
        Case(label: "bad mode", files: #"[["advisories/x/a",4095,0]]"#, message: "INDEX file \"advisories/x/a\" has mode 7777; only 644 and 755 are carried"),
        Case(label: "outside the kinds", files: #"[["elsewhere/a",420,0]]"#, message: "INDEX path \"elsewhere/a\" is not under advisories/, policies/ or images/"),
        Case(label: "listed twice", files: #"[["advisories/x/a",420,0],["advisories/x/a",420,0]]"#, message: "INDEX lists \"advisories/x/a\" twice"),
        Case(label: "unsorted", files: #"[["advisories/x/b",420,0],["advisories/x/a",420,0]]"#, message: "INDEX files are not sorted at \"advisories/x/a\""),
        Case(label: "more files than the tree", files: #"[["advisories/x/a",420,0],["advisories/x/b",420,0]]"#, message: "INDEX lists more files than the 1 of the signed tree"),
        Case(label: "more files than a delta's tree", delta: true, files: #"[["advisories/x/a",420,0],["advisories/x/b",420,0],["advisories/x/c",420,0],["advisories/x/d",420,0]]"#, patches: okPatch, message: "INDEX lists more files than the 3 of the signed tree"),
        Case(label: "tree mismatch", files: "[]", message: "INDEX describes 0 files of 0 bytes; the manifest says 1 of 5"),
        Case(label: "mixed pack", delta: true, objects: "[[0,5]]", patches: "[[0,4,7,\"\(ab)\"]]", message: "INDEX pack 0 mixes objects and patches"),
        Case(label: "patch malformed", delta: true, patches: "[[1,0,7,\"\(ab)\"]]", message: "INDEX patch 0 is malformed"),
        Case(label: "patch stored sum", delta: true, patches: "[[1,3,7,\"\(ab)\"]]", message: "INDEX patches of pack 1 add up to 3 stored bytes, the manifest says 4"),
        Case(label: "patch decoded sum", delta: true, patches: "[[1,4,6,\"\(ab)\"]]", message: "INDEX items of pack 1 add up to 6 bytes, the manifest says 7"),
        Case(label: "malformed digest", delta: true, files: #"[["advisories/x/a",420,"zz"]]"#, patches: okPatch, message: "INDEX file 0 names a malformed digest"),
        Case(label: "removal malformed", delta: true, patches: okPatch, removed: "[1]", message: "INDEX removal 0 is malformed"),
        Case(label: "removal bad path", delta: true, patches: okPatch, removed: #"["elsewhere/a"]"#, message: "INDEX path \"elsewhere/a\" is not under advisories/, policies/ or images/"),
        Case(label: "removals unsorted", delta: true, patches: okPatch, removed: #"["advisories/x/c","advisories/x/b"]"#, message: "INDEX removals are not sorted at \"advisories/x/b\""),
        Case(label: "changed and removed", delta: true, patches: okPatch, removed: #"["advisories/x/a"]"#, message: "INDEX both changes and removes \"advisories/x/a\""),
    ]

    @Test("refuses with the same words", arguments: refusals)
    func refusal(_ c: Case) {
        let manifest = c.delta ? Self.delta() : Self.full(packs: c.packs)
        let bytes = Self.index(files: c.files, objects: c.objects, patches: c.patches, removed: c.removed)
        let error = #expect(throws: ToolError.self) { try BundleIndex(canonical: bytes, manifest: manifest) }
        #expect(error?.message == c.message)
        #expect(error?.status == .refused)
    }

    @Test("a full bundle refuses the keys only a delta carries")
    func deltaKeysInFull() {
        let bytes = Self.index(files: #"[["advisories/x/a",420,0]]"#, objects: "[[0,5]]", removed: #"["advisories/x/b"]"#)
        #expect(throws: ToolError.self) { try BundleIndex(canonical: bytes, manifest: Self.full()) }
    }

    /// File 0 is the object, file 1 the patch (item 1, after the one object), file 2 the base's bytes.
    static let deltaFiles = "[[\"advisories/x/a\",420,0],[\"advisories/x/b\",493,1],[\"advisories/x/c\",420,\"\(ab)\"]]"

    @Test("a delta's files name objects, patches (numbered after the objects) and base content")
    func deltaSources() throws {
        let bytes = Self.index(files: Self.deltaFiles, objects: "[[0,5]]", patches: Self.okPatch, removed: #"["advisories/x/d"]"#)
        let i = try BundleIndex(canonical: bytes, manifest: Self.delta())
        #expect(i.files.map(\.source) == [.object(0), .patch(0), .base(Self.d)])
        #expect(i.patches == [BundleIndex.Patch(pack: 1, stored: 4, size: 7, base: Self.d)])
        #expect(i.removed == ["advisories/x/d"])
        #expect(i.json.canonicalBytes == bytes)
    }
}

@Suite("Index items")
struct IndexItemTests {
    /// Two objects (3 and 0 bytes) and two patches (decoding to 7 and 9 bytes).
    static let index = BundleIndex(
        objects: [.init(pack: 0, size: 3), .init(pack: 0, size: 0)], files: [],
        patches: [.init(pack: 1, stored: 4, size: 7, base: IndexTests.d), .init(pack: 1, stored: 5, size: 9, base: IndexTests.e)])

    @Test("objects are numbered first, then patches, and numbers name them back", arguments: [
        (BundleIndex.Item.object(0), 0, Int64(3)), (.object(1), 1, 0), (.patch(0), 2, 7), (.patch(1), 3, 9),
    ])
    func numbering(_ item: BundleIndex.Item, _ number: Int, _ size: Int64) {
        let i = Self.index
        #expect(i.number(of: item) == number)
        #expect(i.item(number: number) == item)
        #expect(i.size(of: item) == size)
        #expect(i.itemSize(number) == size)
    }

    @Test("numbers outside the index name no item", arguments: [-1, 4, 100])
    func outside(_ n: Int) {
        #expect(Self.index.item(number: n) == nil)
        #expect(Self.index.itemCount == 4)
    }

    @Test("a file's source names its item; base content is none")
    func sourceItem() {
        #expect(BundleIndex.Source.object(2).item == .object(2))
        #expect(BundleIndex.Source.patch(1).item == .patch(1))
        #expect(BundleIndex.Source.base(IndexTests.d).item == nil)
    }

    @Test("the index names a patch by its item number")
    func patchReference() {
        var i = Self.index
        i.files = [BundleIndex.File(path: "advisories/x/a", mode: 0o644, source: .patch(1))]
        #expect(i.json.canonicalString.contains(#"["advisories/x/a",420,3]"#))
    }
}
