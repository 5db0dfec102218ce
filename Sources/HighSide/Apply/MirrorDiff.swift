import BundleFormat
import Changes
import Support
import SystemIO

/// What `mirrorctl diff` shows: two retained versions and the report between them.
public struct VersionDiff {
    public var from: VersionInfo
    public var to: VersionInfo
    public var report: ChangeReport
    /// True when the report is TO's CHANGES.json (TO was applied over FROM); false when it was
    /// computed from the two retained trees.
    public var stored: Bool
}

extension OfflineMirror {
    /// The report between two retained versions, each named by id or by sequence. Defaults:
    /// `from` the newest retained version older than the current one, `to` the current one.
    /// Reads and changes nothing but the two versions, without the lock (like `status`).
    public func diff(from: String?, to: String?) throws -> VersionDiff {
        let (state, current) = try replayGuard.current(write: false)
        var retained = state.versions
        if let current, !retained.contains(current) { retained.append(current) }
        let toID = try to.map { try Self.resolve($0, in: retained) } ?? current.orThrow("'\(paths.root)' has no current version yet; name two versions")
        let fromID = try from.map { try Self.resolve($0, in: retained) }
            ?? Rollback.target(MirrorState(versions: retained), current: toID).orThrow("no version older than \(toID) is retained; name the version to compare with")
        let report: ChangeReport, stored: Bool
        if let kept = VersionChanges.stored(toID, paths: paths), kept.from == fromID, kept.to == toID {
            (report, stored) = (kept, true)
        } else {
            (report, stored) = (try computed(from: fromID, to: toID), false)
        }
        return VersionDiff(from: try audit.info(fromID, current: fromID == current), to: try audit.info(toID, current: toID == current),
                           report: report, stored: stored)
    }

    /// A retained version by its id ("3-4b3f763300e9") or its sequence ("3").
    static func resolve(_ name: String, in retained: [String]) throws -> String {
        if retained.contains(name) { return name }
        if let seq = Int64(name), let id = retained.first(where: { VersionID.sequence(of: $0) == seq }) { return id }
        let list = retained.sorted { (VersionID.sequence(of: $0) ?? 0) < (VersionID.sequence(of: $1) ?? 0) }
        throw ToolError.usage("no retained version '\(ToolError.shown(name))'; retained: \(list.isEmpty ? "none" : list.joined(separator: ", ")) (by id or sequence)")
    }

    /// The report between two versions' trees, each listing checked against its signed manifest.
    private func computed(from: String, to: String) throws -> ChangeReport {
        let (old, oldImages) = try checkedListing(from)
        let (new, newImages) = try checkedListing(to)
        var report = VersionChanges.report(old: old, oldTree: .init(path: paths.tree(from), check: true), new: new,
                                           newTree: .init(path: paths.tree(to), check: true), images: ImageChanges.between(oldImages, newImages))
        (report.from, report.to) = (from, to)
        return report
    }

    private func checkedListing(_ id: String) throws -> (TreeListing, [ImageSummary]) {
        let manifest = try paths.storedManifest(id)
        let (listing, digest) = try paths.storedListing(id)
        guard digest == manifest.tree else {
            throw ToolError.refused("FILES.json of version \(id) does not match its signed tree digest; run `mirrorctl verify`")
        }
        return (listing, manifest.images)
    }
}

extension Optional {
    fileprivate func orThrow(_ usage: String) throws -> Wrapped {
        guard let self else { throw ToolError.usage(usage) }
        return self
    }
}
