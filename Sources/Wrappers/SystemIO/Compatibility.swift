#if canImport(Glibc)
import Glibc
#endif

// TEMPORARY, for the merge of issue 11: the old spellings that files outside this module still
// use until they are converted (the list is in the SystemIO report). Delete this file once
// `grep -rln "import Glibc\|\.raw\b" Sources` finds only Sources/Wrappers/SystemIO.
extension FileDescriptor {
    public var raw: Int32 { descriptor }

    public convenience init(adopting raw: Int32, path: String, compatibility: Void = ()) {
        self.init(adopting: raw, path: path)
    }

    public static func open(_ path: String, flags: Int32, mode: UInt32 = 0o644) throws -> FileDescriptor {
        let fd = Glibc.open(path, flags | O_CLOEXEC, mode_t(mode))
        guard fd >= 0 else { throw systemError("open", path) }
        return FileDescriptor(adopting: fd, path: path)
    }
}
