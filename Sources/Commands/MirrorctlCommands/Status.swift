import Apply
import ArgumentParser
import BundleFormat
import CommandSupport
import Support

extension Mirrorctl {
    struct Status: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Show the active version, the retained ones and the trusted keys.",
            discussion: """
                Exits 4 when the current version is stale: older than the mirror's maximum age (mirrorctl init \
                --max-age, mirrorctl config --max-age) or past its expiry. --prometheus always exits 0 once it has \
                printed: staleness is in the metrics.
                """)

        @OptionGroup var options: MirrorOption
        @Flag(help: "Print one JSON object instead of text.")
        var json = false
        @Flag(help: "Print metrics in Prometheus' text format (for node_exporter's textfile collector).")
        var prometheus = false

        func validate() throws {
            if json && prometheus { throw ValidationError("give --json or --prometheus, not both") }
        }

        func run() async throws {
            let mirror = try OfflineMirror(options.mirror)
            if prometheus { return print(PrometheusText.render(try mirror.metrics()), terminator: "") }
            let st = try mirror.status()
            let fresh = try mirror.freshness()
            let mediaKeys = mirror.config.mediaKeys.map(\.idText)
            if json {
                guard case .object(var o) = Status.json(st) else { return }
                o["mediaKeys"] = .array(mediaKeys.map { .string($0) })
                o["freshness"] = Fields.freshness(fresh)
                o["hooks"] = .object(["post-apply": mirror.config.hooks.postApply.map { .string($0) } ?? .null,
                                      "timeoutSeconds": .int(mirror.config.hooks.timeout)])
                printJSON(.object(o))
            } else {
                var s = text(st)
                s.add("media keys", mediaKeys.isEmpty ? "none (volume labels must be signed by a trusted key above)" : mediaKeys.joined(separator: ", ") + " (volume labels only)")
                if let f = fresh { s.add("age", Status.ageText(f)) }
                s.add("post-apply", mirror.config.hooks.postApply.map { "\($0) (time limit \(DurationText.format(mirror.config.hooks.timeout)))" } ?? "no hook")
                s.print()
            }
            if let f = fresh, let st = st.current, let e = f.error(version: st.id) { throw e }
        }

        static func ageText(_ f: Freshness) -> String {
            let limit = f.maxAge.map { ", maximum \(DurationText.format($0))" } ?? ", no maximum age set"
            let state = f.stale ? "STALE: " + f.reasons.joined(separator: "; ") : "fresh"
            return "\(DurationText.age(f.age))\(limit); \(state)"
        }

        private static func json(_ st: OfflineMirror.Status) -> JSON {
            JSON.object([
                "mirror": .string(st.mirrorID),
                "channel": st.channel.map { .string($0) } ?? .null,
                "highestSequence": st.highestSequence.map { .int($0) } ?? .null,
                "current": st.current.map(Fields.version) ?? .null,
                "versions": .array(st.versions.map(Fields.version)),
                "trust": .object(["keys": .array(st.trusted.map { .string($0) }), "threshold": .int(Int64(st.threshold)), "version": .int(st.policyVersion)]),
            ])
        }

        private func text(_ st: OfflineMirror.Status) -> Summary {
            var s = Summary()
            s.add("mirror", "\(options.mirror) (id \(st.mirrorID))")
            if let c = st.current {
                s.add("current", "\(c.name) \(c.version) (sequence \(c.sequence)), version \(c.id)")
                s.add("manifest", c.manifestDigest)
                s.add("signed by", c.signerText)
                s.add("applied", c.appliedAt)
                s.add("tree", "\(c.files) files, \(Format.grouped(c.size)) bytes")
            } else {
                s.add("current", "none (no bundle applied yet)")
            }
            for v in st.versions {
                s.add("retained", "\(v.id)  \(v.version)  sequence \(v.sequence)  signed by \(v.signerText)\(v.isCurrent ? "  (current)" : "")")
            }
            s.add("highest seq", st.highestSequence.map { "\($0) (bundles must be newer)" } ?? "none")
            s.add("trusts", st.trusted.joined(separator: ", ") + " (\(st.threshold) of \(st.trusted.count) must sign; policy version \(st.policyVersion))")
            return s
        }
    }
}
