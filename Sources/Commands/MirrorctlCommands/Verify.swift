import Apply
import ArgumentParser
import BundleFormat
import CommandSupport
import Support

extension Mirrorctl {
    struct Verify: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Re-hash the active tree against its signed manifest and name any file that differs.")

        @OptionGroup var options: MirrorOption

        func run() async throws {
            let mirror = try OfflineMirror(options.mirror)
            let (info, problems) = try mirror.verify()
            for p in problems { printLine("  \(p)") }
            guard let info else {
                if !problems.isEmpty { throw ToolError.refused("the mirror's journal does not verify") }
                printLine("no current version to verify")
                return
            }
            guard problems.isEmpty else {
                throw ToolError.refused("version \(info.id) differs from its signed manifest in \(problems.count) place(s)")
            }
            var s = Summary()
            s.add("verified", "\(info.name) \(info.version) (sequence \(info.sequence)): \(info.files) files match the signed manifest")
            s.add("manifest", info.manifestDigest)
            s.add("signed by", info.signerText)
            let head = try mirror.journalHead()
            s.add("journal", "hash chain intact: \(head.count) entries, last sha256:\(head.sha256)")
            s.print()
        }
    }
}
