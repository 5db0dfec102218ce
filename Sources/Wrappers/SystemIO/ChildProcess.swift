import Support
#if canImport(Glibc)
import Glibc
#endif

/// A command run to its end or to a time limit: `/bin/sh -c` with its own process group (so a
/// time limit stops everything it started), standard input from /dev/null, and standard output
/// and error together into a file, of which the last `outputLimit` bytes are kept.
public struct ChildProcess {
    public struct Outcome: Sendable, Equatable {
        /// The exit code; nil when a signal ended it (or it was stopped at the time limit).
        public var exitCode: Int32?
        public var signal: Int32?
        public var timedOut: Bool
        /// The last bytes it wrote, and whether earlier ones were left out.
        public var output: [UInt8]
        public var truncated: Bool
        public var seconds: Double
    }

    public var command: String
    /// Added to (or replacing in) the inherited environment.
    public var environment: [String: String]
    public var timeout: Double
    public var outputLimit: Int64 = 8 << 10

    public init(shell command: String, environment: [String: String], timeout: Double) {
        self.command = command
        self.environment = environment
        self.timeout = timeout
    }

    /// Runs it; `outputFile` is a path the output goes to while it runs (removed afterwards).
    public func run(outputFile: String) throws -> Outcome {
        let started = Clock.now()
        let out = try FileDescriptor.create(outputFile, mode: 0o600)
        defer { try? FS.remove(outputFile) }
        let pid = try spawn(output: out)
        let (status, timedOut) = wait(pid, group: pid)
        try out.close()
        let (tail, truncated) = try Self.tail(FileDescriptor.open(outputFile, options: .noFollow), limit: outputLimit)
        let exited = status & 0x7f == 0
        return Outcome(exitCode: exited && !timedOut ? (status >> 8) & 0xff : nil, signal: exited ? nil : status & 0x7f,
                       timedOut: timedOut, output: tail, truncated: truncated, seconds: Clock.now() - started)
    }

    /// posix_spawn of /bin/sh -c, in a new process group, output to `output`, input from /dev/null.
    private func spawn(output: FileDescriptor) throws -> pid_t {
        try Self.spawn("/bin/sh", ["/bin/sh", "-c", command], environment: environment) { actions in
            posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
            output.withUnsafeDescriptor { fd in
                posix_spawn_file_actions_adddup2(&actions, fd, 1)
                posix_spawn_file_actions_adddup2(&actions, fd, 2)
            }
        }
    }

    /// posix_spawn of `path` with `arguments` (argv[0] first) in a new process group, the
    /// inherited environment with `environment` over it; `setup` says where its descriptors go.
    static func spawn(_ path: String, _ arguments: [String], environment: [String: String],
                      setup: (inout posix_spawn_file_actions_t) -> Void) throws -> pid_t {
        var actions = posix_spawn_file_actions_t()
        var attributes = posix_spawnattr_t()
        posix_spawn_file_actions_init(&actions)
        posix_spawnattr_init(&attributes)
        defer {
            posix_spawn_file_actions_destroy(&actions)
            posix_spawnattr_destroy(&attributes)
        }
        setup(&actions)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETPGROUP))
        posix_spawnattr_setpgroup(&attributes, 0)
        let argv: [UnsafeMutablePointer<CChar>?] = arguments.map { strdup($0) } + [nil]
        let envp: [UnsafeMutablePointer<CChar>?] = mergedEnvironment(environment).map { strdup($0) } + [nil]
        defer { (argv + envp).forEach { free($0) } }
        var pid: pid_t = 0
        let rc = posix_spawn(&pid, path, &actions, &attributes, argv, envp)
        guard rc == 0 else { throw systemError("run", path, errno: rc) }
        return pid
    }

    private static func mergedEnvironment(_ environment: [String: String]) -> [String] {
        var merged: [String: String] = [:]
        var p = environ
        while let entry = p.pointee {
            let text = String(cString: entry)
            if let eq = text.firstIndex(of: "=") { merged[String(text[..<eq])] = String(text[text.index(after: eq)...]) }
            p += 1
        }
        merged.merge(environment) { $1 }
        return merged.keys.sorted().map { "\($0)=\(merged[$0]!)" }
    }

    /// Waits for `pid`; at the time limit its whole group gets SIGTERM, and SIGKILL 2 s later.
    private func wait(_ pid: pid_t, group: pid_t) -> (status: Int32, timedOut: Bool) {
        var stopper = GroupStopper(group: group, timeout: timeout)
        var status: Int32 = 0
        while true {
            let r = waitpid(pid, &status, WNOHANG)
            if r == pid || (r < 0 && errno != EINTR) { break }
            stopper.check()
            usleep(20_000)
        }
        stopper.finish()
        return (status, stopper.timedOut)
    }

    private static func tail(_ fd: FileDescriptor, limit: Int64) throws -> ([UInt8], Bool) {
        let size = try fd.size()
        let start = max(0, size - limit)
        var buffer = [UInt8](repeating: 0, count: Int(size - start))
        let n = try buffer.withUnsafeMutableBytes { try fd.readFully(into: $0, fromOffset: start) }
        return (Array(buffer.prefix(n)), start > 0)
    }
}

/// A process group's time limit: SIGTERM to the whole group at the deadline, SIGKILL 2 s later,
/// and SIGKILL once more when it ended late, so nothing it started outlives it.
struct GroupStopper {
    let group: pid_t
    let deadline: Double
    private(set) var timedOut = false
    private var killAt: Double?

    init(group: pid_t, timeout: Double) {
        self.group = group
        deadline = Clock.now() + timeout
    }

    /// Called while waiting: signals the group when its time has come.
    mutating func check() {
        let now = Clock.now()
        if !timedOut && now >= deadline {
            timedOut = true
            kill(-group, SIGTERM)
            killAt = now + 2
        } else if let k = killAt, now >= k {
            kill(-group, SIGKILL)
            killAt = nil
        }
    }

    /// What a timed-out process left running in its group does not outlive it.
    func finish() { if timedOut { kill(-group, SIGKILL) } }
}
