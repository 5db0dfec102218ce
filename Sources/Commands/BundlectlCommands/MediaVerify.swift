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
        @Flag(help: "Print one JSON object instead of text (the error, if any, still goes to standard error).")
        var json = false

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
                throw ToolError.usage("no volume files in \(paths.map { "'\($0)'" }.joined(separator: ", "))" + ignoredNote(found))
            }
            let set = VolumeSet(try VolumeReadBack.check(found, trust: keys))
            let problem = set.isComplete ? nil : MediaVerifyCommand.problem(set, keys: keys)
            if json {
                guard case .object(var o) = set.json else { return }
                o["ignored"] = .array(found.ignored.map(\.json))
                o["keysGiven"] = .array(keys.map { .string($0.idText) })
                o["error"] = problem.map { .string($0.message) } ?? .null
                o["milliseconds"] = Fields.milliseconds(Clock.now() - started)
                print(JSON.object(o).canonicalString)
            } else {
                lines(set, found)
            }
            if let problem { throw problem }
            if !json { summary(set, found, started: started).print() }
        }

        /// One line per volume, finding, copy and ignored file.
        private func lines(_ set: VolumeSet, _ found: VolumeFiles.Found) {
            for (n, c) in set.volumes.sorted(by: { $0.key < $1.key }) {
                printLine("ok         \(n)/\(c.label!.count)  \(c.source)  \(Format.grouped(c.size)) bytes  payload \(c.payloadDigest?.hex ?? "-")")
            }
            for c in set.copies { printLine(set.describe(c)) }
            for f in set.findings { printLine(set.describe(f)) }
            for i in found.ignored { printLine("IGNORED    \(i.path): \(i.reason)") }
        }

        /// The error for a set that is not complete and intact. Labels by a key not given are
        /// UNTRUSTED, said once with the keys given: the media are not damaged, the key is wrong.
        static func problem(_ set: VolumeSet, keys: [PublicKey]) -> ToolError {
            let what = set.key.map { "the volumes of \($0.bundle.description)" } ?? "these volumes"
            let given = "the keys given (\(keys.map(\.idText).joined(separator: ", ")))"
            if set.onlyUntrusted {
                return ToolError(set.status, "\(what) are UNTRUSTED, not damaged: their labels are signed by key \(set.untrustedSigners.joined(separator: ", ")), which is not among \(given); nothing else was checked: give the public key of whoever wrote them (`bundlectl media write --key`) with --trust")
            }
            let untrusted = set.untrustedSigners.isEmpty ? "" : " (UNTRUSTED labels: \(given) do not include key \(set.untrustedSigners.joined(separator: ", ")))"
            return ToolError(set.status, "\(what) are not a complete, intact set: \(set.problemSummary())\(untrusted)")
        }

        private func summary(_ set: VolumeSet, _ found: VolumeFiles.Found, started: Double) -> Summary {
            let key = set.key!
            let signers = Set(set.volumes.values.compactMap { $0.signer?.idText }).sorted()
            var s = Summary()
            s.add("verified", "all \(key.count) volume(s) intact: every byte matches its signed label")
            s.add("bundle", "\(key.bundle.file): \(key.bundle.name) sequence \(key.bundle.sequence), \(Format.grouped(key.bundle.size)) bytes")
            s.add("manifest", "sha256:\(key.bundle.manifest.hex)")
            s.add("set", key.set.hex)
            s.add("labels", "signed by key \(signers.joined(separator: ", "))")
            if !set.copies.isEmpty {
                s.add("copies", "\(set.copies.count) identical second cop\(set.copies.count == 1 ? "y" : "ies") (volume\(set.copies.count == 1 ? "" : "s") \(VolumeSet.numberList(Set(set.copies.map { $0.copy.label!.number })))): one of each is used")
            }
            if !found.ignored.isEmpty {
                s.add("ignored", "\(found.ignored.count) file(s) that are not volumes: \(VolumeSet.firstFew(found.ignored.map(\.path), ", "))")
            }
            s.add("time", Format.duration(Clock.now() - started))
            return s
        }

        private func ignoredNote(_ found: VolumeFiles.Found) -> String {
            found.ignored.isEmpty ? "" : " (\(found.ignored.count) other file(s) there: \(VolumeSet.firstFew(found.ignored.map(\.path), ", ")))"
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
