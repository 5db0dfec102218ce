import Apply
import ArgumentParser
import CommandSupport
import Media
import Support
import SystemIO

extension Mirrorctl {
    struct Apply: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Verify a bundle completely, stage it and swap it in as the current version.",
            discussion: """
                Give one bundle file, or the volumes `bundlectl media write` made: volume files and folders of them \
                (mount points), in any order. Every volume's label is checked before anything is read further; a \
                missing, duplicate, foreign or damaged volume is named and nothing changes. A run interrupted while \
                reading volumes goes on where it stopped when run again.
                """)

        @Argument(help: "The bundle file; or volume files and folders of volumes, in any order.")
        var inputs: [String]
        @OptionGroup var options: MirrorOption
        @Flag(help: "Verify everything and show what would change, without touching the mirror.")
        var dryRun = false
        @Flag(help: "Apply a bundle whose expiry time has passed (recorded in the journal).")
        var allowExpired = false
        @Option(help: "Refuse a bundle whose tree has more files than this, before its index is read.")
        var maxFiles: Int64 = ApplyLimits.defaults.maxFiles
        @Option(help: "Refuse a bundle whose index is larger than this many bytes (decompressed), before it is read.")
        var maxIndexBytes: Int64 = ApplyLimits.defaults.maxIndexBytes

        func validate() throws {
            if inputs.isEmpty { throw ValidationError("give the bundle file, or its volumes") }
            if maxFiles < 1 || maxIndexBytes < 1 { throw ValidationError("--max-files and --max-index-bytes must be at least 1") }
        }

        private var limits: ApplyLimits { ApplyLimits(maxFiles: maxFiles, maxIndexBytes: maxIndexBytes) }

        func run() async throws {
            let mirror = try OfflineMirror(options.mirror)
            let r: ApplyReport
            var s = Summary()
            switch try ApplyInput(inputs) {
            case .bundle(let bundle):
                r = try mirror.apply(bundle: bundle, dryRun: dryRun, allowExpired: allowExpired, limits: limits)
                addHeadline(r, to: &s)
                s.add("bundle", bundle)
            case .volumes(let inputs):
                let (report, v) = try mirror.apply(volumes: inputs, dryRun: dryRun, allowExpired: allowExpired, limits: limits)
                r = report
                addHeadline(r, to: &s)
                addIntake(v, to: &s)
            }
            addReport(r, to: &s)
            s.print()
            for w in r.warnings { warn("mirrorctl", w) }
        }

        private func addHeadline(_ r: ApplyReport, to s: inout Summary) {
            s.add(dryRun ? "would apply" : "applied", "\(r.manifest.name) \(r.manifest.version) (sequence \(r.manifest.sequence)) as version \(r.version)")
        }

        private func addIntake(_ v: VolumeIntake, to s: inout Summary) {
            s.add("bundle", "\(v.bundle.file), \(Format.grouped(v.bundle.size)) bytes, sha256:\(v.sha256?.hex ?? "-") (reassembled from its volumes)")
            s.add("volumes", "all \(v.count) intact, set \(v.set.hex), labels signed by \(v.signers.joined(separator: ", "))")
            s.add("  from", v.folders.joined(separator: ", "))
            s.add("  read", "\(v.copied.count) volume(s), \(Format.grouped(v.bytesRead)) bytes" + (v.resumed.isEmpty ? "" : "; volume(s) \(v.resumed.map(String.init).joined(separator: ", ")) already checked and copied by an earlier run, not read again"))
            for n in v.notes { s.add("  note", n) }
            for i in v.ignored { s.add("  ignored", "\(i.path): \(i.reason)") }
        }

        private func addReport(_ r: ApplyReport, to s: inout Summary) {
            let m = r.manifest
            s.add("manifest", "sha256:\(r.manifestDigest.hex)")
            s.add("signed by", r.signer)
            if let t = r.trustUpdate { s.add("trust", "\(dryRun ? "would adopt" : "adopted") policy \(t.summary)") }
            if let t = r.trustAlreadyInForce { s.add("trust", "the bundle carries policy \(t.summary), already in force here: nothing to adopt") }
            s.add("tree", "\(m.treeFiles) files, \(Format.grouped(m.treeSize)) bytes, sha256:\(m.tree.hex)")
            for i in m.images {
                s.add("  image", "\(i.ref ?? "(no name)")  sha256:\(i.digest.hex)  \(i.platforms.joined(separator: ","))")
            }
            addChanges(r.changes, to: &s)
            if !dryRun {
                s.add("disk", "\(Format.grouped(r.writtenBytes)) bytes written, \(r.linkedFiles) unchanged files shared by hard link")
                if !r.pruned.isEmpty { s.add("pruned", r.pruned.joined(separator: ", ")) }
                s.add("current", "\(options.mirror)/current -> versions/\(r.version)/tree")
            }
            s.add("time", Format.duration(r.seconds))
        }

        private func addChanges(_ changes: ChangeSummary, to s: inout Summary) {
            let bySource = changes.sources.sorted { $0.key < $1.key }
            for (name, c) in bySource {
                s.add("  \(name)", "\(c.added.count) added, \(c.changed.count) changed, \(c.removed.count) removed")
            }
            // Name each file only when the list stays short enough to paste into a transfer log.
            if changes.totalAdded + changes.totalChanged + changes.totalRemoved <= 50 {
                for c in bySource.map(\.value) {
                    for p in c.added { s.add("  +", p) }
                    for p in c.changed { s.add("  ~", p) }
                    for p in c.removed { s.add("  -", p) }
                }
            }
        }
    }
}
