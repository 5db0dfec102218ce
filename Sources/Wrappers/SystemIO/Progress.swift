import Support
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
        self.enabled = isatty(2) == 1 && CurrentProcess.environment("NO_PROGRESS") == nil
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

/// Writes straight to file descriptor 2: unbuffered, and free of C's shared `stderr` global.
public func writeStandardError(_ text: String) { writeUnbuffered(2, text) }

/// Writes straight to file descriptor 1, unbuffered, so a piped log gets each line when it happens.
public func writeStandardOutput(_ text: String) { writeUnbuffered(1, text) }

/// Writes all of `text` to a descriptor at once, so a piped log gets each line when it happens.
func writeUnbuffered(_ fd: Int32, _ text: String) {
    var bytes = Array(text.utf8)
    var done = 0
    while done < bytes.count {
        let n = bytes.withUnsafeMutableBytes { Glibc.write(fd, $0.baseAddress! + done, $0.count - done) }
        if n <= 0 { return }
        done += n
    }
}
