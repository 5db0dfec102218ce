import Support
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The text of an errno value, for messages.
public func errnoText(_ code: Int32) -> String {
    String(cString: strerror(code))
}

/// Maps a failed system call on a path to a ToolError with the right exit status, carrying the
/// errno as its cause.
public func systemError(_ what: String, _ path: String, errno code: Int32 = errno) -> ToolError {
    let reason = code == ENOSPC ? "no space left on device" : errnoText(code)
    return ToolError(.environment, "cannot \(what) '\(path)': \(reason)", cause: Errno(rawValue: code))
}

/// Names for the errno values callers decide on, so that no caller needs libc's constants.
extension Errno {
    /// The errno of the calling thread's last failed system call.
    public static var current: Errno { Errno(rawValue: errno) }

    public static var noSuchFile: Errno { Errno(rawValue: ENOENT) }
    public static var exists: Errno { Errno(rawValue: EEXIST) }
    public static var invalidArgument: Errno { Errno(rawValue: EINVAL) }
    public static var inputOutput: Errno { Errno(rawValue: EIO) }
    /// EFBIG: the file system takes smaller files (FAT32: 4 GiB - 1).
    public static var fileTooLarge: Errno { Errno(rawValue: EFBIG) }
    public static var noSpace: Errno { Errno(rawValue: ENOSPC) }
    public static var wouldBlock: Errno { Errno(rawValue: EWOULDBLOCK) }
    public static var notSupported: Errno { Errno(rawValue: EOPNOTSUPP) }

    /// The text of the value ("File too large").
    public var text: String { errnoText(rawValue) }
}
