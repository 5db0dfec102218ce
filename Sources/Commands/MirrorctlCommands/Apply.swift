import Apply
import ArgumentParser
import BundleFormat
import Changes
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
        @Flag(help: "Print one JSON object instead of text.")
        var json = false

        func validate() throws {
            if inputs.isEmpty { throw ValidationError("give the bundle file, or its volumes") }
            if maxFiles < 1 || maxIndexBytes < 1 { throw ValidationError("--max-files and --max-index-bytes must be at least 1") }
        }

        private var limits: ApplyLimits { ApplyLimits(maxFiles: maxFiles, maxIndexBytes: maxIndexBytes) }

        func run() async throws {
            let mirror = try OfflineMirror(options.mirror)
            let r: ApplyReport, intake: VolumeIntake?, bundle: String?
            switch try ApplyInput(inputs) {
            case .bundle(let file):
                (r, intake, bundle) = (try mirror.apply(bundle: file, dryRun: dryRun, allowExpired: allowExpired, limits: limits), nil, file)
            case .volumes(let inputs):
                let (report, v) = try mirror.apply(volumes: inputs, dryRun: dryRun, allowExpired: allowExpired, limits: limits)
                (r, intake, bundle) = (report, v, nil)
            }
            let hook = dryRun ? nil : try HookStep.run(mirror, .apply, version: r.version, sequence: r.manifest.sequence, previous: r.before.version)
            if json {
                printJSON(Fields.adding(["hook": Fields.hook(hook)], to: report(r, bundle: bundle, intake: intake)))
            } else {
                var s = text(r, bundle: bundle, intake: intake)
                HookStep.add(hook, to: &s)
                s.print()
            }
            for w in r.warnings { warn("mirrorctl", w) }
            try HookStep.check(hook, version: r.version)
        }

        private func text(_ r: ApplyReport, bundle: String?, intake: VolumeIntake?) -> Summary {
            var s = Summary()
            s.add(dryRun ? "would apply" : "applied", "\(r.manifest.name) \(r.manifest.version) (sequence \(r.manifest.sequence)) as version \(r.version)")
            if let bundle { s.add("bundle", bundle) }
            if let intake { addIntake(intake, to: &s) }
            addReport(r, to: &s)
            return s
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
            if let t = r.trustUpdate {
                s.add("trust", "\(dryRun ? "would adopt" : "adopted") policy \(t.summary)")
                if let change = r.policyChange { s.add("  change", change.text) }
            }
            if let t = r.trustAlreadyInForce { s.add("trust", "the bundle carries policy \(t.summary), already in force here: nothing to adopt") }
            s.add("tree", "\(m.treeFiles) files, \(Format.grouped(m.treeSize)) bytes, sha256:\(m.tree.hex)")
            for i in m.images {
                s.add("  image", "\(i.ref ?? "(no name)")  sha256:\(i.digest.hex)  \(i.platforms.joined(separator: ","))")
            }
            s.add(r.changes)
            s.add(r.imageChanges)
            s.add(r.changeReport, images: false)
            if !dryRun {
                s.add("disk", "\(Format.grouped(r.writtenBytes)) bytes written, \(r.linkedFiles) unchanged files shared by hard link")
                if !r.pruned.isEmpty { s.add("pruned", r.pruned.joined(separator: ", ")) }
                s.add("current", "\(options.mirror)/current -> versions/\(r.version)/tree")
            }
            s.add("time", Format.duration(r.seconds))
        }

        private func report(_ r: ApplyReport, bundle: String?, intake: VolumeIntake?) -> JSON {
            var o = Fields.bundle(r.manifest, manifest: r.manifestDigest)
            o["dryRun"] = .bool(dryRun)
            o["bundle"] = bundle.map { .string($0) } ?? intake.map { .string($0.bundle.file) } ?? .null
            o["versionId"] = .string(r.version)
            o["signers"] = Fields.keys(r.signers)
            o["tree"] = Fields.tree(r.manifest)
            o["images"] = .array(r.manifest.images.map(Fields.image))
            o["changes"] = r.changes.json
            o["imageChanges"] = r.imageChanges.json
            o["changeReport"] = r.changeReport.json
            o["trustPolicy"] = Fields.policy(r.trustUpdate)
            o["trustChange"] = r.policyChange?.json ?? .null
            o["volumes"] = intake.map(Apply.volumes) ?? .null
            o["written"] = dryRun ? .null : .int(r.writtenBytes)
            o["linked"] = dryRun ? .null : .int(Int64(r.linkedFiles))
            o["pruned"] = .array(r.pruned.map { .string($0) })
            o["current"] = dryRun ? .null : .string("\(options.mirror)/current")
            o["warnings"] = .array(r.warnings.map { .string($0) })
            o["milliseconds"] = Fields.milliseconds(r.seconds)
            return .object(o)
        }

        private static func volumes(_ v: VolumeIntake) -> JSON {
            .object(["count": .int(Int64(v.count)), "set": .string(v.set.hex), "sha256": v.sha256.map { .string($0.hex) } ?? .null,
                     "size": .int(v.bundle.size), "signers": Fields.keys(v.signers), "folders": .array(v.folders.map { .string($0) }),
                     "read": .array(v.copied.map { .int(Int64($0)) }), "resumed": .array(v.resumed.map { .int(Int64($0)) }),
                     "bytesRead": .int(v.bytesRead)])
        }
    }
}
