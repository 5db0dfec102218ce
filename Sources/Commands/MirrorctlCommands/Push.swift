import Apply
import ArgumentParser
import CommandSupport
import Push
import Support
#if canImport(Glibc)
import Glibc
#endif

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
        @Option(help: "A file holding 'user:password' for the registry (HTTP basic, or to obtain a bearer token).")
        var credentials: String?
        @Option(help: "Blobs up to this many bytes go up in one request; larger ones in chunks of this size.")
        var chunkSize: Int = 8 << 20
        @Option(help: "How many blobs to upload at the same time.")
        var parallel: Int = 4

        func validate() throws {
            if !PushImages.validRegistry(registry) {
                throw ValidationError("--registry must be HOST or HOST:PORT (no scheme, no path), not '\(registry)'")
            }
            if let prefix, !RepositoryName.isValid(PushImages.trimmedPrefix(prefix)) {
                throw ValidationError("--prefix '\(prefix)' is not a repository path a registry accepts (lower-case letters, digits, '.', '_', '-', separated by '/')")
            }
            if chunkSize < 1024 { throw ValidationError("--chunk-size must be at least 1024 bytes") }
            if !(1...32).contains(parallel) { throw ValidationError("--parallel must be between 1 and 32") }
        }

        static func trimmedPrefix(_ p: String) -> String {
            var s = Substring(p)
            while s.hasPrefix("/") { s = s.dropFirst() }
            while s.hasSuffix("/") { s = s.dropLast() }
            return String(s)
        }

        static func validRegistry(_ r: String) -> Bool {
            guard !r.isEmpty, !r.contains("/"), !r.contains("@"), !r.contains(" ") else { return false }
            var host = Substring(r)
            var port: Substring?
            if r.hasPrefix("[") {
                guard let close = r.firstIndex(of: "]") else { return false }
                let after = r[r.index(after: close)...]
                if !after.isEmpty {
                    guard after.hasPrefix(":") else { return false }
                    port = after.dropFirst()
                }
                host = r[...close]
            } else if let colon = r.firstIndex(of: ":") {
                host = r[..<colon]
                port = r[r.index(after: colon)...]
            }
            if let port { guard let p = Int(port), (1...65535).contains(p) else { return false } }
            // A DNS name or IPv4 address, or an IPv6 address in brackets: anything else makes no URL.
            let allowed = host.hasPrefix("[") ? "0123456789abcdefABCDEF:.[]" : "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-"
            return !host.isEmpty && host.allSatisfy { allowed.contains($0) }
        }

        func run() async throws {
            let dir = options.mirror
            _ = try OfflineMirror(dir)
            // Resolve `current` once: an apply that swaps it meanwhile does not change what this
            // run reads, and push never takes the mirror's lock, so apply is never kept waiting.
            guard try FS.readLink(dir + "/current") != nil else {
                throw ToolError.refused("mirror '\(dir)' has no active version; apply a bundle with images first")
            }
            let tree = try FS.resolve(dir + "/current")
            let version = FS.baseName(FS.parent(of: tree))
            let images = tree + "/images"
            guard try FS.info(images + "/index.json") != nil else {
                throw ToolError.refused("the active version \(version) of '\(dir)' holds no images; nothing to push")
            }
            let layout = ImageLayout(path: images)
            let (plans, problems) = try layout.plans(prefix: prefix.map(PushImages.trimmedPrefix))
            guard !plans.isEmpty || !problems.isEmpty else {
                throw ToolError.refused("the active version \(version) of '\(dir)' holds no images; nothing to push")
            }
            let creds = try credentials.map { try Credentials(file: $0) }
            let opts = PushOptions(registry: registry, insecure: insecure, credentials: creds, chunkSize: chunkSize, parallel: parallel)
            let totalBytes = plans.reduce(Int64(0)) { $0 + $1.blobBytes }
            let progress = Progress("push", total: totalBytes)
            let pusher = try Pusher(layout: layout, options: opts, stateFolder: dir + "/push", progress: progress)

            let started = Clock.now()
            var out = Rows()
            out.add("mirror", "\(dir), version \(version)")
            out.add("registry", "\(registry) (\(insecure ? "plain HTTP, --insecure" : "HTTPS"))")
            out.flush()
            var refused: [String] = []
            for p in problems {
                out.add("refused", "\(p.ref): \(p.reason)")
                refused.append(p.ref)
            }
            out.flush()
            var total = ImageReport(ref: "", repository: "", tag: "", digest: "")
            var pushed = 0
            do {
                try await pusher.ping()
                for plan in plans {
                    do {
                        let r = try await pusher.push(plan)
                        progress.finish()
                        pushed += 1
                        out.add("image", "\(r.ref) -> \(registry)/\(r.repository):\(r.tag) \(r.digest)")
                        out.add("  blobs", PushImages.blobLine(r))
                        out.flush()
                        total.uploaded += r.uploaded
                        total.resumed += r.resumed
                        total.mounted += r.mounted
                        total.skipped += r.skipped
                        total.bytesSent += r.bytesSent
                        total.bytesResumed += r.bytesResumed
                    } catch let e as ToolError where e.status == .refused {
                        progress.finish()
                        out.add("refused", "\(plan.ref): \(e.message); its manifest was not pushed")
                        out.flush()
                        refused.append(plan.ref)
                    }
                }
            } catch {
                progress.finish()
                try? pusher.saveState()
                throw PushImages.explain(error, tree: tree, version: version)
            }
            try pusher.saveState()
            let seconds = Clock.now() - started
            total.seconds = seconds
            let rate = seconds > 0 ? Double(total.bytesSent) / seconds / 1e6 : 0
            out.add("total", "\(pushed) image(s) pushed, \(refused.count) refused; " + PushImages.blobLine(total) + " (\(String(format1: rate)) MB/s)")
            out.add("state", pusher.statePath)
            out.flush()
            if !refused.isEmpty {
                throw ToolError.refused("\(refused.count) image(s) were not pushed: \(refused.joined(separator: ", "))")
            }
        }

        static func blobLine(_ r: ImageReport) -> String {
            var s = "\(r.uploaded) uploaded"
            if r.resumed > 0 { s += " (\(r.resumed) resumed, \(Format.grouped(r.bytesResumed)) bytes already there)" }
            s += ", \(r.mounted) mounted, \(r.skipped) skipped; \(Format.grouped(r.bytesSent)) bytes sent in \(Format.duration(r.seconds))"
            return s
        }

        /// A version pruned by a newer apply mid-push makes blobs vanish: say that, not just "no such file".
        static func explain(_ error: Error, tree: String, version: String) -> Error {
            guard let e = error as? ToolError, (try? FS.info(tree)) == nil else { return error }
            return ToolError.environment("\(e.message) (version \(version) was removed from the mirror while pushing; run push again to push the new active version)")
        }
    }
}

/// "label  value" lines with one label width for the whole run, printed as images finish so a
/// long push shows its progress in a transfer log.
private struct Rows {
    private var rows: [(String, String)] = []
    mutating func add(_ label: String, _ value: String) { rows.append((label, value)) }
    mutating func flush() {
        var text = ""
        for (l, v) in rows { text += l + String(repeating: " ", count: max(0, 8 - l.count)) + "  " + v + "\n" }
        rows.removeAll()
        // Straight to descriptor 1, unbuffered, so a piped log has each image when it is done.
        writeUnbuffered(1, text)
    }
}
