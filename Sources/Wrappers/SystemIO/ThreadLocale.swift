import Support
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// C libraries convert text by the C locale, and a process that never calls `setlocale` runs in
/// "C", whose character set is ASCII: libarchive cannot convert a zip entry's UTF-8 name to it
/// and hands back an empty name. `withUTF8Characters` runs code with C.UTF-8's character set on
/// the calling thread only (`uselocale`), so no other thread sees its locale change.
public enum ThreadLocale {
    /// Made once and kept for the life of the process; nil where the system has no C.UTF-8.
    nonisolated(unsafe) private static let utf8: locale_t? = newlocale(LC_CTYPE_MASK, "C.UTF-8", nil)

    /// The corresponding C functions are `newlocale` and `uselocale`.
    public static func withUTF8Characters<T>(_ body: () throws -> T) rethrows -> T {
        guard let utf8 else { return try body() }
        let previous = uselocale(utf8)
        defer { uselocale(previous) }
        return try body()
    }
}
