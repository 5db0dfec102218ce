/// How a command ended, as scripts see it. README documents these numbers.
public enum ExitStatus: Int32, Sendable {
    case ok = 0
    /// The input was read but refused: bad signature, unknown key, digest mismatch, replay.
    case refused = 1
    /// The command line or the spec is wrong.
    case usage = 2
    /// The environment failed us: I/O, no space, a lock held, a network error.
    case environment = 3
    /// The mirror's current data is stale: older than its maximum age, or past its expiry.
    case stale = 4
    /// The change was made (the new version is current), but a hook configured on the mirror failed.
    case hookFailed = 5
}

/// The one error type that reaches a user: what failed, on which object, and why.
///
/// Lower layers throw their own small errors; they are mapped to this at module edges so a
/// person always gets one sentence and a script always gets a stable exit code.
///
/// `status` is the kind (what a script sees), `message` the sentence (what a person sees) and
/// `cause` why, for code: the errno of the system call that failed, so that callers decide on
/// `e.errno == .fileTooLarge` instead of on the wording of a message.
public struct ToolError: Error, CustomStringConvertible, Sendable {
    public var status: ExitStatus
    public var message: String
    public var cause: Errno?

    public init(_ status: ExitStatus, _ message: String, cause: Errno? = nil) {
        self.status = status
        self.message = message
        self.cause = cause
    }

    /// The errno of the failed system call, when a system call failed.
    public var errno: Errno? { cause }

    /// The same error with text added to its message; the status and the cause are kept.
    public func appending(_ text: String) -> ToolError {
        ToolError(status, message + text, cause: cause)
    }

    public static func refused(_ message: String) -> ToolError { ToolError(.refused, message) }
    public static func usage(_ message: String) -> ToolError { ToolError(.usage, message) }
    public static func environment(_ message: String) -> ToolError { ToolError(.environment, message) }

    public var description: String { message }
}

/// An errno value: why a system call failed. Names for the values callers test are in
/// `SystemIO` (`Errno.fileTooLarge`); this type holds no libc so that errors can carry it.
public struct Errno: RawRepresentable, Hashable, Sendable {
    public var rawValue: Int32
    public init(rawValue: Int32) { self.rawValue = rawValue }
}

extension ToolError {
    /// Text that came from outside (an archive entry's name, a path or a key in a bundle) as it
    /// may appear in a message: control and bidirectional-override characters escaped, and cut
    /// after `limit` bytes, so a hostile name can neither break the one-line error nor bury it.
    public static func shown(_ text: String, limit: Int = 160) -> String {
        var out = ""
        var bytes = 0
        for u in text.unicodeScalars {
            let piece: String
            switch u.value {
            case 0x0A: piece = "\\n"
            case 0x0D: piece = "\\r"
            case 0x09: piece = "\\t"
            case 0x00: piece = "\\0"
            case _ where OutsideText.isUnsafe(u):
                piece = "\\u{\(String(u.value, radix: 16))}"
            default: piece = String(u)
            }
            if bytes + piece.utf8.count > limit {
                return out + "...(\(text.utf8.count) bytes)"
            }
            out += piece
            bytes += piece.utf8.count
        }
        return out
    }
}
