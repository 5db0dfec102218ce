@testable import Build
import BundleFormat
@testable import Collect
import Support
import Testing

@Suite("delta plan (in memory)")
struct DeltaPlanTests {
    static func digest(_ s: String) -> SHA256Digest { SHA256Digest.of(Array(s.utf8)) }

    /// A new file; its bytes are never read, since the patch maker is a stand-in.
    static func file(_ path: String, size: Int64 = 100, mode: UInt32 = 0o644, compressed: Bool = false) -> CollectedFile {
        CollectedFile(logicalPath: path, sourcePath: "/nowhere/\(path)", size: size, mode: mode, source: 0, compressed: compressed)
    }

    /// A base of three files; the bytes of `a` and `b` are at hand for patching (as from a base bundle).
    static let base = DeltaBase(
        ref: BaseRef(name: "feeds", sequence: 1, manifest: digest("manifest"), tree: digest("tree"), mirror: nil),
        listing: TreeListing(entries: [
            .init(path: "advisories/x/a", mode: 0o644, size: 100, sha256: digest("a1")),
            .init(path: "advisories/x/b", mode: 0o644, size: 100, sha256: digest("b1")),
            .init(path: "advisories/x/gone", mode: 0o644, size: 100, sha256: digest("gone")),
        ]),
        content: [digest("a1"): "/scratch/base-a1", digest("b1"): "/scratch/base-b1"])

    /// Records what it was asked to patch; answers with a frame unless the base file is `refuse`.
    final class FakePatcher {
        var asked: [(String, String)] = []
        var refuse: String?
        func make(_ f: CollectedFile, _ d: SHA256Digest, _ baseFile: String) throws -> PatchBody? {
            asked.append((f.logicalPath, baseFile))
            return baseFile == refuse ? nil : .frame(Array("patch of \(f.logicalPath)".utf8))
        }
    }

    func plan(_ files: [(CollectedFile, String)], base: DeltaBase = base, patcher: FakePatcher = FakePatcher()) throws -> DeltaPlan {
        let inputs = HashedInputs(files: files.map(\.0), digests: files.map { Self.digest($0.1) })
        return try DeltaPlanner.plan(inputs, against: base, patch: patcher.make)
    }

    @Test("same path, bytes and mode: unchanged; same bytes elsewhere: reused; paths not kept: removed")
    func unchangedReusedRemoved() throws {
        let p = try plan([(Self.file("advisories/x/a"), "a1"), (Self.file("advisories/x/b"), "b1"), (Self.file("advisories/x/moved"), "b1")])
        #expect(p.sources == [.unchanged, .unchanged, .base])
        #expect(p.removed == ["advisories/x/gone"])
        #expect(p.patches.isEmpty && p.patchBodies.isEmpty)
        #expect(p.reused == 1 && p.unchanged == 2)
        #expect(p.base == Self.base.ref)
    }

    @Test("a changed mode is not unchanged: the bytes are reused from the base")
    func modeChange() throws {
        let p = try plan([(Self.file("advisories/x/a", mode: 0o755), "a1")])
        #expect(p.sources == [.base])
    }

    @Test("new bytes at a path the base had are patched against the base's file; the same new bytes twice share one patch")
    func patched() throws {
        let patcher = FakePatcher()
        let p = try plan([(Self.file("advisories/x/a", size: 120), "a2"), (Self.file("advisories/x/copy"), "a2"), (Self.file("advisories/x/new"), "n")],
                         patcher: patcher)
        #expect(p.sources == [.patch(0), .patch(0), .whole])
        #expect(p.patches == [BundleIndex.Patch(pack: 0, stored: Int64("patch of advisories/x/a".utf8.count), size: 120, base: Self.digest("a1"))])
        #expect(p.patchBodies == [.frame(Array("patch of advisories/x/a".utf8))])
        #expect(patcher.asked.map(\.0) == ["advisories/x/a"] && patcher.asked.map(\.1) == ["/scratch/base-a1"])
        #expect(p.removed == ["advisories/x/b", "advisories/x/gone"])
    }

    @Test("carried whole: a patch no smaller, compressed data, a base without bytes (receipt); any size may be patched")
    func whole() throws {
        let patcher = FakePatcher()
        patcher.refuse = "/scratch/base-b1"
        let p = try plan([(Self.file("advisories/x/a", compressed: true), "a2"), (Self.file("advisories/x/b"), "b2")], patcher: patcher)
        #expect(p.sources == [.whole, .whole])
        #expect(patcher.asked.map(\.0) == ["advisories/x/b"])
        // Past the 64 MiB that once bounded a patch: a segmented patch now (issue 14).
        let large = try plan([(Self.file("advisories/x/a", size: 400 << 20), "a2")])
        #expect(large.sources == [.patch(0)] && large.patches[0].size == 400 << 20)
        var receipt = Self.base
        receipt.content = [:]
        let fromReceipt = try plan([(Self.file("advisories/x/a"), "a2"), (Self.file("advisories/x/b"), "b1")], base: receipt)
        #expect(fromReceipt.sources == [.whole, .unchanged])
    }

    @Test("the two sorted trees are walked side by side: removed paths before, between and after the new ones, a file where the base had a folder")
    func sideBySide() throws {
        var base = Self.base
        base.listing = TreeListing(entries: ["a/1", "a/2", "b", "b.x", "c/d/e", "m", "z/1", "z/2"].map {
            .init(path: "advisories/\($0)", mode: 0o644, size: 100, sha256: Self.digest($0))
        })
        let new = [("0", "new"), ("a/2", "a/2"), ("b-", "b-"), ("b.x", "changed"), ("c", "c"), ("m", "m"), ("n", "z/1")]
        let p = try plan(new.map { (Self.file("advisories/\($0.0)"), $0.1) }, base: base)
        #expect(p.sources == [.whole, .unchanged, .whole, .whole, .whole, .unchanged, .base])
        #expect(p.removed == ["a/1", "b", "c/d/e", "z/1", "z/2"].map { "advisories/\($0)" })
        // Against the plain map it replaced: a path is removed exactly when the new tree lacks it.
        let present = Set(new.map { "advisories/\($0.0)" })
        #expect(p.removed == base.listing.entries.map(\.path).filter { !present.contains($0) })
    }

    @Test("a full bundle carries every file whole")
    func full() {
        let p = DeltaPlan.full(files: 3)
        #expect(p.sources == [.whole, .whole, .whole] && p.base == nil && p.removed.isEmpty)
    }
}
