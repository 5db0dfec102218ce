import Apply
import ArgumentParser
import CommandSupport
import Support

extension Mirrorctl {
    struct Apply: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Verify a bundle completely, stage it and swap it in as the current version.")

        @Argument(help: "The bundle file.")
        var bundle: String
        @OptionGroup var options: MirrorOption
        @Flag(help: "Verify everything and show what would change, without touching the mirror.")
        var dryRun = false
        @Flag(help: "Apply a bundle whose expiry time has passed (recorded in the journal).")
        var allowExpired = false

        func run() async throws {
            let mirror = try Mirror(options.mirror)
            let r = try mirror.apply(bundle: bundle, dryRun: dryRun, allowExpired: allowExpired)
            let m = r.manifest
            var s = Summary()
            s.add(dryRun ? "would apply" : "applied", "\(m.name) \(m.version) (sequence \(m.sequence)) as version \(r.version)")
            s.add("bundle", bundle)
            s.add("manifest", "sha256:\(r.manifestDigest.hex)")
            s.add("signed by", r.signer)
            if let t = r.trustUpdate { s.add("trust", "\(dryRun ? "would adopt" : "adopted") policy \(t.summary)") }
            s.add("tree", "\(m.treeFiles) files, \(Format.grouped(m.treeSize)) bytes, sha256:\(m.tree.hex)")
            for i in m.images {
                s.add("  image", "\(i.ref ?? "(no name)")  sha256:\(i.digest.hex)  \(i.platforms.joined(separator: ","))")
            }
            let bySource = r.changes.sources.sorted { $0.key < $1.key }
            for (name, c) in bySource {
                s.add("  \(name)", "\(c.added.count) added, \(c.changed.count) changed, \(c.removed.count) removed")
            }
            // Name each file only when the list stays short enough to paste into a transfer log.
            if r.changes.totalAdded + r.changes.totalChanged + r.changes.totalRemoved <= 50 {
                for c in bySource.map(\.value) {
                    for p in c.added { s.add("  +", p) }
                    for p in c.changed { s.add("  ~", p) }
                    for p in c.removed { s.add("  -", p) }
                }
            }
            if !dryRun {
                s.add("disk", "\(Format.grouped(r.writtenBytes)) bytes written, \(r.linkedFiles) unchanged files shared by hard link")
                if !r.pruned.isEmpty { s.add("pruned", r.pruned.joined(separator: ", ")) }
                s.add("current", "\(options.mirror)/current -> versions/\(r.version)/tree")
            }
            s.add("time", Format.duration(r.seconds))
            s.print()
            for w in r.warnings { warn("mirrorctl", w) }
        }
    }
}
