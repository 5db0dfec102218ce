import ArgumentParser
import BundleFormat
import CommandSupport
import Media
import MediaWrite
import Support
import SystemIO

extension Bundlectl {
    struct MediaVerifyCommand: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "verify",
            abstract: "Read back volumes: check each alone, then the set; name any missing, duplicate, foreign or damaged one.",
            discussion: """
                Give the folders (mount points) or files that hold the volumes, in any order; ISO images written \
                with --iso are read inside. Every byte is read. Works the same on the enclave side before an apply.
                """)

        @Argument(help: "Folders or files holding the volumes (several mount points at once are fine).")
        var paths: [String]
        @Option(name: .customLong("trust"), help: "A public key whose volume labels are accepted (repeatable).")
        var trust: [String] = []
        @Option(help: "A file of trusted public keys: minisign .pub files put together, or one base64 key a line.")
        var trustFile: String?

        func validate() throws {
            if paths.isEmpty { throw ValidationError("give the folders or files that hold the volumes") }
            if trust.isEmpty && trustFile == nil { throw ValidationError("give at least one --trust public key or a --trust-file") }
        }

        func run() async throws {
            var keys = try loadPublicKeys(trust)
            if let trustFile { keys += try loadTrustFile(trustFile) }
            let started = Clock.now()
            let found = try VolumeFiles.find(paths)
            guard !found.volumes.isEmpty || !found.images.isEmpty || !found.unlabelled.isEmpty || !found.otherFiles.isEmpty else {
                throw ToolError.usage("no volume files in \(paths.map { "'\($0)'" }.joined(separator: ", "))")
            }
            let checks = try VolumeReadBack.check(found, trust: keys)

            let set = VolumeSet(checks)
            for (n, c) in set.volumes.sorted(by: { $0.key < $1.key }) {
                printLine("ok         \(n)/\(c.label!.count)  \(c.source)  \(Format.grouped(c.size)) bytes  payload \(c.payloadDigest?.hex ?? "-")")
            }
            for f in set.findings { printLine(set.describe(f)) }
            guard set.isComplete, let key = set.key else {
                let what = set.key.map { "the volumes of \($0.bundle.description)" } ?? "these volumes"
                throw ToolError(set.status, "\(what) are not a complete, intact set: \(set.problemSummary())")
            }
            let signers = Set(set.volumes.values.compactMap { $0.signer?.idText }).sorted()
            var s = Summary()
            s.add("verified", "all \(key.count) volume(s) intact: every byte matches its signed label")
            s.add("bundle", "\(key.bundle.file): \(key.bundle.name) sequence \(key.bundle.sequence), \(Format.grouped(key.bundle.size)) bytes")
            s.add("manifest", "sha256:\(key.bundle.manifest.hex)")
            s.add("set", key.set.hex)
            s.add("labels", "signed by key \(signers.joined(separator: ", "))")
            s.add("time", Format.duration(Clock.now() - started))
            s.print()
        }
    }
}

/// Public keys from a file: minisign .pub files put together, or bare base64 key lines.
func loadTrustFile(_ path: String) throws -> [PublicKey] {
    guard let info = try FS.info(path), info.kind == .regular else { throw ToolError.usage("trust file '\(path)' does not exist") }
    let text = String(decoding: try FS.readFile(path, limit: 1 << 20), as: UTF8.self)
    var keys: [PublicKey] = []
    for (i, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
        let l = String(line).trimmingSpaces
        if l.isEmpty || l.hasPrefix("#") || l.hasPrefix("untrusted comment:") { continue }
        keys.append(try PublicKey(text: l, what: "line \(i + 1) of trust file '\(path)'"))
    }
    guard !keys.isEmpty else { throw ToolError.usage("trust file '\(path)' holds no public key") }
    return keys
}
