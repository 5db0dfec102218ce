import Apply
import ArgumentParser
import BundleFormat
import CommandSupport
import Support

extension Mirrorctl {
    struct Switch: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Make a retained version current: forward again after a rollback, or back to any retained one.",
            discussion: """
                VERSION is a version id as `mirrorctl status` lists it (12-0123456789ab) or its sequence (12). The \
                version must still match its signed manifest, and the current trust policy must accept its \
                signatures, as for rollback. The replay guard is not lowered: bundles below the highest sequence \
                ever applied stay refused.
                """)

        @Argument(help: "The retained version: its id or its sequence.")
        var version: String
        @OptionGroup var options: MirrorOption
        @Flag(help: "Switch even to a version the current trust policy no longer accepts (signed by a revoked key); the journal records it.")
        var allowRevoked = false
        @Flag(help: "Print one JSON object instead of text.")
        var json = false

        func run() async throws {
            let mirror = try OfflineMirror(options.mirror)
            let done = try mirror.switchTo(version, allowRevoked: allowRevoked)
            let (from, to) = (done.from, done.to)
            let hook = done.moved ? try HookStep.run(mirror, .`switch`, version: to.id, sequence: to.sequence, previous: from.id) : nil
            if json {
                printJSON(.object(["from": Fields.version(from), "to": Fields.version(to), "signers": Fields.keys(to.signers), "hook": Fields.hook(hook),
                                   "allowedRevoked": done.allowedRevoked.map(Fields.keys) ?? .null,
                                   "moved": .bool(done.moved), "current": .string("\(options.mirror)/current")]))
                return try HookStep.check(hook, version: to.id)
            }
            var s = Summary()
            guard done.moved else {
                s.add("unchanged", "\(to.version) (sequence \(to.sequence), version \(to.id)) is current already; nothing changed")
                return s.print()
            }
            s.add("switched", "from \(from.version) (sequence \(from.sequence)) to \(to.version) (sequence \(to.sequence))")
            s.add("signed by", to.signerText)
            if let revoked = done.allowedRevoked {
                let why = revoked.isEmpty ? "not accepted by the current trust policy" : "signed by revoked key(s) \(revoked.joined(separator: ", "))"
                s.add("revoked", "\(why); switched with --allow-revoked, as the journal records")
            }
            s.add("current", "\(options.mirror)/current -> versions/\(to.id)/tree")
            HookStep.add(hook, to: &s)
            s.print()
            try HookStep.check(hook, version: to.id)
        }
    }

    struct Repair: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Rebuild a damaged retained version from the bundle it was applied from.",
            discussion: """
                The bundle is verified as on apply, against the trust policy in force at its sequence, and must be \
                one the journal records as applied here; its tree is rebuilt, checked, and put in place of the \
                damaged one in one step. Files of the version that are still intact are linked, not copied. A \
                delta needs its base version intact (repair the oldest first). Nothing new is admitted and the \
                replay guard is not changed.
                """)

        @Argument(help: "The bundle file the version was applied from; or its volume files and folders of volumes, in any order.")
        var inputs: [String]
        @OptionGroup var options: MirrorOption
        @Flag(help: "Print one JSON object instead of text.")
        var json = false

        func validate() throws {
            if inputs.isEmpty { throw ValidationError("give the bundle file, or its volumes") }
        }

        func run() async throws {
            let mirror = try OfflineMirror(options.mirror)
            let r: RepairReport
            switch try ApplyInput(inputs) {
            case .bundle(let file): r = try mirror.repair(bundle: file)
            case .volumes(let inputs): r = try mirror.repair(volumes: inputs).0
            }
            if json {
                printJSON(.object(["repaired": Fields.version(r.version), "problemsBefore": .array(r.problemsBefore.map { .string($0) }),
                                   "linked": .int(Int64(r.linkedFiles)), "written": .int(r.writtenBytes)]))
                return
            }
            var s = Summary()
            s.add("repaired", "\(r.version.version) (sequence \(r.version.sequence), version \(r.version.id))\(r.version.isCurrent ? ", the current version" : "")")
            s.add("found", r.problemsBefore.isEmpty ? "nothing wrong: rebuilt anyway, identical" : r.problemsBefore.prefix(5).joined(separator: "; ")
                  + (r.problemsBefore.count > 5 ? "; and \(r.problemsBefore.count - 5) more" : ""))
            s.add("rebuilt", "\(Format.bytes(r.writtenBytes)) written, \(r.linkedFiles) intact files linked; verified against its signed manifest")
            s.print()
        }
    }
}
