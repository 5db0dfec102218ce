import Apply
import ArgumentParser
import BundleFormat
import CommandSupport
import Support

extension Mirrorctl {
    struct Rollback: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Make the previous retained version current again.")

        @OptionGroup var options: MirrorOption

        func run() async throws {
            let (from, to) = try OfflineMirror(options.mirror).rollback()
            var s = Summary()
            s.add("rolled back", "from \(from.version) (sequence \(from.sequence)) to \(to.version) (sequence \(to.sequence))")
            s.add("signed by", to.signerText)
            s.add("current", "\(options.mirror)/current -> versions/\(to.id)/tree")
            s.add("note", "newer bundles stay refused below sequence \(from.sequence + 1); the replay guard is not rolled back")
            s.print()
        }
    }
}
