import ArgumentParser
import BundleFormat
import BundleVerify
import Changes
import CommandSupport
import Support

extension Bundlectl {
    struct Inspect: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Show what a bundle holds. The signature is not checked: use `verify` for that.",
            discussion: """
                With --base, also what the bundle changes against a base bundle, record by record (advisories with their \
                CVE ids, CVEs newly known exploited, images, other files), as `mirrorctl apply` reports it. Both bundles are \
                read through and checked against their tree digests; signatures are not checked.
                """)

        @Argument(help: "The bundle file.")
        var bundle: String
        @Option(help: "A full bundle to report the changes against (last month's).")
        var base: String?
        @Flag(help: "Print one JSON object instead of text.")
        var json = false

        func run() async throws {
            let reader = try BundleReader(path: bundle, trust: nil)
            let index = try reader.readIndex()
            let changes = try base.map { try BaseChanges.report(reader, index, base: $0) }
            if json {
                var o = jsonReport(reader, index)
                if let (report, b) = changes {
                    o = Fields.adding(["base": .object(Fields.bundle(b.manifest, manifest: b.manifestDigest).merging(["bundle": .string(b.path)]) { $1 }),
                                       "changeReport": report.json], to: o)
                }
                printJSON(o)
            } else {
                var s = textReport(reader, index)
                if let (report, b) = changes {
                    s.add("against", "\(b.manifest.name) \(b.manifest.version) (sequence \(b.manifest.sequence))  \(b.path)  sha256:\(b.manifestDigest.hex)")
                    s.add("files", "\(report.files.added) added, \(report.files.changed) changed, \(report.files.removed) removed")
                    s.add(report)
                }
                s.print()
            }
        }

        /// What the bundle packs take, with its index.
        private func storedBytes(_ m: Manifest) -> Int64 { m.packs.reduce(m.index.size) { $0 + $1.size } }

        /// Image bytes two ways. As listed: each image's blobs (manifest and config included),
        /// a blob counted again for every image that lists it. In the layout: the images sources'
        /// files in the tree, each blob once plus the layout's index.json and oci-layout. So one
        /// image shows more in the layout than listed; images sharing layers show less.
        private func imageBytes(_ m: Manifest) -> (asListed: Int64, inLayout: Int64) {
            (m.images.reduce(Int64(0)) { $0 + $1.size }, m.sources.filter { $0.kind == .images }.reduce(Int64(0)) { $0 + $1.size })
        }

        private func jsonReport(_ reader: BundleReader, _ index: BundleIndex) -> JSON {
            let m = reader.manifest
            let (asListed, inLayout) = imageBytes(m)
            return JSON.object([
                    "name": .string(m.name), "version": .string(m.version), "sequence": .int(m.sequence),
                    "created": .string(Timestamp.format(m.created)),
                    "expires": m.expires.map { .string(Timestamp.format($0)) } ?? .null,
                    "signer": .string(reader.signature.keyIdText),
                    "signatures": .array(reader.signatures.map { .string($0.file.keyIdText) }),
                    "trustPolicy": Fields.policy(reader.trustUpdate?.policy),
                    "manifest": .string("sha256:" + reader.manifestDigest.hex),
                    "tree": .object(["sha256": .string(m.tree.hex), "files": .int(m.treeFiles), "size": .int(m.treeSize)]),
                    "objects": .int(Int64(index.objects.count)),
                    "packs": .int(Int64(m.packs.count)),
                    "patches": .int(Int64(index.patches.count)),
                    "delta": m.base.map { b in
                        .object(["name": .string(b.name), "sequence": .int(b.sequence), "manifest": .string("sha256:" + b.manifest.hex),
                                 "mirror": b.mirror.map { .string($0) } ?? .null,
                                 "changed": .int(Int64(index.files.count)), "removed": .int(Int64(index.removed.count))])
                    } ?? .null,
                    "stored": .int(storedBytes(m)),
                    "images": .array(m.images.map(Fields.image)),
                    "imageBytesAsListed": .int(asListed), "imageBytesInLayout": .int(inLayout),
                    "sources": .array(m.sources.map { s in
                        .object(["name": .string(s.name), "kind": .string(s.kind.rawValue), "origin": .string(s.origin),
                                 "files": .int(s.files), "size": .int(s.size)])
                    }),
                ])
        }

        private func textReport(_ reader: BundleReader, _ index: BundleIndex) -> Summary {
            let m = reader.manifest
            let (asListed, inLayout) = imageBytes(m)
            var s = Summary()
            s.add("bundle", "\(m.name) \(m.version)")
            s.add("sequence", "\(m.sequence)")
            s.add("created", Timestamp.format(m.created))
            s.add("expires", m.expires.map { Timestamp.format($0) } ?? "never")
            s.add("signed by", "\(reader.signatures.map(\.file.keyIdText).joined(separator: ", ")) (not checked here; run `bundlectl verify --trust KEY`)")
            if let t = reader.trustUpdate { s.add("carries", "trust policy \(t.policy.summary), signed by \(t.signatures.map(\.file.keyIdText).joined(separator: ", "))") }
            s.add("manifest", "sha256:\(reader.manifestDigest.hex)")
            if let b = m.base {
                s.add("delta of", b.description + (b.mirror.map { " on mirror \($0)" } ?? ""))
                s.add("changes", "\(index.files.count) files changed or added (\(index.patches.count) as patches), \(index.removed.count) removed")
            } else {
                s.add("kind", "full bundle")
            }
            s.add("tree", "\(m.treeFiles) files, \(Format.grouped(m.treeSize)) bytes, sha256:\(m.tree.hex)")
            s.add("stored", "\(index.objects.count) distinct objects in \(m.packs.count) pack(s), \(Format.grouped(storedBytes(m))) bytes compressed")
            for src in m.sources {
                s.add("source", "\(src.kind.rawValue)/\(src.name)  \(src.files) files  \(Format.grouped(src.size)) bytes  from \(src.origin)")
            }
            for i in m.images {
                s.add("image", "\(i.ref ?? "(no name)")  sha256:\(i.digest.hex)  \(i.platforms.isEmpty ? "-" : i.platforms.joined(separator: ","))  \(Format.grouped(i.size)) bytes")
                if let from = i.pulledFrom {
                    s.add("  pulled", "\(from) at \(i.resolvedAt.map(Timestamp.format) ?? "an unknown time")"
                        + (i.reducedFrom.map { "; an index reduced to these platforms from the registry's sha256:\($0.hex)" } ?? ""))
                }
            }
            if !m.images.isEmpty && m.base == nil {
                s.add("dedup", "\(m.images.count) image\(m.images.count == 1 ? " lists" : "s list") \(Format.grouped(asListed)) bytes of blobs (a blob counted for each image that lists it); "
                    + "the layout holds \(Format.grouped(inLayout)) bytes (each blob once, with index.json and oci-layout): "
                    + "sharing saves \(Format.grouped(max(0, asListed - inLayout))) bytes")
            }
            return s
        }
    }
}
