import Apply
import ArgumentParser
import BundleFormat
import CommandSupport
import Support
import SystemIO

extension Mirrorctl {
    struct Receipt: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Write what the mirror holds, for `bundlectl build --base-receipt` on the low side.",
            discussion: "The receipt is plain JSON: the active version and every file's path, mode, size and SHA-256. Nothing else leaves.")

        @OptionGroup var options: MirrorOption
        @Option(help: "Where to write the receipt.")
        var output: String

        func run() async throws {
            let r = try OfflineMirror(options.mirror).receipt()
            try FS.writeAtomically(output, r.json.canonicalBytes)
            var s = Summary()
            s.add("receipt", "\(output)  \(Format.grouped(try FS.info(output)?.size ?? 0)) bytes")
            s.add("mirror", r.mirror)
            s.add("version", r.base.description)
            s.add("files", "\(r.listing.entries.count), tree sha256:\(r.base.tree.hex)")
            s.print()
        }
    }
}
