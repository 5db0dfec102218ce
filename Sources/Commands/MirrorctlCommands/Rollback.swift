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
            let done = try OfflineMirror(options.mirror).rollback(allowRevoked: allowRevoked)
            let (from, to) = (done.from, done.to)
            if json {
                printJSON(.object(["from": Fields.version(from), "to": Fields.version(to), "signers": Fields.keys(to.signers),
                                   "allowedRevoked": done.allowedRevoked.map(Fields.keys) ?? .null,
                                   "current": .string("\(options.mirror)/current")]))
                return
            }
            var s = Summary()
            s.add("rolled back", "from \(from.version) (sequence \(from.sequence)) to \(to.version) (sequence \(to.sequence))")
            s.add("signed by", to.signerText)
            if let revoked = done.allowedRevoked {
                let why = revoked.isEmpty ? "not accepted by the current trust policy" : "signed by revoked key(s) \(revoked.joined(separator: ", "))"
                s.add("revoked", "\(why); rolled back with --allow-revoked, as the journal records")
            }
            s.add("current", "\(options.mirror)/current -> versions/\(to.id)/tree")
            s.add("note", "newer bundles stay refused below sequence \(from.sequence + 1); the replay guard is not rolled back")
            s.print()
        }
    }
}
