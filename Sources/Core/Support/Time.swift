#if canImport(Glibc)
import Glibc
#endif

/// UTC timestamps as RFC 3339 text ("2026-06-01T00:00:00Z"), whole seconds only, so that
/// the text in a signed manifest has exactly one spelling.
public enum Timestamp {
    public static func format(_ epoch: Int64) -> String {
        var t = time_t(epoch)
        var tm = tm()
        gmtime_r(&t, &tm)
        func p(_ v: Int32, _ w: Int) -> String {
            let s = String(v)
            return String(repeating: "0", count: max(0, w - s.count)) + s
        }
        return "\(p(tm.tm_year + 1900, 4))-\(p(tm.tm_mon + 1, 2))-\(p(tm.tm_mday, 2))T\(p(tm.tm_hour, 2)):\(p(tm.tm_min, 2)):\(p(tm.tm_sec, 2))Z"
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
        var tm = tm()
        tm.tm_year = n[0] - 1900
        tm.tm_mon = n[1] - 1
        tm.tm_mday = n[2]
        tm.tm_hour = n[3]
        tm.tm_min = n[4]
        tm.tm_sec = n[5]
        let t = timegm(&tm)
        // timegm normalises 31 February into March; a round trip catches such dates.
        guard format(Int64(t)).hasPrefix(String(s.prefix(10))) else { return nil }
        return Int64(t)
    }

    public static func now() -> Int64 { Int64(time(nil)) }
}

extension String {
    public var trimmingSpaces: String {
        var s = Substring(self)
        while let f = s.first, f.isWhitespace { s.removeFirst() }
        while let l = s.last, l.isWhitespace { s.removeLast() }
        return String(s)
    }
}
