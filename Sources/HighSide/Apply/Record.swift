import BundleFormat
import BundleVerify
import Support
import SystemIO

/// Record: what the mirror remembers of a committed change (state.json, the journal) and the
/// pruning of old versions; and the journal lines for refused or failed applies.
struct Record {
    let paths: MirrorPaths
    var journal: Journal { Journal(path: paths.journal) }

    /// The state after version `id` of `manifest` became current, and the versions it prunes.
    static func next(_ state: MirrorState, id: String, manifest: Manifest) -> (state: MirrorState, pruned: [String]) {
        var next = state
        next.versions.removeAll { $0 == id }
        next.versions.append(id)
        next.channel = manifest.name
        next.highestSequence = max(next.highestSequence ?? manifest.sequence, manifest.sequence)
        let pruned = prunable(next, current: id)
        next.versions.removeAll { pruned.contains($0) }
        return (next, pruned)
    }

    /// Versions beyond the newest `retained` (by sequence), never the current one.
    static func prunable(_ state: MirrorState, current: String) -> [String] {
        let bySequence = state.versions.sorted { (VersionID.sequence(of: $0) ?? 0) > (VersionID.sequence(of: $1) ?? 0) }
        return bySequence.dropFirst(OfflineMirror.retained).filter { $0 != current }
    }

    /// Records an apply whose swap is done. `current` has moved: the new version is live, and a
    /// failure from here on (a full disk) must not be reported as a failed apply. It only delays
    /// the record, which the next run repairs from `current` (`Recovery`); old versions stay
    /// until then. Returns the versions pruned and the warnings.
    func applied(_ reader: BundleReader, bundle: String, id: String, state: MirrorState, previous: String?,
                 now: Int64) throws -> (pruned: [String], warnings: [String]) {
        let manifest = reader.manifest
        let (newState, pruned) = Record.next(state, id: id, manifest: manifest)
        do {
            try FS.writeAtomically(paths.state, newState.json.canonicalBytes)
            try journal.append("apply", Staging.identity(reader).merging([
                "bundle": .string(FS.baseName(bundle)),
                "policyVersion": .int(reader.policy?.version ?? 0),
                "versionId": .string(id),
                "previous": previous.map { .string($0) } ?? .null,
                // Applied past its expiry only because the admin said so: that choice is on record.
                "expiredAt": manifest.expires.flatMap { $0 <= now ? .string(Timestamp.format($0)) : nil } ?? .null,
            ]) { $1 })
            for p in pruned { try? FS.removeTree(paths.version(p)) }
        } catch let e as ToolError {
            return ([], ["version \(id) is current, but recording it failed (\(e.message)); the next apply or rollback records it"])
        }
        return (pruned, [])
    }

    /// Journals a refused bundle ("refuse"), or an apply the environment stopped ("fail": no
    /// space, an I/O error), with what is known of the bundle by then.
    func refusal(_ bundle: String, _ e: ToolError, _ reader: BundleReader? = nil) throws {
        var fields: [String: JSON] = ["bundle": .string(FS.baseName(bundle)), "reason": .string(e.message)]
        if let reader {
            fields["name"] = .string(reader.manifest.name)
            fields["sequence"] = .int(reader.manifest.sequence)
            fields["manifest"] = .string("sha256:" + reader.manifestDigest.hex)
            fields["signer"] = reader.signer.map { .string($0.idText) } ?? .null
            fields["signers"] = .array(reader.signers.map { .string($0.idText) })
        }
        try journal.append(e.status == .environment ? "fail" : "refuse", fields)
    }
}
