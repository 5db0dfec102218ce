import ArgumentParser
import Build
import BundleFormat
import Collect
import CommandSupport
import Registry
import Support

extension Bundlectl {
    struct Build: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Build a signed bundle from a YAML spec.",
            discussion: "Set SOURCE_DATE_EPOCH for byte-identical rebuilds: the same spec, inputs, key and time give the same bundle.")

        @Argument(help: "The bundle spec (YAML).")
        var spec: String
        @OptionGroup var signing: SigningKeyOptions
        @Option(help: "Where to write the bundle. An existing file is kept unless --force is given.")
        var output: String
        @Flag(help: "Replace --output if it exists.")
        var force = false
        @Option(help: "Sequence number; overrides the spec's. Must grow from bundle to bundle.")
        var sequence: Int64?
        @Option(help: "Build a delta against the version this previous full bundle installs.")
        var base: String?
        @Option(name: .customLong("base-trust"), help: "A public key that may have signed the --base bundle (repeatable): another officer's, or one from before a rotation. The building key always counts.")
        var baseTrust: [String] = []
        @Option(help: "Build a delta against what a mirror holds, from `mirrorctl receipt`.")
        var baseReceipt: String?
        @Option(help: "The bundle file: 'tar', 'tar.zst', or 'auto' (tar.zst below 8 MiB, where tar framing would weigh).")
        var container: String = "auto"
        @Option(help: "A new trust policy to carry (from `bundlectl trust create`), with its FILE.sig.<KEYID> signatures beside it.")
        var trustPolicy: String?
        @Option(help: "zstd level 1-19, or 'auto' (19 for small files in solid packs, 3 for files of 8 MiB or more).")
        var level: String = "auto"
        @Option(help: "Where images pulled by `refs:` are kept by digest, to be pulled once (default: ${XDG_CACHE_HOME:-~/.cache}/bundlectl).")
        var cache: String?
        @Option(name: .customLong("insecure-registry"), help: "A registry HOST:PORT that `refs:` may reach in plain HTTP, no TLS (repeatable; only on a network you trust).")
        var insecureRegistry: [String] = []
        @Flag(help: "Print one JSON object instead of text.")
        var json = false

        func validate() throws {
            if let sequence, sequence < 0 { throw ValidationError("--sequence must be 0 or more") }
            if let sequence, sequence > Manifest.maxSequence { throw ValidationError("--sequence must be at most \(Manifest.maxSequence)") }
            if ContainerChoice(rawValue: container) == nil { throw ValidationError("--container must be auto, tar or tar.zst") }
            if base != nil && baseReceipt != nil { throw ValidationError("give --base or --base-receipt, not both") }
            if !baseTrust.isEmpty && base == nil { throw ValidationError("--base-trust names keys for the --base bundle; give --base too") }
            for h in insecureRegistry where !ImageReference.isHost(h) {
                throw ValidationError("--insecure-registry '\(h)' is not HOST or HOST:PORT")
            }
            if let cache, cache.isEmpty { throw ValidationError("--cache needs a folder") }
            if level != "auto" {
                guard let l = Int32(level), (1...19).contains(l) else { throw ValidationError("--level must be 'auto' or a number from 1 to 19") }
            }
        }

        func run() async throws {
            let spec = try BundleSpec.load(self.spec)
            let key = try signing.load()
            let created = try signingTime()
            let compression: CompressionChoice = level == "auto" ? .auto : .level(Int32(level)!)
            var options = BuildOptions(spec: spec, key: key, output: output, sequence: sequence, compression: compression, created: created,
                                       base: base.map { .bundle($0) } ?? baseReceipt.map { .receipt($0) })
            options.container = ContainerChoice(rawValue: container) ?? .auto
            options.replaceOutput = force
            options.trustPolicy = trustPolicy
            options.baseTrust = try loadPublicKeys(baseTrust)
            options.pull = pullOptions()
            let report = try await Packer(options).build()
            if json { printJSON(try jsonReport(report, key: key)) } else { textReport(report, key: key).print() }
        }

        /// Where pulled images are cached, which registries speak plain HTTP, and the variables
        /// auth files and credential helpers are found by; nil without a cache folder (no --cache, no HOME).
        private func pullOptions() -> PullOptions? {
            var env: [String: String] = [:]
            // PATH finds credential helpers (docker-credential-NAME), which run with this environment over the process's.
            for name in ["REGISTRY_AUTH_FILE", "XDG_RUNTIME_DIR", "DOCKER_CONFIG", "HOME", "XDG_CACHE_HOME", "PATH", AuthFiles.helperTimeoutVariable] {
                env[name] = CommandEnvironment.value(name)
            }
            guard let root = cache ?? BlobCache.defaultRoot(environment: env) else { return nil }
            return PullOptions(cache: root, insecure: Set(insecureRegistry.map { $0.lowercased() }), environment: env)
        }

        /// "3 manifests and blobs (2.1 MiB) from registries, 4 (1.0 MiB) from the cache DIR".
        private func pulledText(_ p: PullCounts) -> String {
            "\(p.pulled) manifests and blobs (\(Format.grouped(p.pulledBytes)) bytes) from registries, "
                + "\(p.cached) (\(Format.grouped(p.cachedBytes)) bytes) from the cache \(ToolError.shown(pullOptions()?.cache ?? ""))"
        }

        private func textReport(_ report: BuildReport, key: SigningKey) -> Summary {
            let m = report.manifest
            var s = Summary()
            s.add("bundle", "\(m.name) \(m.version) (sequence \(m.sequence))")
            s.add("file", "\(output)  \(Format.grouped(report.bundleSize)) bytes")
            s.add("sha256", report.bundleDigest.hex)
            s.add("manifest", "sha256:\(report.manifestDigest.hex)")
            s.add("signed by", key.idText)
            if let t = m.trust, let trustPolicy { s.add("carries", "trust policy \(trustPolicy) (sha256:\(t.hex))") }
            if let b = m.base {
                s.add("delta of", b.description + (b.mirror.map { " on mirror \($0)" } ?? ""))
                s.add("changes", "\(report.objects) whole, \(report.patches) patched, \(report.reused) reused from the base, \(report.removed) removed; \(report.unchanged) unchanged files not carried")
            }
            s.add("created", Timestamp.format(m.created) + (m.expires.map { ", expires " + Timestamp.format($0) } ?? ""))
            if let p = report.pulled { s.add("pulled", pulledText(p)) }
            for src in m.sources {
                s.add("source", "\(src.kind.rawValue)/\(src.name): \(src.files) files, \(Format.grouped(src.size)) bytes")
            }
            let ratio = report.inputBytes > 0 ? Double(report.storedBytes) / Double(report.inputBytes) * 100 : 0
            s.add("stored", "\(Format.grouped(report.inputBytes)) bytes in \(m.treeFiles) files -> \(report.objects) objects, \(Format.grouped(report.storedBytes)) bytes compressed (\(String(format1: ratio))%)")
            s.add("time", Format.duration(report.seconds))
            return s
        }

        private func jsonReport(_ r: BuildReport, key: SigningKey) throws -> JSON {
            let m = r.manifest
            var o = Fields.bundle(m, manifest: r.manifestDigest)
            o["bundle"] = .string(output)
            o["size"] = .int(r.bundleSize)
            o["sha256"] = .string(r.bundleDigest.hex)
            o["signers"] = Fields.keys([key.idText])
            o["created"] = Fields.time(m.created)
            o["expires"] = Fields.time(m.expires)
            o["trustPolicy"] = Fields.policy(try trustPolicy.map { try TrustFiles.read($0).policy })
            o["tree"] = Fields.tree(m)
            o["delta"] = m.base.map { b in
                Fields.adding(["whole": .int(Int64(r.objects)), "patched": .int(Int64(r.patches)), "reused": .int(Int64(r.reused)),
                               "removed": .int(Int64(r.removed)), "unchanged": .int(Int64(r.unchanged))], to: Fields.base(b))
            } ?? .null
            o["sources"] = Fields.sources(m)
            o["pulled"] = r.pulled.map { p in
                .object(["downloaded": .int(Int64(p.pulled)), "downloadedBytes": .int(p.pulledBytes), "cached": .int(Int64(p.cached)),
                         "cachedBytes": .int(p.cachedBytes), "cache": .string(pullOptions()?.cache ?? "")])
            } ?? .null
            o["objects"] = .int(Int64(r.objects))
            o["inputBytes"] = .int(r.inputBytes)
            o["stored"] = .int(r.storedBytes)
            o["milliseconds"] = Fields.milliseconds(r.seconds)
            return .object(o)
        }
    }
}
