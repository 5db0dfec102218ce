import ArgumentParser
import BundleFormat
import BundleVerify
import CommandSupport
import Support
import SystemIO


extension Bundlectl {
    struct Verify: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Check a bundle's signature and every byte it carries, without unpacking it.")

        @Argument(help: "The bundle file.")
        var bundle: String
        @Option(name: .customLong("trust"), help: "A public key whose signature is accepted (repeatable).")
        var trust: [String] = []
        @Option(help: "How many of the --trust keys must have signed (default 1).")
        var threshold: Int = 1

        func validate() throws {
            if trust.isEmpty { throw ValidationError("give at least one --trust public key") }
            if threshold < 1 || threshold > trust.count { throw ValidationError("--threshold must be between 1 and the number of --trust keys") }
        }

        func run() async throws {
            let keys = try loadPublicKeys(trust)
            let reader = try BundleReader(path: bundle, trust: keys, threshold: threshold)
            let m = reader.manifest
            let index = try reader.readIndex()
            let progress = Progress("verifying", total: m.packs.reduce(0) { $0 + $1.size })
            let digests = try reader.readObjects(index, into: DiscardingSink(), progress: progress)
            progress.finish()
            var s = Summary()
            if let base = m.base {
                s.add("verified", "\(bundle): signature, index and every pack match; patched files are checked against the base when applied")
                s.add("delta of", base.description)
            } else {
                let listing = try reader.checkTree(index, objectDigests: digests)
                s.add("verified", "\(bundle): signature and all \(Format.grouped(Int64(listing.entries.count))) files match")
            }
            s.add("bundle", "\(m.name) \(m.version) (sequence \(m.sequence))")
            s.add("manifest", "sha256:\(reader.manifestDigest.hex)")
            s.add("signed by", reader.signerText)
            if let t = reader.trustUpdate { s.add("carries", "trust policy \(t.policy.summary), approved by \(t.approvedBy.map(\.idText).joined(separator: ", "))") }
            s.add("tree", "sha256:\(m.tree.hex)  \(Format.grouped(m.treeSize)) bytes")
            if let e = m.expires {
                s.add("expires", Timestamp.format(e) + (e <= Timestamp.now() ? "  (EXPIRED: a mirror refuses it without --allow-expired)" : ""))
            }
            s.add("time", Format.duration(progress.elapsed))
            s.print()
        }
    }
}
