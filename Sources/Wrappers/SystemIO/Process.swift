internal import CSystem
import Support
#if canImport(Glibc)
import Glibc
#endif

/// The running process: its id, environment and exit.
public enum CurrentProcess {
    /// The corresponding C function is `getpid`.
    public static var id: Int32 { getpid() }

    /// The user id the process acts as. The corresponding C function is `geteuid`.
    public static var effectiveUser: UInt32 { UInt32(geteuid()) }

    /// An environment variable's value, or nil when unset. The corresponding C function is `getenv`.
    public static func environment(_ name: String) -> String? {
        getenv(name).map { String(cString: $0) }
    }

    /// Sets (or with nil, removes) an environment variable, for C libraries that read one.
    public static func setEnvironment(_ name: String, _ value: String?) {
        if let value { setenv(name, value, 1) } else { unsetenv(name) }
    }

    /// Processors this process may run on: its affinity mask, as `nproc` counts, so `taskset`
    /// or a container's cpuset is honoured; the processors online when the mask cannot be read.
    /// The corresponding C functions are `sched_getaffinity` and `sysconf(_SC_NPROCESSORS_ONLN)`.
    public static var processorCount: Int {
        // Room for 4,096 processors, a bit each; a larger machine fails the call and falls back.
        var mask = [UInt64](repeating: 0, count: 64)
        let r = mask.withUnsafeMutableBytes { sched_getaffinity(0, $0.count, $0.baseAddress) }
        guard r == 0 else { return max(1, sysconf(Int32(_SC_NPROCESSORS_ONLN))) }
        return max(1, mask.reduce(0) { $0 + $1.nonzeroBitCount })
    }

    /// Ends the process with `status`. The corresponding C function is `exit`.
    public static func exit(_ status: Int32) -> Never { Glibc.exit(status) }
}

extension Timestamp {
    /// Seconds since 1970 now, from the system's clock. The corresponding C function is `time`.
    public static func now() -> Int64 { Int64(time(nil)) }
}
