import Support
internal import CSystem
#if canImport(Glibc)
import Glibc
#endif

extension ChildProcess {
    /// Runs the program at `path` with `arguments` (no shell: nothing in them is interpreted),
    /// `input` on its standard input and its standard output read through a pipe, for a program
    /// that answers with a secret (a credential helper): the answer never touches the disk.
    /// Standard error goes to /dev/null. Past `outputLimit` bytes the rest is read and dropped
    /// (`truncated`); at `timeout` seconds its process group is stopped, as `run` does.
    ///
    /// `input` must fit a pipe's buffer (at most 4 KiB): it is written before the program starts,
    /// so a program that never reads cannot block us, nor an early exit raise SIGPIPE.
    /// The corresponding C functions are `pipe2`, `posix_spawn`, `poll` and `waitpid`.
    public static func capture(_ path: String, arguments: [String], input: [UInt8], environment: [String: String],
                               timeout: Double, outputLimit: Int) throws -> Outcome {
        guard input.count <= 4096 else { throw ToolError.usage("input of \(input.count) bytes for '\(path)' is more than a pipe holds") }
        let started = Clock.now()
        let stdin = try Pipe()
        let stdout = try Pipe()
        defer { stdin.closeBoth(); stdout.closeBoth() }
        try stdin.write(input)
        stdin.closeWrite()
        let pid = try spawn(path, [path] + arguments, environment: environment) { actions in
            posix_spawn_file_actions_adddup2(&actions, stdin.read, 0)
            posix_spawn_file_actions_adddup2(&actions, stdout.write, 1)
            posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0)
        }
        stdin.closeRead()
        stdout.closeWrite()
        var stopper = GroupStopper(group: pid, timeout: timeout)
        var output: [UInt8] = []
        var truncated = false
        var status: Int32 = 0
        var open = true
        var exited = false
        while !exited || open {
            if open {
                open = stdout.drain(into: &output, limit: outputLimit, truncated: &truncated, waitMilliseconds: 20)
            } else {
                usleep(20_000)
            }
            if !exited {
                let r = waitpid(pid, &status, WNOHANG)
                exited = r == pid || (r < 0 && errno != EINTR)
            }
            stopper.check()
            // A program that exited but left a child holding the pipe: its group goes at the deadline.
            if stopper.timedOut && exited { stopper.finish() }
        }
        stopper.finish()
        let normal = status & 0x7f == 0
        return Outcome(exitCode: normal && !stopper.timedOut ? (status >> 8) & 0xff : nil, signal: normal ? nil : status & 0x7f,
                       timedOut: stopper.timedOut, output: output, truncated: truncated, seconds: Clock.now() - started)
    }

    /// The first executable regular file named `name` in the colon-separated `searchPath`, as
    /// execvp would find it; nil when there is none. Names with a slash are not looked up.
    public static func find(_ name: String, searchPath: String) -> String? {
        guard !name.isEmpty, !name.contains("/") else { return nil }
        for dir in searchPath.split(separator: ":", omittingEmptySubsequences: false) {
            let candidate = (dir.isEmpty ? "." : String(dir)) + "/" + name
            // stat, not lstat: helpers are often links (/usr/bin/docker-credential-pass -> ...).
            var st = stat()
            guard stat(candidate, &st) == 0, st.st_mode & S_IFMT == S_IFREG else { continue }
            if access(candidate, X_OK) == 0 { return candidate }
        }
        return nil
    }
}

/// A pipe's two descriptors (close-on-exec in this process), each closed once.
private final class Pipe {
    private(set) var read: Int32 = -1
    private(set) var write: Int32 = -1

    init() throws {
        var fds: [Int32] = [-1, -1]
        guard pipe2(&fds, O_CLOEXEC) == 0 else { throw systemError("make", "a pipe") }
        read = fds[0]
        write = fds[1]
    }

    deinit { closeBoth() }

    func write(_ bytes: [UInt8]) throws {
        var done = 0
        while done < bytes.count {
            let n = bytes.withUnsafeBytes { Glibc.write(write, $0.baseAddress! + done, bytes.count - done) }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { throw systemError("write to", "a pipe") }
            done += n
        }
    }

    /// Reads what is there, waiting up to `waitMilliseconds` for it; false at end of file.
    /// Bytes past `limit` are read and dropped.
    func drain(into output: inout [UInt8], limit: Int, truncated: inout Bool, waitMilliseconds: Int32) -> Bool {
        var p = pollfd(fd: read, events: Int16(POLLIN), revents: 0)
        let ready = poll(&p, 1, waitMilliseconds)
        if ready < 0 { return errno == EINTR }
        if ready == 0 { return true }
        var buffer = [UInt8](repeating: 0, count: 16 << 10)
        let n = buffer.withUnsafeMutableBytes { Glibc.read(read, $0.baseAddress, $0.count) }
        if n < 0 { return errno == EINTR || errno == EAGAIN }
        if n == 0 { return false }
        let room = max(0, limit - output.count)
        output += buffer.prefix(min(n, room))
        if n > room { truncated = true }
        return true
    }

    func closeRead() { if read >= 0 { _ = Glibc.close(read); read = -1 } }
    func closeWrite() { if write >= 0 { _ = Glibc.close(write); write = -1 } }
    func closeBoth() { closeRead(); closeWrite() }
}
