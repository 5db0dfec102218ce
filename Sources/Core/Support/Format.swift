/// Figures for people: sizes, rates and durations.
public enum Format {
    public static func bytes(_ n: Int64) -> String {
        let units = ["B", "KiB", "MiB", "GiB", "TiB"]
        var v = Double(n)
        var i = 0
        while v >= 1024 && i < units.count - 1 { v /= 1024; i += 1 }
        return i == 0 ? "\(n) B" : String(format1: v) + " " + units[i]
    }

    /// 1234567 -> "1,234,567": exact byte counts for transfer logs.
    public static func grouped(_ n: Int64) -> String {
        let s = String(n.magnitude)
        var out = ""
        for (i, c) in s.enumerated() {
            if i > 0 && (s.count - i) % 3 == 0 { out += "," }
            out.append(c)
        }
        return n < 0 ? "-" + out : out
    }

    public static func duration(_ seconds: Double) -> String {
        let s = Int(seconds.rounded())
        if s < 60 { return seconds < 10 ? String(format1: seconds) + " s" : "\(s) s" }
        return "\(s / 3600 > 0 ? "\(s / 3600):" : "")\(pad2((s / 60) % 60)):\(pad2(s % 60))"
    }

    private static func pad2(_ v: Int) -> String { v < 10 ? "0\(v)" : "\(v)" }
}

extension String {
    /// One decimal place, without Foundation's locale-dependent formatting.
    public init(format1 v: Double) {
        let tenths = Int64((v * 10).rounded())
        self = "\(tenths / 10).\(abs(tenths % 10))"
    }
}
