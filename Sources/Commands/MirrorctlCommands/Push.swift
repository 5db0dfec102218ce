import Apply
import ArgumentParser
import BundleFormat
import CommandSupport
import Push
import Support
import SystemIO

extension Mirrorctl {
    struct PushImages: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "push",
            abstract: "Copy the active version's images into an OCI distribution registry.",
            discussion: """
                Blobs the registry has are skipped, blobs another repository holds are mounted, the rest are \
                uploaded (in chunks above --chunk-size), every byte checked against its digest as it is read. \
                An interrupted push resumes where it stopped when run again: upload sessions are kept in \
                DIR/push/<registry>.json. The mirror is only read; apply may run at the same time.
                """)

        @OptionGroup var options: MirrorOption
        @Option(help: "The registry, as HOST:PORT (or HOST for port 443).")
        var registry: String
        @Flag(help: "Speak plain HTTP to the registry, without TLS (a loopback or lab registry). Without it: HTTPS, verified against the system's trust store.")
        var insecure = false
        @Option(help: "A path put in front of every repository: --prefix mirror/2026 pushes example/app:1.0 as mirror/2026/example/app:1.0.")
        var prefix: String?
        @Option(help: "A file holding 'user:password' for the registry (HTTP basic, or to obtain a bearer token). Sent only to the registry and its token realm, over HTTPS unless --insecure.")
        var credentials: String?
        @Option(help: "A host besides the registry's that may be asked for bearer tokens with the credentials: for a registry whose token realm is on another host. Without it such a realm is refused.")
        var tokenRealmHost: String?
        @Option(help: "Blobs up to this many bytes go up in one request; larger ones in chunks of this size.")
        var chunkSize: Int = 8 << 20
        @Option(help: "How many blobs to upload at the same time.")
        var parallel: Int = 4
        @Flag(help: "Print one JSON object when done, instead of a line per image as it goes.")
        var json = false

        func validate() throws {
            if !RegistryAddress.isValid(registry) {
                throw ValidationError("--registry must be HOST or HOST:PORT (no scheme, no path), not '\(registry)'")
            }
            if let prefix, !RepositoryName.isValid(RepositoryName.trimmedPrefix(prefix)) {
                throw ValidationError("--prefix '\(prefix)' is not a repository path a registry accepts (lower-case letters, digits, '.', '_', '-', separated by '/')")
            }
            if let tokenRealmHost, !RegistryAddress.isHost(tokenRealmHost) {
                throw ValidationError("--token-realm-host must be a host name or address alone (no scheme, port or path), not '\(tokenRealmHost)'")
            }
            if chunkSize < 1024 { throw ValidationError("--chunk-size must be at least 1024 bytes") }
            if !(1...32).contains(parallel) { throw ValidationError("--parallel must be between 1 and 32") }
        }

        func run() async throws {
            let mirror = try OfflineMirror(options.mirror)
            // Stale data still goes up (the registry may need it), but not without a word.
            if let e = try mirror.staleness() { warn("mirrorctl", e.message) }
            if insecure && credentials != nil {
                warn("mirrorctl", "--insecure with --credentials: the user name and password, and the tokens they buy, cross the network in plain HTTP, readable on the way")
            }
            let active = try ActiveImages(mirror: options.mirror)
            let (plans, problems) = try active.layout.plans(prefix: prefix.map(RepositoryName.trimmedPrefix))
            guard !plans.isEmpty || !problems.isEmpty else { throw active.noImages }
            let progress = Progress("push", total: plans.reduce(Int64(0)) { $0 + $1.blobBytes })
            let pusher = try Pusher(layout: active.layout, options: pushOptions(), stateFolder: active.stateFolder, progress: progress)

            let started = Clock.now()
            var out = Rows(quiet: json)
            out.add("mirror", "\(active.mirror), version \(active.version)")
            out.add("registry", "\(registry) (\(insecure ? "plain HTTP, --insecure" : "HTTPS"))")
            out.flush()
            for p in problems {
                out.add("refused", "\(p.ref): \(p.reason)")
                out.outcomes.append(.refused(ref: p.ref, reason: p.reason))
            }
            out.flush()
            var totals: PushTotals
            do {
                totals = try await pusher.pushAll(plans) { show($0, in: &out) }
            } catch {
                progress.finish()
                try? pusher.saveState()
                throw active.explain(error)
            }
            try pusher.saveState()
            totals.refused = problems.map(\.ref) + totals.refused
            totals.total.seconds = Clock.now() - started
            if json { printJSON(report(totals, active: active, statePath: pusher.statePath, outcomes: out.outcomes)) }
            try summarize(totals, statePath: pusher.statePath, in: &out)
        }

        private func pushOptions() throws -> PushOptions {
            let creds = try credentials.map { try Credentials(file: $0) }
            return PushOptions(registry: registry, insecure: insecure, credentials: creds, tokenRealmHost: tokenRealmHost, chunkSize: chunkSize, parallel: parallel)
        }

        private func show(_ outcome: ImageOutcome, in out: inout Rows) {
            out.outcomes.append(outcome)
            switch outcome {
            case .pushed(let r):
                out.add("image", "\(r.ref) -> \(registry)/\(r.repository):\(r.tag) \(r.digest)")
                out.add("  blobs", PushImages.blobLine(r))
            case .refused(let ref, let reason):
                out.add("refused", "\(ref): \(reason); its manifest was not pushed")
            }
            out.flush()
        }

        /// The last lines; throws a refusal naming the images that were not pushed.
        private func summarize(_ totals: PushTotals, statePath: String, in out: inout Rows) throws {
            let t = totals.total
            let rate = t.seconds > 0 ? Double(t.bytesSent) / t.seconds / 1e6 : 0
            out.add("total", "\(totals.pushed) image(s) pushed, \(totals.refused.count) refused; " + PushImages.blobLine(t) + " (\(String(format1: rate)) MB/s)")
            out.add("state", statePath)
            out.flush()
            if !totals.refused.isEmpty {
                throw ToolError.refused("\(totals.refused.count) image(s) were not pushed: \(totals.refused.joined(separator: ", "))")
            }
        }

        private func report(_ totals: PushTotals, active: ActiveImages, statePath: String, outcomes: [ImageOutcome]) -> JSON {
            var images: [JSON] = [], refused: [JSON] = []
            for o in outcomes {
                switch o {
                case .pushed(let r):
                    images.append(PushImages.blobs(r, ["ref": .string(r.ref), "repository": .string("\(registry)/\(r.repository)"), "tag": .string(r.tag), "digest": .string(r.digest)]))
                case .refused(let ref, let reason): refused.append(.object(["ref": .string(ref), "reason": .string(reason)]))
                }
            }
            return PushImages.blobs(totals.total, [
                "mirror": .string(active.mirror), "versionId": .string(active.version), "registry": .string(registry), "insecure": .bool(insecure),
                "images": .array(images), "refused": .array(refused), "pushed": .int(Int64(totals.pushed)), "state": .string(statePath),
            ])
        }

        /// An image's (or the run's) blob figures, with `members`.
        private static func blobs(_ r: ImageReport, _ members: [String: JSON]) -> JSON {
            Fields.adding(members, to: .object([
                "uploaded": .int(Int64(r.uploaded)), "resumed": .int(Int64(r.resumed)), "bytesResumed": .int(r.bytesResumed),
                "mounted": .int(Int64(r.mounted)), "skipped": .int(Int64(r.skipped)), "bytesSent": .int(r.bytesSent),
                "milliseconds": Fields.milliseconds(r.seconds),
            ]))
        }

        static func blobLine(_ r: ImageReport) -> String {
            var s = "\(r.uploaded) uploaded"
            if r.resumed > 0 { s += " (\(r.resumed) resumed, \(Format.grouped(r.bytesResumed)) bytes already there)" }
            s += ", \(r.mounted) mounted, \(r.skipped) skipped; \(Format.grouped(r.bytesSent)) bytes sent in \(Format.duration(r.seconds))"
            return s
        }
    }
}

/// "label  value" lines with one label width for the whole run, printed as images finish so a
/// long push shows its progress in a transfer log.
private struct Rows {
    /// With --json: nothing is printed as it goes, the outcomes are kept for the one object.
    let quiet: Bool
    var outcomes: [ImageOutcome] = []
    private var rows: [(String, String)] = []
    init(quiet: Bool) { self.quiet = quiet }
    mutating func add(_ label: String, _ value: String) { rows.append((label, value)) }
    mutating func flush() {
        if quiet { return rows.removeAll() }
        var text = ""
        for (l, v) in rows { text += l + String(repeating: " ", count: max(0, 8 - l.count)) + "  " + v + "\n" }
        rows.removeAll()
        // Straight to descriptor 1, unbuffered, so a piped log has each image when it is done.
        writeStandardOutput(text)
    }
}
