import BundleFormat
import Support
import SystemIO

/// The figures a monitoring system scrapes (`mirrorctl status --prometheus`): what is current,
/// how old it is, how the last apply ended, how long the journal is.
public struct MirrorMetrics {
    public struct LastApply: Sendable, Equatable {
        public var succeeded: Bool
        public var time: Int64
    }

    public var mirrorID: String
    public var channel: String?
    public var highestSequence: Int64?
    public var current: VersionInfo?
    public var freshness: Freshness?
    public var lastApply: LastApply?
    public var journalEntries: Int
}

extension OfflineMirror {
    public func metrics(now: Int64 = Timestamp.now()) throws -> MirrorMetrics {
        let st = try status()
        return MirrorMetrics(mirrorID: st.mirrorID, channel: st.channel, highestSequence: st.highestSequence, current: st.current,
                             freshness: try freshness(now: now), lastApply: try lastApply(), journalEntries: try journal.head().count)
    }

    /// The journal's last apply of a bundle, or its refusal or failure, read from the end.
    func lastApply() throws -> MirrorMetrics.LastApply? {
        var found: MirrorMetrics.LastApply?
        try journal.scanBackward { raw in
            guard case .object(let e)? = try? JSON.parse(raw, what: "journal"), e["command"] == nil,
                  case .string(let event)? = e["event"], ["apply", "refuse", "fail"].contains(event),
                  case .string(let t)? = e["time"], let time = Timestamp.parse(t) else { return true }
            found = .init(succeeded: event == "apply", time: time)
            return false
        }
        return found
    }
}
