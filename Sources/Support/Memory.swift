internal import CSystem

public enum Memory {
    /// Makes glibc hand allocations of `bytes` or more straight to mmap, and back on free.
    ///
    /// glibc raises its mmap threshold after the first large free, so later multi-megabyte
    /// buffers come from per-thread arenas and stay resident after they are freed. A program
    /// that streams through such buffers on several threads keeps its peak bounded with a fixed
    /// threshold. The corresponding C function is `mallopt(M_MMAP_THRESHOLD, bytes)`.
    public static func returnLargeBuffersOnFree(from bytes: Int32 = 1 << 20) {
        _ = mallopt(M_MMAP_THRESHOLD, bytes)
    }
}
