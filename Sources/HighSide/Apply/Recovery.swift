import BundleFormat
import Support
import SystemIO

/// Recovery: brings the pinned trust policy and state.json in line with `current` after a crash
/// and removes half-made versions and staging leftovers, journaling what it found. Every change
/// starts with it.
struct Recovery {
    let paths: MirrorPaths
    let audit: Audit
    var journal: Journal { Journal(path: paths.journal) }

    /// Repairs the mirror and returns its state and the version `current` points at (resolved
    /// once: nothing here moves `current`). Call with the lock held.
    func run() throws -> (state: MirrorState, current: String?) {
        let current = try paths.currentID()
        // A trust rotation under way is adopted or discarded by where `current` points: the
        // swap was its commit point. Settled first, before anything can move `current` on.
        var removed = try Adoption.settle(paths, current: current)
        let state = try repairState(current: current)
        removed += try removeUnretained(keep: Set(state.versions))
        removed += ((try? FS.list(paths.staging)) ?? []).map { "staging/\($0)" }
        try? FS.removeTree(paths.staging)
        try FS.makeDirectory(paths.staging, mode: 0o700)
        // Half-written small files (`FS.writeAtomically`) and the link a swap had not renamed yet.
        for name in try FS.list(paths.root) where name == ".current.new" || Recovery.isScratch(name) {
            try FS.remove(paths.root + "/" + name)
            removed.append(name)
        }
        try journalRecovery(current: current, removed: removed)
        return (state, current)
    }

    /// "state.json.tmp-1234": what `FS.writeAtomically` leaves when killed before its rename.
    static func isScratch(_ name: String) -> Bool {
        guard let dash = name.lastIndex(of: "-"), name[..<dash].hasSuffix(".tmp") else { return false }
        let pid = name[name.index(after: dash)...]
        return !pid.isEmpty && pid.allSatisfy { $0 >= "0" && $0 <= "9" }
    }

    /// `current` moved but state.json was not yet written: the swap happened, record it.
    private func repairState(current: String?) throws -> MirrorState {
        var state = try ReplayGuard(paths: paths).state(current: current, write: true)
        guard let current, !state.versions.contains(current) else { return state }
        let manifest = try paths.storedManifest(current)
        state.versions.append(current)
        state.highestSequence = max(state.highestSequence ?? manifest.sequence, manifest.sequence)
        state.channel = state.channel ?? manifest.name
        try FS.writeAtomically(paths.state, state.json.canonicalBytes)
        return state
    }

    private func removeUnretained(keep: Set<String>) throws -> [String] {
        guard try FS.info(paths.versions) != nil else { return [] }
        var removed: [String] = []
        for name in try FS.list(paths.versions) where !keep.contains(name) {
            try FS.removeTree(paths.version(name))
            removed.append("versions/\(name)")
        }
        return removed
    }

    /// An apply or rollback killed after moving `current` but before journaling it still leaves
    /// a record of what is current and who signed it; leftovers of an interrupted apply are
    /// named, so the journal shows that it was interrupted.
    private func journalRecovery(current: String?, removed: [String]) throws {
        let journaled = try journal.lastCurrent()
        guard current != journaled || !removed.isEmpty else { return }
        var fields: [String: JSON] = ["removed": .array(removed.map { .string($0) })]
        if let current, current != journaled {
            fields.merge(["versionId": .string(current), "previous": journaled.map { .string($0) } ?? .null,
                          "note": .string("current moved to this version but the change was not journaled before it was interrupted")]) { $1 }
            // What `verify` would read; a damaged version is for it to report, not a reason to stop here.
            if let v = try? audit.info(current, current: true) {
                fields.merge(["name": .string(v.name), "version": .string(v.version), "sequence": .int(v.sequence),
                              "manifest": .string(v.manifestDigest), "signer": .string(v.signer)]) { $1 }
            }
        }
        try journal.append("recover", fields)
    }
}
