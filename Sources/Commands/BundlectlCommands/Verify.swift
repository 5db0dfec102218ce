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
        @OptionGroup var keys: TrustKeyOptions
        @Flag(help: "Print one JSON object instead of text.")
        var json = false

        func run() async throws {
            let reader = try BundleReader(path: bundle, policy: try keys.policy())
            let m = reader.manifest
            let index = try reader.readIndex()
            let progress = Progress("verifying", total: m.packs.reduce(0) { $0 + $1.size })
            let digests = try reader.readObjects(index, into: DiscardingSink(), progress: progress)
            progress.finish()
            let files = m.base == nil ? Int64(try reader.checkTree(index, objectDigests: digests).entries.count) : nil
            if json { printJSON(jsonReport(reader, files: files, seconds: progress.elapsed)) } else { textReport(reader, files: files, seconds: progress.elapsed).print() }
        }

        private func textReport(_ reader: BundleReader, files: Int64?, seconds: Double) -> Summary {
            let m = reader.manifest
            var s = Summary()
            if let base = m.base {
                s.add("verified", "\(bundle): signature, index and every pack match; patched files are checked against the base when applied")
                s.add("delta of", base.description)
            } else {
                s.add("verified", "\(bundle): signature and all \(Format.grouped(files ?? 0)) files match")
            }
            s.add("bundle", "\(m.name) \(m.version) (sequence \(m.sequence))")
            s.add("manifest", "sha256:\(reader.manifestDigest.hex)")
            s.add("signed by", reader.signerText)
            if let t = reader.trustUpdate { s.add("carries", "trust policy \(t.policy.summary), approved by \(t.approvedBy.map(\.idText).joined(separator: ", "))") }
            s.add("tree", "sha256:\(m.tree.hex)  \(Format.grouped(m.treeSize)) bytes")
            if let e = m.expires {
                s.add("expires", Timestamp.format(e) + (e <= Timestamp.now() ? "  (EXPIRED: a mirror refuses it without --allow-expired)" : ""))
            }
            s.add("time", Format.duration(seconds))
            return s
        }

        /// Printed only once everything verified: a refusal is one line on standard error.
        private func jsonReport(_ reader: BundleReader, files: Int64?, seconds: Double) -> JSON {
            let m = reader.manifest
            var o = Fields.bundle(m, manifest: reader.manifestDigest)
            o["bundle"] = .string(bundle)
            o["signers"] = Fields.keys(reader.signers.map(\.idText))
            o["threshold"] = .int(Int64(keys.threshold))
            o["tree"] = Fields.tree(m)
            // A full bundle's files were each rebuilt and checked; a delta's wait for its base.
            o["filesChecked"] = files.map { .int($0) } ?? .null
            o["delta"] = m.base.map(Fields.base) ?? .null
            o["trustPolicy"] = Fields.policy(reader.trustUpdate?.policy)
            o["approvedBy"] = reader.trustUpdate.map { Fields.keys($0.approvedBy.map(\.idText)) } ?? .null
            o["created"] = Fields.time(m.created)
            o["expires"] = Fields.time(m.expires)
            o["expired"] = .bool(m.expires.map { $0 <= Timestamp.now() } ?? false)
            o["milliseconds"] = Fields.milliseconds(seconds)
            return .object(o)
        }
    }
}
