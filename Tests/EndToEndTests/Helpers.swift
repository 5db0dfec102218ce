import Foundation
import Testing

/// What a finished process said.
struct Outcome {
    var status: Int32
    var out: String
    var err: String
    var text: String { out + err }
}

/// Paths of the package, its built tools and the shared test data.
enum Env {
    static let packageRoot: String = {
        var url = URL(fileURLWithPath: #filePath)
        for _ in 0..<3 { url.deleteLastPathComponent() }
        return url.path
    }()
    static let bin: String = ProcessInfo.processInfo.environment["AIRGAP_BIN"] ?? packageRoot + "/.build/debug"
    static let bundlectl = bin + "/bundlectl"
    static let mirrorctl = bin + "/mirrorctl"
    static let testdata = URL(fileURLWithPath: packageRoot + "/../shared/testdata").standardized.path
}

@discardableResult
func run(_ exe: String, _ args: [String], env: [String: String] = [:], cwd: String? = nil, stdin: String? = nil) throws -> Outcome {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: exe)
    p.arguments = args
    var e = ProcessInfo.processInfo.environment
    e["NO_PROGRESS"] = "1"
    for (k, v) in env { e[k] = v }
    p.environment = e
    if let cwd { p.currentDirectoryURL = URL(fileURLWithPath: cwd) }
    let out = Pipe(), err = Pipe()
    p.standardOutput = out
    p.standardError = err
    let input = Pipe()
    p.standardInput = input
    try p.run()
    if let stdin { input.fileHandleForWriting.write(Data(stdin.utf8)) }
    try? input.fileHandleForWriting.close()
    // Read both pipes concurrently so a chatty child cannot block on a full pipe.
    let group = DispatchGroup()
    nonisolated(unsafe) var errData = Data()
    group.enter()
    DispatchQueue.global().async {
        errData = err.fileHandleForReading.readDataToEndOfFile()
        group.leave()
    }
    let outData = out.fileHandleForReading.readDataToEndOfFile()
    group.wait()
    p.waitUntilExit()
    return Outcome(status: p.terminationStatus, out: String(decoding: outData, as: UTF8.self), err: String(decoding: errData, as: UTF8.self))
}

func bundlectl(_ args: String..., env: [String: String] = [:], cwd: String? = nil) throws -> Outcome {
    try run(Env.bundlectl, args, env: env, cwd: cwd)
}

func mirrorctl(_ args: String..., env: [String: String] = [:]) throws -> Outcome {
    try run(Env.mirrorctl, args, env: env)
}

/// Runs a shell script and fails the test with its output if it fails.
@discardableResult
func sh(_ script: String, sourceLocation: SourceLocation = #_sourceLocation) throws -> String {
    let r = try run("/bin/sh", ["-c", "set -e\n" + script])
    if r.status != 0 {
        Issue.record("shell failed (\(r.status)): \(script)\n\(r.text)", sourceLocation: sourceLocation)
        throw CancellationError()
    }
    return r.out
}

/// A scratch folder, removed when the test ends.
final class Scratch {
    let path: String
    /// Where scratch folders go: /dev/shm when there is one, where a mirror's fsyncs cost
    /// nothing (an apply of a PyPA month takes half the time), else /tmp.
    static let defaultBase = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp"

    /// - Parameter base: where to make it; `defaultBase` unless a test needs another file system.
    init(under base: String = Scratch.defaultBase) throws {
        path = try sh("mktemp -d \(base)/airgap-e2e.XXXXXX").trimmingCharacters(in: .whitespacesAndNewlines)
    }
    private var owned = true
    /// A folder someone else made and removes (`Fixture`'s shared one).
    init(existing path: String) {
        self.path = path
        owned = false
    }
    deinit { if owned { _ = try? run("/bin/rm", ["-rf", path]) } }
    func at(_ name: String) -> String { path + "/" + name }

    /// Unpacks a PyPA snapshot ("2024-08-01") into a folder and returns its `vulns` path.
    func pypa(_ month: String) throws -> String {
        let dir = at("pypa-\(month)")
        try sh("mkdir -p \(dir) && zstd -dc \(Env.testdata)/advisories/pypa-\(month).tar.zst | tar -x -C \(dir)")
        return dir + "/vulns"
    }

    /// Unpacks a KEV catalog ("2025-06-01") and returns the JSON file's path.
    func kev(_ month: String) throws -> String {
        let dir = at("kev-\(month)")
        try sh("mkdir -p \(dir) && zstd -dc \(Env.testdata)/advisories/cisa-kev-\(month).json.zst > \(dir)/known_exploited_vulnerabilities.json")
        return dir + "/known_exploited_vulnerabilities.json"
    }

    /// A key pair made by bundlectl; returns (secret, public).
    func key(_ name: String) throws -> (String, String) {
        let r = try bundlectl("keygen", "--secret-key", at(name + ".key"), "--public-key", at(name + ".pub"))
        #expect(r.status == 0, "\(r.text)")
        return (at(name + ".key"), at(name + ".pub"))
    }

    /// Writes a spec with the given sources (name, kind, path) and returns its path.
    func spec(_ file: String = "spec.yaml", name: String = "feeds", sequence: Int, extra: String = "",
              sources: [(String, String, String)]) throws -> String {
        var y = "name: \(name)\nversion: \"v\(sequence)\"\nsequence: \(sequence)\n\(extra)sources:\n"
        for (n, k, p) in sources { y += "  - name: \(n)\n    kind: \(k)\n    path: \(p)\n" }
        try y.write(toFile: at(file), atomically: true, encoding: .utf8)
        return at(file)
    }

    /// Bundles 1...count of one tiny advisory feed ("feed"), each holding its own record.
    func smallBundles(_ count: Int, key: String) throws -> [String] {
        try (1...count).map { n in
            try sh("mkdir -p \(path)/t\(n) && echo 'record \(n)' > \(path)/t\(n)/r.json")
            return try build(try spec("\(n).yaml", sequence: n, sources: [("feed", "advisories", at("t\(n)"))]), key: key, output: "\(n).bundle")
        }
    }

    /// Builds a bundle and expects success. At zstd level 3 unless told (nil: the default, 19):
    /// level 19 takes four times as long on a PyPA month with the debug tools, and what these
    /// tests check does not depend on the level.
    @discardableResult
    func build(_ spec: String, key: String, output: String, env: [String: String] = ["SOURCE_DATE_EPOCH": "1722470400"],
               container: String = "auto", level: Int? = 3, sourceLocation: SourceLocation = #_sourceLocation) throws -> String {
        let r = try run(Env.bundlectl, ["build", spec, "--key", key, "--output", at(output), "--container", container]
                            + (level.map { ["--level", String($0)] } ?? []), env: env)
        #expect(r.status == 0, "build failed: \(r.text)", sourceLocation: sourceLocation)
        // The digest build prints (hashed as it wrote) is the file's, as sha256sum reads it back.
        let sum = try sh("sha256sum \(at(output)) | cut -c1-64").trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(r.out.split(separator: "\n").contains { $0.hasPrefix("sha256 ") && $0.hasSuffix(" " + sum) }, "build printed: \(r.out)", sourceLocation: sourceLocation)
        return at(output)
    }
}

/// Everything that must stay the same when an apply is refused.
struct MirrorSnapshot: Equatable {
    var current: String
    var versions: String
    var state: String
    var treeDigest: String
    var staging: String

    init(_ mirror: String) throws {
        current = (try? FileManager.default.destinationOfSymbolicLink(atPath: mirror + "/current")) ?? "(none)"
        versions = try sh("ls -A \(mirror)/versions")
        state = try sh("cat \(mirror)/state.json")
        treeDigest = current == "(none)" ? "" : try sh("cd \(mirror)/current && find . -type f -print0 | sort -z | xargs -0 sha256sum | sha256sum")
        staging = try sh("ls -A \(mirror)/staging 2>/dev/null || true")
    }
}

/// Byte-for-byte comparison of a mirror tree folder with a source folder.
func sameTree(_ a: String, _ b: String) throws -> Bool {
    try run("/usr/bin/diff", ["-r", "--no-dereference", a, b]).status == 0
}

/// Flips one byte of a file at `offset` (negative counts from the end).
func flipByte(_ path: String, at offset: Int) throws {
    var data = try Data(contentsOf: URL(fileURLWithPath: path))
    let i = offset >= 0 ? offset : data.count + offset
    data[i] ^= 0x40
    try data.write(to: URL(fileURLWithPath: path))
}

/// Byte offset of an archive entry's data, found with the outside tool's view of the archive.
func entryOffset(_ bundle: String, _ name: String) throws -> Int {
    // Tar data follows a 512-byte header; walk headers the way tar lays them out.
    let data = try Data(contentsOf: URL(fileURLWithPath: bundle))
    var pos = 0
    while pos + 512 <= data.count {
        let header = data[pos..<pos + 512]
        let entryName = String(decoding: header.prefix(100).prefix(while: { $0 != 0 }), as: UTF8.self)
        let sizeText = String(decoding: header.dropFirst(124).prefix(12).prefix(while: { $0 != 0 && $0 != 32 }), as: UTF8.self)
        let size = Int(sizeText, radix: 8) ?? 0
        if entryName == name { return pos + 512 }
        if entryName.isEmpty { break }
        pos += 512 + (size + 511) / 512 * 512
    }
    throw CancellationError()
}

/// 1234567 -> "1,234,567", as the tools print byte counts.
func grouped(_ n: Int64) -> String { grouped(Int(n)) }

func grouped(_ n: Int) -> String {
    let s = String(n)
    var out = ""
    for (i, c) in s.enumerated() {
        if i > 0 && (s.count - i) % 3 == 0 { out += "," }
        out.append(c)
    }
    return out
}
