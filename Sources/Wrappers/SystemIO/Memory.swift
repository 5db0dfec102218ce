internal import CSystem
#if canImport(Glibc)
import Glibc
#endif

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

    static let hugePageSize = 2 << 20

    /// A buffer for O_DIRECT transfers: 4 KiB aligned, and from 2 MiB up backed by huge pages
    /// where the kernel has them (transparent huge pages in `madvise` or `always` mode).
    ///
    /// An O_DIRECT write goes to the device as a list of the buffer's physical pages. In 4 KiB
    /// pages scattered over memory, one 4 MiB write is ~1,000 segments, which the block layer
    /// splits into several requests (virtio-blk takes 254 segments, many USB bridges fewer); in
    /// 2 MiB pages it is two segments and one request, and pinning the pages is cheaper too. On
    /// the benchmark VM this took `media write` from 0.6x to above 1x `dd bs=4M oflag=direct`.
    /// The advice must come before the first touch. Release with `deallocate()`.
    public static func allocateIOBuffer(byteCount: Int) -> UnsafeMutableRawBufferPointer {
        let huge = byteCount >= hugePageSize
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: byteCount, alignment: huge ? hugePageSize : 4096)
        // Only advice: without huge pages (THP "never", or none free) the buffer works as before.
        if huge { _ = madvise(buffer.baseAddress, byteCount, MADV_HUGEPAGE) }
        return buffer
    }
}
