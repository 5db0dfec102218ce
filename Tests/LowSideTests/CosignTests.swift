@testable import Build
import BundleFormat
import BundleVerify
import Collect
import Libarchive
import Support
import Testing
import SystemIO
#if canImport(Glibc)
import Glibc
#endif

/// A bundle built in process, in a scratch folder: two packs (one compressed, one stored).
final class BuiltBundle {
    let dir: String
    let path: String
    let operatorKey: SigningKey
    let officerKey: SigningKey

    init() async throws {
        dir = "/tmp/lowside-tests-\(getpid())-\(UInt64.random(in: 0...UInt64.max))"
        try FS.makeDirectories(dir + "/data")
        try FS.writeAtomically(dir + "/data/a.json", Array("{\"a\": 1}\n".utf8))
        try FS.writeAtomically(dir + "/data/b.gz", [0x1F, 0x8B, 0x08, 0x00] + (0..<200).map { UInt8($0) })
        let spec = try BundleSpec.parse("name: feeds\nversion: v1\nsequence: 1\nsources:\n  - {name: x, kind: advisories, path: data}\n",
                                        file: "s.yaml", baseDirectory: dir)
        operatorKey = try BuiltBundle.key(dir, "operator")
        officerKey = try BuiltBundle.key(dir, "officer")
        path = dir + "/b.bundle"
        var options = BuildOptions(spec: spec, key: operatorKey, output: path, sequence: nil, compression: .auto, created: 1_722_470_400)
        options.container = .tar
        _ = try await Packer(options).build()
    }

    static func key(_ dir: String, _ name: String) throws -> SigningKey {
        let (secret, pub) = try KeyFiles.generate(password: nil)
        try KeyFiles.save(secret, to: "\(dir)/\(name).key", pub, to: "\(dir)/\(name).pub", replacing: false)
        return try KeyFiles.load("\(dir)/\(name).key", passwordFile: nil)
    }

    deinit { try? FS.removeTree(dir) }

    /// The bundle's entries, in archive order.
    func entries() throws -> [(name: String, bytes: [UInt8])] {
        let tar = try TarReader(path: path)
        var out: [(String, [UInt8])] = []
        while let e = try tar.next() { out.append((e.name, try tar.readAll(limit: 1 << 20, what: e.name))) }
        return out
    }

    /// Writes `entries` as a plain tar at `name` in the scratch folder.
    func write(_ entries: [(name: String, bytes: [UInt8])], as name: String) throws -> String {
        let out = "\(dir)/\(name)"
        let fd = try FileDescriptor.create(out)
        let tar = try TarWriter(fd: fd)
        for e in entries { try tar.addFile(e.name, bytes: e.bytes, mtime: 1_722_470_400) }
        _ = try tar.finish()
        try fd.close()
        return out
    }
}

/// Opens and reads a whole bundle as `bundlectl verify` does; true when the reader accepts it.
func readerAccepts(_ path: String) -> Bool {
    do {
        let reader = try BundleReader(path: path, trust: nil)
        _ = try reader.readObjects(try reader.readIndex(), into: DiscardingSink())
        return true
    } catch {
        return false
    }
}

@Suite("co-signing accepts exactly what the reader accepts")
struct CosignTests {
    enum Damage: String, CaseIterable, Sendable {
        case extraEntryAtEnd = "an entry the manifest does not list, at the end"
        case extraEntryBeforePacks = "an entry the manifest does not list, before the packs"
        case packTwice = "a pack twice"
        case packsSwapped = "packs out of order"
        case packMissing = "a pack missing"
        case noEndMarker = "no end-of-archive marker"
    }

    func damaged(_ b: BuiltBundle, _ damage: Damage) throws -> String {
        var e = try b.entries()
        let packs = e.indices.filter { e[$0].name.hasPrefix("packs/") }
        switch damage {
        case .extraEntryAtEnd: e.append(("EXTRA", [1, 2, 3]))
        case .extraEntryBeforePacks: e.insert(("EXTRA", [1, 2, 3]), at: packs[0])
        case .packTwice: e.append(e[packs[0]])
        case .packsSwapped: e.swapAt(packs[0], packs[1])
        case .packMissing: e.remove(at: packs[0])
        case .noEndMarker:
            // Cut right after the last entry's padded data: the tar reads as whole.
            let bytes = try FS.readFile(try b.write(e, as: "whole.bundle"))
            let dataEnd = (bytes.lastIndex { $0 != 0 } ?? 0) + 1
            let out = "\(b.dir)/cut.bundle"
            try FS.writeAtomically(out, Array(bytes.prefix((dataEnd + 511) / 512 * 512)))
            return out
        }
        return try b.write(e, as: "damaged.bundle")
    }

    @Test("the bundle as built has two packs and is co-signed into one the reader accepts, with both signatures")
    func valid() async throws {
        let b = try await BuiltBundle()
        #expect(try b.entries().filter { $0.name.hasPrefix("packs/") }.count == 2)
        let report = try Cosigner.sign(b.path, key: b.officerKey, timestamp: 1_722_470_500)
        #expect(report.signers == [b.operatorKey.idText, b.officerKey.idText])
        let reader = try BundleReader(path: b.path, trust: [b.operatorKey.publicKey, b.officerKey.publicKey], threshold: 2)
        #expect(reader.signatures.map(\.entry) == ["MANIFEST.sig", "MANIFEST.sig.\(b.officerKey.idText)"])
        #expect(readerAccepts(b.path))
        #expect(try b.entries().map(\.name) == reader.entryNames)
    }

    @Test("a damaged bundle the reader refuses is not co-signed, and stays as it was", arguments: Damage.allCases)
    func refused(_ damage: Damage) async throws {
        let b = try await BuiltBundle()
        let path = try damaged(b, damage)
        #expect(!readerAccepts(path), "the reader accepts the damaged bundle: the case tests nothing")
        let before = try FS.readFile(path)
        #expect {
            _ = try Cosigner.sign(path, key: b.officerKey, timestamp: 1_722_470_500)
        } throws: { error in
            (error as? ToolError).map { $0.status == .refused && $0.message.hasSuffix("not signed") } ?? false
        }
        #expect(try FS.readFile(path) == before)
        #expect(try FS.list(b.dir).allSatisfy { !$0.contains(".sign-") })
    }
}
