/// Spans of time as admins type them: "35d", "12h", "90m", "45s" (or bare seconds), and back.
public enum DurationText {
    /// Ten years: longer than any freshness or hook limit means, and far from overflow.
    public static let maxSeconds: Int64 = 10 * 366 * 86_400

    /// Seconds, or nil for anything else (no sign, no fraction, one unit, at most `maxSeconds`).
    public static func seconds(_ text: String) -> Int64? {
        let units: [Character: Int64] = ["s": 1, "m": 60, "h": 3600, "d": 86_400, "w": 604_800]
        var digits = Substring(text)
        var unit: Int64 = 1
        if let last = text.last, let u = units[last] {
            unit = u
            digits = digits.dropLast()
        }
        guard !digits.isEmpty, digits.count <= 12, digits.allSatisfy({ $0 >= "0" && $0 <= "9" }), let n = Int64(digits) else { return nil }
        let (total, overflow) = n.multipliedReportingOverflow(by: unit)
        return overflow || total > maxSeconds ? nil : total
    }

    /// "35d", "36h", "90m", "45s": the largest unit that divides the span exactly.
    public static func format(_ seconds: Int64) -> String {
        for (unit, size) in [("d", Int64(86_400)), ("h", 3600), ("m", 60)] where seconds != 0 && seconds % size == 0 {
            return "\(seconds / size)\(unit)"
        }
        return "\(seconds)s"
    }

    /// "40 days 3 hours": an age for people, to the hour above a day and the minute below it.
    public static func age(_ seconds: Int64) -> String {
        let s = max(0, seconds)
        let (d, h, m) = (s / 86_400, s % 86_400 / 3600, s % 3600 / 60)
        func n(_ v: Int64, _ w: String) -> String { "\(v) \(w)\(v == 1 ? "" : "s")" }
        if d > 0 { return h > 0 ? "\(n(d, "day")) \(n(h, "hour"))" : n(d, "day") }
        if h > 0 { return m > 0 ? "\(n(h, "hour")) \(n(m, "minute"))" : n(h, "hour") }
        return m > 0 ? n(m, "minute") : n(s, "second")
    }
}
