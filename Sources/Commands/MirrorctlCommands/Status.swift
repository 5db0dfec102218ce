import Apply
import ArgumentParser
import BundleFormat
import CommandSupport
import Support

extension Mirrorctl {
    struct Status: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show the active version, the retained ones and the trusted keys.")

        @OptionGroup var options: MirrorOption
        @Flag(help: "Print one JSON object instead of text.")
        var json = false

        func run() async throws {
            let mirror = try OfflineMirror(options.mirror)
            let st = try mirror.status()
            let mediaKeys = mirror.config.mediaKeys.map(\.idText)
            if json {
                guard case .object(var o) = Status.json(st) else { return }
                o["mediaKeys"] = .array(mediaKeys.map { .string($0) })
                printJSON(.object(o))
            } else {
                var s = text(st)
                s.add("media keys", mediaKeys.isEmpty ? "none (volume labels must be signed by a trusted key above)" : mediaKeys.joined(separator: ", ") + " (volume labels only)")
                s.print()
            }
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
