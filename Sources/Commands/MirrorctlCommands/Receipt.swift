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
        @Flag(help: "Print the report as one JSON object (the receipt file is JSON either way).")
        var json = false

        func run() async throws {
            let r = try OfflineMirror(options.mirror).receipt()
            try FS.writeAtomically(output, r.json.canonicalBytes)
            let size = try FS.info(output)?.size ?? 0
            if json {
                printJSON(.object(["receipt": .string(output), "size": .int(size), "mirror": .string(r.mirror), "name": .string(r.base.name),
                                   "sequence": .int(r.base.sequence), "manifest": Fields.digest(r.base.manifest),
                                   "tree": .object(["sha256": .string(r.base.tree.hex), "files": .int(Int64(r.listing.entries.count)), "size": .int(r.listing.totalSize)])]))
                return
            }
            var s = Summary()
            s.add("receipt", "\(output)  \(Format.grouped(size)) bytes")
            s.add("mirror", r.mirror)
            s.add("version", r.base.description)
            s.add("files", "\(r.listing.entries.count), tree sha256:\(r.base.tree.hex)")
            s.print()
        }
    }
}
