import Apply
import Support

/// `mirrorctl status --prometheus`: the metrics in Prometheus' text exposition format, for
/// node_exporter's textfile collector (write to a temporary file, then rename it into place).
enum PrometheusText {
    /// A label value: backslash, double quote and line feed escaped, as the format requires.
    static func label(_ value: String) -> String {
        var out = ""
        for c in value.unicodeScalars {
            switch c {
            case "\\": out += "\\\\"
            case "\"": out += "\\\""
            case "\n": out += "\\n"
            default: out.unicodeScalars.append(c)
            }
        }
        return out
    }

    static func render(_ m: MirrorMetrics) -> String {
        let labels = "mirror=\"\(label(m.mirrorID))\",channel=\"\(label(m.channel ?? ""))\""
        var out = ""
        func metric(_ name: String, _ help: String, _ value: Int64?) {
            guard let value else { return }
            out += "# HELP airgap_mirror_\(name) \(help)\n# TYPE airgap_mirror_\(name) gauge\nairgap_mirror_\(name){\(labels)} \(value)\n"
        }
        let c = m.current, f = m.freshness
        metric("current_sequence", "Sequence of the bundle the current version was applied from.", c?.sequence)
        metric("highest_sequence", "Highest sequence this mirror ever applied (the replay guard).", m.highestSequence)
        metric("current_created_timestamp_seconds", "When the current version's bundle was built (its signed MANIFEST).", f?.created)
        metric("current_age_seconds", "Seconds since the current version's bundle was built.", f?.age)
        metric("current_expires_timestamp_seconds", "When the current version's bundle expires.", f?.expires)
        metric("current_expired", "1 when the current version is past its expiry.", f.map { $0.expired ? 1 : 0 })
        metric("max_age_seconds", "The mirror's maximum age for its current version (mirrorctl init --max-age).", f?.maxAge)
        metric("stale", "1 when the current version is older than the maximum age or expired.", f.map { $0.stale ? 1 : 0 })
        metric("current_signatures_counted", "Signatures that counted for the current version under its trust policy.", c.map { Int64($0.signers.count) })
        metric("last_apply_success", "1 when the last apply of a bundle succeeded, 0 when it was refused or failed.", m.lastApply.map { $0.succeeded ? 1 : 0 })
        metric("last_apply_timestamp_seconds", "When the last apply of a bundle ended.", m.lastApply?.time)
        metric("journal_entries", "Entries in the mirror's hash-chained journal.", Int64(m.journalEntries))
        return out
    }
}
