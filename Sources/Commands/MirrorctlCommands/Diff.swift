import Apply
import ArgumentParser
import BundleFormat
import CommandSupport
import Support

extension Mirrorctl {
    struct Diff: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Show what one retained version changes against another, record by record.",
            discussion: """
                Advisories added, modified, withdrawn and removed with their CVE ids, CVEs newly known exploited (KEV), \
                images by name, and other files. FROM and TO are retained versions, by id or by sequence; by default FROM \
                is the version before the current one and TO the current one. When TO was applied over FROM its \
                CHANGES.json is shown; otherwise the report is computed from the two retained trees.
                """)

        @Argument(help: "The older version (id or sequence; default: the version before the current one).")
        var from: String?
        @Argument(help: "The newer version (id or sequence; default: the current version).")
        var to: String?
        @OptionGroup var options: MirrorOption
        @Flag(help: "Print one JSON object instead of text.")
        var json = false

        func run() async throws {
            let mirror = try OfflineMirror(options.mirror)
            let d = try mirror.diff(from: from, to: to)
            if json {
                printJSON(.object(["mirror": .string(mirror.config.id), "from": Fields.version(d.from), "to": Fields.version(d.to),
                                   "stored": .bool(d.stored), "changeReport": d.report.json]))
                return
            }
            var s = Summary()
            s.add("from", "\(d.from.name) \(d.from.version) (sequence \(d.from.sequence)), version \(d.from.id)")
            s.add("to", "\(d.to.name) \(d.to.version) (sequence \(d.to.sequence)), version \(d.to.id)")
            s.add("report", d.stored ? "versions/\(d.to.id)/CHANGES.json (made when it was applied over \(d.from.id))"
                : "computed from the two retained trees")
            s.add("files", "\(d.report.files.added) added, \(d.report.files.changed) changed, \(d.report.files.removed) removed")
            s.add(d.report)
            s.print()
        }
    }
}
