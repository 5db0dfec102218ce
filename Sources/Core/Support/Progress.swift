#if canImport(Glibc)
import Glibc
#endif

/// Progress for long steps: bytes, rate and time left on a terminal, nothing otherwise.
///
/// It writes to standard error only when that is a terminal, so logs and pipes stay clean.
public final class Progress: @unchecked Sendable {
    private let label: String
    private let total: Int64
    private var done: Int64 = 0
    private let start = Clock.now()
    private var lastDraw: Double = 0
    private let enabled: Bool
    private let lock = Mutex()

    public init(_ label: String, total: Int64) {
        self.label = label
        self.total = total
        self.enabled = isatty(2) == 1 && getenv("NO_PROGRESS") == nil
    }

    public func advance(_ n: Int64) {
        guard enabled else { return }
        lock.locked {
            done += n
            let now = Clock.now()
            if now - lastDraw >= 0.2 {
                lastDraw = now
                draw(now)
            }
        }
    }

    private func draw(_ now: Double) {
        let elapsed = max(now - start, 0.001)
        let rate = Double(done) / elapsed
        var line = "\r\u{1B}[2K\(label)  \(Format.bytes(done))"
        if total > 0 {
            line += " / \(Format.bytes(total))"
        }
        line += "  \(Format.bytes(Int64(rate)))/s"
        if total > 0 && rate > 0 && done < total {
            line += "  \(Format.duration(Double(total - done) / rate)) left"
        }
        writeStandardError(line)
    }

    /// Clears the progress line.
    public func finish() {
        guard enabled else { return }
        lock.locked { writeStandardError("\r\u{1B}[2K") }
    }

    public var elapsed: Double { Clock.now() - start }
}

public enum Clock {
    public static func now() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
    }
}

/// A plain pthread mutex; enough for progress counters shared by a few threads.
public final class Mutex: @unchecked Sendable {
    private let m = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    public init() { pthread_mutex_init(m, nil) }
    deinit { pthread_mutex_destroy(m); m.deallocate() }
    public func locked<T>(_ body: () throws -> T) rethrows -> T {
        pthread_mutex_lock(m)
        defer { pthread_mutex_unlock(m) }
        return try body()
    }
}

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

/// Writes straight to file descriptor 2: unbuffered, and free of C's shared `stderr` global.
public func writeStandardError(_ text: String) { writeUnbuffered(2, text) }

/// Writes all of `text` to a descriptor at once, so a piped log gets each line when it happens.
public func writeUnbuffered(_ fd: Int32, _ text: String) {
    var bytes = Array(text.utf8)
    var done = 0
    while done < bytes.count {
        let n = bytes.withUnsafeMutableBytes { Glibc.write(fd, $0.baseAddress! + done, $0.count - done) }
        if n <= 0 { return }
        done += n
    }
}
