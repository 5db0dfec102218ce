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

    /// Processors online now. The corresponding C function is `sysconf(_SC_NPROCESSORS_ONLN)`.
    public static var processorCount: Int { max(1, sysconf(Int32(_SC_NPROCESSORS_ONLN))) }

    /// Ends the process with `status`. The corresponding C function is `exit`.
    public static func exit(_ status: Int32) -> Never { Glibc.exit(status) }
}

extension Timestamp {
    /// Seconds since 1970 now, from the system's clock. The corresponding C function is `time`.
    public static func now() -> Int64 { Int64(time(nil)) }
}
