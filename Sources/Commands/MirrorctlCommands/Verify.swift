import Apply
import ArgumentParser
import BundleFormat
import CommandSupport
import Support

extension Mirrorctl {
    struct Verify: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Re-hash the active tree against its signed manifest and name any file that differs.",
            discussion: "Exits 1 when anything differs; else 4 when the intact current version is stale (older than the mirror's maximum age, or expired).")

        @OptionGroup var options: MirrorOption
        @Flag(help: "Print one JSON object instead of text.")
        var json = false

        func run() async throws {
            let mirror = try OfflineMirror(options.mirror)
            let (info, treeProblems, journalProblem) = try mirror.verify()
            let problems = (journalProblem.map { [$0] } ?? []) + treeProblems
            // The chain's head, once the chain verified: note it in the transfer log.
            let head: (count: Int, sha256: String)? = problems.isEmpty ? try mirror.journalHead() : nil
            let fresh = try mirror.freshness()
            if json {
                printJSON(.object(["mirror": .string(options.mirror), "verified": .bool(problems.isEmpty), "current": info.map(Fields.version) ?? .null,
                                   "freshness": Fields.freshness(fresh),
                                   "signers": Fields.keys(info?.signers ?? []), "problems": .array(problems.map { .string($0) }),
                                   "journal": head.map { .object(["entries": .int(Int64($0.count)), "sha256": .string($0.sha256)]) } ?? .null]))
            } else {
                text(info, problems, head: head, fresh: fresh)
            }
            guard let info else {
                if !problems.isEmpty { throw ToolError.refused("the mirror's journal does not verify") }
                return
            }
            if let journalProblem, treeProblems.isEmpty {
                throw ToolError.refused("version \(info.id) matches its signed manifest, but the journal does not verify: \(journalProblem)")
            }
            guard treeProblems.isEmpty else {
                let journal = journalProblem == nil ? "" : "; and the journal does not verify"
                throw ToolError.refused("version \(info.id) differs from its signed manifest in \(treeProblems.count) place(s)\(journal)")
            }
            if let e = fresh?.error(version: info.id) { throw e }
        }

        private func text(_ info: VersionInfo?, _ problems: [String], head: (count: Int, sha256: String)?, fresh: Freshness?) {
            for p in problems { printLine("  \(p)") }
            guard let info else {
                if problems.isEmpty { printLine("no current version to verify") }
                return
            }
            guard problems.isEmpty else { return }
            var s = Summary()
            s.add("verified", "\(info.name) \(info.version) (sequence \(info.sequence)): \(info.files) files match the signed manifest")
            s.add("manifest", info.manifestDigest)
            s.add("signed by", info.signerText)
            if let head { s.add("journal", "hash chain intact: \(head.count) entries, last sha256:\(head.sha256)") }
            if let fresh { s.add("age", Status.ageText(fresh)) }
            s.print()
        }
    }
}
