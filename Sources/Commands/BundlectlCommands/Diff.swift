import ArgumentParser
import BundleFormat
import BundleVerify
import Changes
import CommandSupport
import Support
import SystemIO

extension Bundlectl {
    struct Diff: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Show what bundle B changes against bundle A, before it travels.",
            discussion: """
                Both bundles are verified as `bundlectl verify --trust` verifies them (signature and every byte). Shown: \
                files added, changed and removed per source (as `mirrorctl apply` reports them), images that appear, go \
                or whose name now stands for another image, the trust policy B carries and what it changes, and sequence, \
                channel and expiry as a mirror holding A would judge them. A must be a full bundle; B may be full or a \
                delta of A (its patches are decoded when it is applied).
                """)

        @Argument(help: "The bundle the mirror holds (full).")
        var a: String
        @Argument(help: "The bundle to send: full, or a delta of A.")
        var b: String
        @OptionGroup var keys: TrustKeyOptions
        @Flag(help: "Print one JSON object instead of text.")
        var json = false

        func run() async throws {
            let given = try keys.policy()
            let old = try Verified(a, policy: given)
            guard let base = old.listing else {
                throw ToolError.usage("'\(a)' is a delta of \(old.reader.manifest.base?.description ?? "another version"): diff needs A's whole tree; give a full bundle as A")
            }
            let new = try Verified(b, policy: given)
            let changes = try new.changes(against: base, from: old)
            let images = ImageChanges.between(old.reader.manifest.images, new.reader.manifest.images)
            let policyChange = new.reader.trustUpdate.map { PolicyChange(from: old.reader.trustUpdate?.policy ?? given, to: $0.policy) }
            let notes = Diff.notes(old.reader.manifest, new.reader.manifest)
            if json {
                printJSON(.object(["from": old.json, "to": new.json, "changes": changes.json, "imageChanges": images.json,
                                   "trustPolicy": Fields.policy(new.reader.trustUpdate?.policy), "trustChange": policyChange?.json ?? .null,
                                   "notes": .array(notes.map { .string($0) })]))
                return
            }
            var s = Summary()
            s.add("from", old.line)
            s.add("to", new.line)
            addHead(old.reader, new.reader, policyChange, to: &s)
            s.add("files", "\(changes.totalAdded) added, \(changes.totalChanged) changed, \(changes.totalRemoved) removed")
            s.add(changes)
            s.add("images", images.isEmpty ? "no change" : "\(images.added.count) added, \(images.moved.count) moved, \(images.removed.count) removed")
            s.add(images)
            for n in notes { s.add("note", n) }
            s.print()
        }

        private func addHead(_ old: BundleReader, _ new: BundleReader, _ change: PolicyChange?, to s: inout Summary) {
            let (m, n) = (old.manifest, new.manifest)
            s.add("signed by", "A: \(old.signerText); B: \(new.signerText)")
            s.add("sequence", "\(m.sequence) -> \(n.sequence)")
            s.add("expires", "\(m.expires.map { Timestamp.format($0) } ?? "never") -> \(n.expires.map { Timestamp.format($0) } ?? "never")")
            if let t = new.trustUpdate, let change {
                let against = old.trustUpdate.map { "A's policy version \($0.policy.version)" } ?? "the keys given"
                s.add("trust", "B carries policy \(t.policy.summary); against \(against): \(change.text)")
            } else {
                s.add("trust", old.trustUpdate.map { "B carries no policy (A carried version \($0.policy.version); a mirror that adopted it keeps it)" }
                    ?? "no change: neither carries a policy")
            }
        }

        /// What a mirror holding A would say about B's channel, sequence and expiry.
        static func notes(_ m: Manifest, _ n: Manifest) -> [String] {
            var notes: [String] = []
            if m.name != n.name { notes.append("B is channel \(n.name), A is \(m.name): a mirror of \(m.name) refuses B") }
            if n.sequence <= m.sequence { notes.append("B's sequence \(n.sequence) is not above A's \(m.sequence): a mirror holding A refuses B as a replay") }
            if let e = n.expires, e <= Timestamp.now() { notes.append("B expired at \(Timestamp.format(e)): a mirror refuses it without --allow-expired") }
            if n.base != nil { notes.append("B is a delta: its patched files are checked against A's when it is applied") }
            return notes
        }
    }
}

/// A bundle verified as `bundlectl verify` does it, with its tree when it is a full bundle.
private struct Verified {
    let path: String
    let reader: BundleReader
    let index: BundleIndex
    /// The whole tree, rebuilt and checked against the signed digest; nil for a delta.
    let listing: TreeListing?

    init(_ path: String, policy: TrustPolicy) throws {
        self.path = path
        reader = try BundleReader(path: path, policy: policy)
        index = try reader.readIndex()
        let progress = Progress("verifying", total: reader.manifest.packs.reduce(0) { $0 + $1.size })
        let digests = try reader.readObjects(index, into: DiscardingSink(), progress: progress)
        progress.finish()
        listing = reader.manifest.base == nil ? try reader.checkTree(index, objectDigests: digests) : nil
    }

    /// What this bundle changes on `base`, the tree of `old`: a full bundle's tree against it, or
    /// a delta's index on it, when the delta was built on that tree.
    func changes(against base: TreeListing, from old: Verified) throws -> ChangeSummary {
        if let listing { return ChangeSummary.between(base, listing) }
        guard let ref = reader.manifest.base, ref.tree == base.digest else {
            throw ToolError.refused("'\(path)' is a delta of \(reader.manifest.base?.description ?? "another version"), not of '\(old.path)' (\(old.reader.manifest.name) sequence \(old.reader.manifest.sequence)): a mirror holding A refuses it")
        }
        return ChangeSummary.applying(index, to: base)
    }

    var line: String {
        let m = reader.manifest
        return "\(m.name) \(m.version) (sequence \(m.sequence))  \(path)  sha256:\(reader.manifestDigest.hex)" + (m.base.map { "  delta of \($0.description)" } ?? "")
    }

    var json: JSON {
        let m = reader.manifest
        var o = Fields.bundle(m, manifest: reader.manifestDigest)
        o["bundle"] = .string(path)
        o["signers"] = Fields.keys(reader.signers.map(\.idText))
        o["tree"] = Fields.tree(m)
        o["created"] = Fields.time(m.created)
        o["expires"] = Fields.time(m.expires)
        o["delta"] = m.base.map(Fields.base) ?? .null
        o["trustPolicy"] = Fields.policy(reader.trustUpdate?.policy)
        return .object(o)
    }
}
