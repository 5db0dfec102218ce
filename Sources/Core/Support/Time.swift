/// UTC timestamps as RFC 3339 text ("2026-06-01T00:00:00Z"), whole seconds only, so that
/// the text in a signed manifest has exactly one spelling.
public enum Timestamp {
    public static func format(_ epoch: Int64) -> String {
        let days = epoch >= 0 ? epoch / 86400 : (epoch - 86399) / 86400
        let second = epoch - days * 86400
        let (y, m, d) = civil(days)
        func p(_ v: Int64, _ w: Int) -> String {
            let s = String(v)
            return String(repeating: "0", count: max(0, w - s.count)) + s
        }
        return "\(p(y, 4))-\(p(m, 2))-\(p(d, 2))T\(p(second / 3600, 2)):\(p(second / 60 % 60, 2)):\(p(second % 60, 2))Z"
    }

    /// Parses "YYYY-MM-DDTHH:MM:SSZ" (optionally with a "+00:00" offset or fractional seconds dropped).
    public static func parse(_ text: String) -> Int64? {
        var s = text.trimmingSpaces
        if s.hasSuffix("+00:00") { s = String(s.dropLast(6)) + "Z" }
        guard s.hasSuffix("Z") else { return nil }
        s.removeLast()
        if let dot = s.firstIndex(of: ".") { s = String(s[..<dot]) }
        let parts = s.split(whereSeparator: { $0 == "-" || $0 == "T" || $0 == ":" || $0 == " " })
        guard parts.count == 6, parts[0].count == 4, parts[1...].allSatisfy({ $0.count == 2 }) else { return nil }
        let n = parts.compactMap { Int32($0) }
        guard n.count == 6, (1...12).contains(n[1]), (1...31).contains(n[2]), (0...23).contains(n[3]),
              (0...59).contains(n[4]), (0...60).contains(n[5]) else { return nil }
        let days = daysSinceEpoch(Int64(n[0]), Int64(n[1]), Int64(n[2]))
        let t = days * 86400 + Int64(n[3]) * 3600 + Int64(n[4]) * 60 + Int64(n[5])
        // Like timegm, 31 February counts on into March; a round trip catches such dates.
        guard format(t).hasPrefix(String(s.prefix(10))) else { return nil }
        return t
    }

    // Proleptic Gregorian calendar; the algorithms are Howard Hinnant's `days_from_civil` and
    // `civil_from_days`, which need no libc and no time zone. `now()` is in SystemIO.

    /// Days from 1970-01-01 to a date; a day past the month's end counts on into the next.
    static func daysSinceEpoch(_ year: Int64, _ month: Int64, _ day: Int64) -> Int64 {
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yearOfEra = y - era * 400
        let dayOfYear = (153 * (month > 2 ? month - 3 : month + 9) + 2) / 5 + day - 1
        let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear
        return era * 146097 + dayOfEra - 719468
    }

    /// The date (year, month, day) of a day counted from 1970-01-01.
    static func civil(_ days: Int64) -> (Int64, Int64, Int64) {
        let z = days + 719468
        let era = (z >= 0 ? z : z - 146096) / 146097
        let dayOfEra = z - era * 146097
        let yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36524 - dayOfEra / 146096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let mp = (5 * dayOfYear + 2) / 153
        let day = dayOfYear - (153 * mp + 2) / 5 + 1
        let month = mp < 10 ? mp + 3 : mp - 9
        return (yearOfEra + era * 400 + (month <= 2 ? 1 : 0), month, day)
    }
}

extension String {
    public var trimmingSpaces: String {
        var s = Substring(self)
        while let f = s.first, f.isWhitespace { s.removeFirst() }
        while let l = s.last, l.isWhitespace { s.removeLast() }
        return String(s)
    }
}
