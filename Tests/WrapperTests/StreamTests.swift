import Foundation
import Libarchive
import Support
import SystemIO
import Testing
import Zstd

/// Runs a shell command and returns its standard output; outside tools are the judges here.
func shell(_ script: String) throws -> (Int32, String) {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: "/bin/sh")
    p.arguments = ["-c", script]
    let out = Pipe()
    p.standardOutput = out
    p.standardError = out
    try p.run()
    let data = out.fileHandleForReading.readDataToEndOfFile()
    p.waitUntilExit()
    return (p.terminationStatus, String(decoding: data, as: UTF8.self))
}

func scratchDirectory() throws -> String {
    let (_, path) = try shell("mktemp -d /tmp/wrapper-test.XXXXXX")
    return path.trimmingCharacters(in: .whitespacesAndNewlines)
}

@Suite("zstd wrapper")
struct ZstdTests {
    func compress(_ data: [UInt8], level: Int32 = 3) throws -> [UInt8] {
        var out: [UInt8] = []
        let z = try ZstdCompressor(ZstdSettings(level: level, multithreaded: true)) { out.append(contentsOf: $0) }
        try z.write(data)
        try z.finish()
        return out
    }

    @Test("stock zstd decodes what we write")
    func stockDecodes() throws {
        let dir = try scratchDirectory()
        defer { _ = try? shell("rm -rf \(dir)") }
        let data = (0..<300_000).map { UInt8(truncatingIfNeeded: $0 * 7 / 3) }
        try Data(compress(data, level: 19)).write(to: URL(fileURLWithPath: dir + "/x.zst"))
        let (rc, out) = try shell("zstd -q -d -c \(dir)/x.zst | sha256sum")
        #expect(rc == 0)
        #expect(out.hasPrefix(SHA256Digest.of(data).hex))
    }

    @Test("a stream that expands past its declared size is stopped (decompression bomb)")
    func bomb() throws {
        let packed = try compress([UInt8](repeating: 0, count: 10 << 20))
        #expect(packed.count < 2048)
        let d = try ZstdDecompressor("test", limit: 1 << 20) { _ in }
        #expect(throws: ToolError.self) { try packed.withUnsafeBytes { try d.write($0) } }
    }

    @Test("a truncated stream is refused, at every cut")
    func truncated() throws {
        let packed = try compress((0..<50_000).map { UInt8(truncatingIfNeeded: $0 &* 31) })
        for cut in stride(from: 1, to: packed.count, by: max(1, packed.count / 40)) {
            let d = try ZstdDecompressor("test", limit: 1 << 20) { _ in }
            #expect(throws: ToolError.self) {
                try packed[..<cut].withUnsafeBytes { try d.write($0) }
                try d.finish()
            }
        }
    }

    @Test("the same input and settings give the same bytes (reproducible bundles)")
    func deterministic() throws {
        let data = (0..<2_000_000).map { UInt8(truncatingIfNeeded: ($0 * 2654435761) >> 13) }
        #expect(try compress(data) == compress(data))
    }
}

@Suite("libarchive wrapper")
struct TarTests {
    @Test("bsdtar reads what we write, in order, with fixed owner and time")
    func bsdtarReads() throws {
        let dir = try scratchDirectory()
        defer { _ = try? shell("rm -rf \(dir)") }
        let fd = try FileDescriptor.create(dir + "/t.tar")
        let w = try TarWriter(fd: fd)
        try w.addFile("MANIFEST", bytes: Array("{}".utf8), mtime: 0)
        try w.addFile("packs/" + String(repeating: "a", count: 64) + ".zst", bytes: [UInt8](repeating: 7, count: 100_000), mtime: 0)
        try w.finish()
        try fd.close()
        let (rc, out) = try shell("bsdtar -tvf \(dir)/t.tar")
        #expect(rc == 0)
        let lines = out.split(separator: "\n")
        #expect(lines.count == 2)
        #expect(lines[0].contains("0 0") && lines[0].hasSuffix("MANIFEST"))
        #expect(lines[1].contains("100000"))
    }

    @Test("links and special entries are reported as what they are")
    func kinds() throws {
        let dir = try scratchDirectory()
        defer { _ = try? shell("rm -rf \(dir)") }
        _ = try shell("cd \(dir) && echo x > f && ln -s /etc/passwd l && ln f h && mkfifo p && tar -cf t.tar f l h p")
        let r = try TarReader(path: dir + "/t.tar")
        var kinds: [String: TarEntry.Kind] = [:]
        while let e = try r.next() { kinds[e.name] = e.kind }
        #expect(kinds["f"] == .regular)
        #expect(kinds["l"] == .symlink)
        #expect(kinds["h"] == .hardlink)
        #expect(kinds["p"] == .other)
    }
}

@Suite("zstd patch-from")
struct PatchTests {
    @Test("stock `zstd -d --patch-from` decodes our patch, and so do we")
    func stockDecodesPatch() throws {
        let dir = try scratchDirectory()
        defer { _ = try? shell("rm -rf \(dir)") }
        var base = (0..<400_000).map { UInt8(truncatingIfNeeded: ($0 * 2654435761) >> 11) }
        let new = Array(base[0..<200_000]) + Array("a new advisory paragraph".utf8) + Array(base[200_000...])
        var patch: [UInt8] = []
        let z = try ZstdCompressor(ZstdSettings(level: 19, windowLog: 20), pledgedSize: Int64(new.count), prefix: base) { patch.append(contentsOf: $0) }
        try z.write(new)
        try z.finish()
        #expect(patch.count < 200, "a small edit gives a small patch, got \(patch.count) bytes")
        try Data(base).write(to: URL(fileURLWithPath: dir + "/base"))
        try Data(patch).write(to: URL(fileURLWithPath: dir + "/p.zst"))
        let (rc, out) = try shell("zstd -q -d --patch-from=\(dir)/base -c \(dir)/p.zst | sha256sum")
        #expect(rc == 0 && out.hasPrefix(SHA256Digest.of(new).hex), "\(out)")
        var decoded: [UInt8] = []
        let d = try ZstdDecompressor("patch", limit: Int64(new.count), prefix: base) { decoded.append(contentsOf: $0) }
        try patch.withUnsafeBytes { try d.write($0) }
        try d.finish()
        #expect(decoded == new)
        // Against the wrong base the checksum catches it.
        base[300_000] ^= 1
        let wrong = try ZstdDecompressor("patch", limit: Int64(new.count), prefix: base) { _ in }
        #expect(throws: ToolError.self) { try patch.withUnsafeBytes { try wrong.write($0) }; try wrong.finish() }
    }
}
