import BundleFormat
import Support
import SystemIO

/// The replay guard: the highest sequence this mirror ever applied, which every bundle must
/// exceed. state.json holds it for admission, but state.json is a plain file: deleting it, or
/// writing a non-number or a lower number into it, must not lower the guard. The journal's
/// hash-chained history is the authority: every entry carries `highest` (older journals: the
/// largest sequence of their apply and recover entries, streamed once), and the version
/// `current` points at was applied even when a crash kept the journal from saying so yet.
///
/// state.json must agree with that history, or nothing runs: a missing state.json is rebuilt
/// from it (and said so), any other disagreement is refused, naming both values.
struct ReplayGuard {
    let paths: MirrorPaths
    var journal: Journal { Journal(path: paths.journal) }

    /// The highest sequence the history shows applied: the journal's, or `current`'s version if
    /// newer and `recorded` (an apply killed after state.json but before its journal line). A
    /// swap not yet in state.json either is left for `Recovery` to record.
    func expected(current: String?, recorded: Bool) throws -> Int64? {
        let journaled = try journal.highestApplied()
        guard recorded, let seq = current.flatMap(VersionID.sequence(of:)) else { return journaled }
        return max(journaled ?? seq, seq)
    }

    /// state.json, checked against the history. Missing, it is rebuilt from the journal and the
    /// versions on disk, and written when `write` (the lock is held).
    func state(current: String?, write: Bool) throws -> MirrorState {
        guard try FS.info(paths.state) != nil else {
            return try rebuild(current: current, highest: expected(current: current, recorded: true), write: write)
        }
        let bytes = try FS.readFile(paths.state, limit: 1 << 20)
        let recorded: String, state: MirrorState
        do {
            let o = try JSONObject(JSON.parse(bytes, what: "state.json"), what: "state.json")
            switch o.members["highestSequence"] {
            case .int(let v)?: recorded = String(v)
            case .null?, nil: recorded = "none"
            case let other?: recorded = ToolError.shown(other.canonicalString, limit: 40)
            }
            state = try MirrorState(bytes: bytes, path: "state.json")
        } catch let e as ToolError {
            let expected = try expected(current: current, recorded: false)
            throw ToolError.refused("\(paths.state) is not a mirror state (\(e.message)), and the journal's hash-chained history has applied sequence \(ReplayGuard.text(expected)); nothing was changed")
        }
        let expected = try expected(current: current, recorded: current.map(state.versions.contains) ?? true)
        guard recorded == ReplayGuard.text(expected) else {
            throw ToolError.refused("\(paths.state) records highest sequence \(recorded), but the journal's hash-chained history has applied sequence \(ReplayGuard.text(expected)): the replay guard was changed; restore state.json (or remove it to rebuild it from the journal); nothing was changed")
        }
        return state
    }

    static func text(_ sequence: Int64?) -> String { sequence.map(String.init) ?? "none" }

    /// state.json from the journal: the channel of the last apply, and the versions it applied
    /// that are still on disk (with `current`), pruned as an apply would.
    private func rebuild(current: String?, highest: Int64?, write: Bool) throws -> MirrorState {
        var applied: [String] = []
        var channel: String?
        _ = try JournalLines.forEach(paths.journal) { line in
            guard let line, case .object(let e)? = try? JSON.parse(line, what: "journal"),
                  e["event"] == .string("apply") || e["event"] == .string("recover"),
                  case .string(let id)? = e["versionId"], VersionID.isValid(id) else { return true }
            applied.removeAll { $0 == id }
            applied.append(id)
            if case .string(let name)? = e["name"] { channel = name }
            return true
        }
        var state = MirrorState(channel: channel, highestSequence: highest, versions: try applied.filter { try FS.info(paths.version($0)) != nil })
        if let current, !state.versions.contains(current) { state.versions.append(current) }
        if let current {
            let pruned = Record.prunable(state, current: current)
            state.versions.removeAll { pruned.contains($0) }
        }
        guard write else { return state }
        try FS.writeAtomically(paths.state, state.json.canonicalBytes)
        let note = "state.json was missing: rebuilt from the journal (highest sequence \(ReplayGuard.text(highest)), versions \(state.versions.joined(separator: ", ")))"
        try journal.append("recover", ["removed": .array([]), "note": .string(note)])
        writeStandardError("mirrorctl: warning: \(note)\n")
        return state
    }
}

extension ReplayGuard {
    /// The checked state and the version `current` points at, for a command that changes nothing.
    func current(write: Bool) throws -> (state: MirrorState, current: String?) {
        let current = try paths.currentID()
        return (try state(current: current, write: write), current)
    }
}
