/// How a command ended, as scripts see it. README documents these numbers.
public enum ExitStatus: Int32, Sendable {
    case ok = 0
    /// The input was read but refused: bad signature, unknown key, digest mismatch, replay.
    case refused = 1
    /// The command line or the spec is wrong.
    case usage = 2
    /// The environment failed us: I/O, no space, a lock held, a network error.
    case environment = 3
}

/// The one error type that reaches a user: what failed, on which object, and why.
///
/// Lower layers throw their own small errors; they are mapped to this at module edges so a
/// person always gets one sentence and a script always gets a stable exit code.
public struct ToolError: Error, CustomStringConvertible, Sendable {
    public var status: ExitStatus
    public var message: String

    public init(_ status: ExitStatus, _ message: String) {
        self.status = status
        self.message = message
    }

    public static func refused(_ message: String) -> ToolError { ToolError(.refused, message) }
    public static func usage(_ message: String) -> ToolError { ToolError(.usage, message) }
    public static func environment(_ message: String) -> ToolError { ToolError(.environment, message) }

    public var description: String { message }
}
