import Apply
import ArgumentParser
import BundleFormat
import CommandSupport
import Support

extension Mirrorctl {
    struct Rollback: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Make the previous retained version current again.")

        @OptionGroup var options: MirrorOption
        @Flag(help: "Roll back even to a version the current trust policy no longer accepts (signed by a revoked key); the journal records it.")
        var allowRevoked = false
        @Flag(help: "Print one JSON object instead of text.")
        var json = false

        func run() async throws {
            let mirror = try OfflineMirror(options.mirror)
            let done = try mirror.rollback(allowRevoked: allowRevoked)
            let (from, to) = (done.from, done.to)
            let hook = done.moved ? try HookStep.run(mirror, .rollback, version: to.id, sequence: to.sequence, previous: from.id) : nil
            if json {
                printJSON(.object(["from": Fields.version(from), "to": Fields.version(to), "signers": Fields.keys(to.signers), "hook": Fields.hook(hook),
                                   "allowedRevoked": done.allowedRevoked.map(Fields.keys) ?? .null,
                                   "current": .string("\(options.mirror)/current")]))
                return try HookStep.check(hook, version: to.id)
            }
            var s = Summary()
            s.add("rolled back", "from \(from.version) (sequence \(from.sequence)) to \(to.version) (sequence \(to.sequence))")
            s.add("signed by", to.signerText)
            if let revoked = done.allowedRevoked {
                let why = revoked.isEmpty ? "not accepted by the current trust policy" : "signed by revoked key(s) \(revoked.joined(separator: ", "))"
                s.add("revoked", "\(why); rolled back with --allow-revoked, as the journal records")
            }
            s.add("current", "\(options.mirror)/current -> versions/\(to.id)/tree")
            s.add("note", "bundles up to sequence \(from.sequence) stay refused: the replay guard is not rolled back; `mirrorctl switch \(from.sequence)` goes forward again")
            HookStep.add(hook, to: &s)
            s.print()
            try HookStep.check(hook, version: to.id)
        }
    }
}
