internal import CZstd
import Support
import SystemIO

/// A zstd error with the library's own words.
func zstdCheck(_ code: Int, _ what: String) throws -> Int {
    if ZSTD_isError(code) != 0 {
        throw ToolError.refused("\(what): \(String(cString: ZSTD_getErrorName(code)))")
    }
    return code
}

/// Compression settings. Output is the same bytes for the same input and settings, whatever
/// the machine: zstd's multi-threaded format depends only on whether workers are used, not how many.
public struct ZstdSettings: Sendable, Equatable {
    public var level: Int32
    /// Used at any worker count; 0 keeps compression on the calling thread.
    public var multithreaded: Bool
    /// Caps the window (and so the decoder's memory): 2^windowLog bytes.
    public var windowLog: Int32?
    public var longDistanceMatching: Bool

    public init(level: Int32, multithreaded: Bool = false, windowLog: Int32? = nil, longDistanceMatching: Bool = false) {
        self.level = level
        self.multithreaded = multithreaded
        self.windowLog = windowLog
        self.longDistanceMatching = longDistanceMatching
    }

    public static let maxLevel = Int32(ZSTD_maxCLevel())
}

/// A compression context kept from frame to frame, so zstd reuses its tables and buffers
/// instead of allocating tens of MiB for each frame (a segmented patch makes one or two frames a
/// segment). Use it for one frame at a time. The C functions are `ZSTD_createCCtx` and `ZSTD_CCtx_reset`.
public final class ZstdContext {
    fileprivate let ctx: OpaquePointer

    public init() throws {
        guard let c = ZSTD_createCCtx() else { throw ToolError.environment("out of memory creating a zstd compressor") }
        ctx = c
    }

    deinit { ZSTD_freeCCtx(ctx) }
}

/// Bytes a frame is made against or decoded with (its zstd prefix, "patch-from"), in one buffer
/// filled in place and reused from frame to frame: no array to allocate and zero for each.
/// A frame keeps it alive, and its bytes must not change until the frame is finished.
public final class ZstdReference {
    public let capacity: Int
    public private(set) var count = 0
    fileprivate let buffer: UnsafeMutableRawBufferPointer

    public init(capacity: Int) {
        self.capacity = capacity
        buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: max(capacity, 1), alignment: 64)
    }

    deinit { buffer.deallocate() }

    public func removeAll() { count = 0 }

    /// Appends up to `n` bytes (at most the capacity left), written by `fill` into the space it is
    /// handed, which returns how many it wrote. Returns that count.
    @discardableResult
    public func append(_ n: Int, _ fill: (UnsafeMutableRawBufferPointer) throws -> Int) rethrows -> Int {
        let room = UnsafeMutableRawBufferPointer(rebasing: buffer[count ..< count + min(n, capacity - count)])
        let written = min(try fill(room), room.count)
        count += written
        return written
    }

    fileprivate var bytes: UnsafeRawBufferPointer { UnsafeRawBufferPointer(rebasing: buffer[..<count]) }
}

/// Streaming compressor: feed chunks, get compressed chunks through `sink`, then `finish`.
/// The C functions are `ZSTD_compressStream2` with `ZSTD_e_continue` and `ZSTD_e_end`.
public final class ZstdCompressor {
    private let ctx: OpaquePointer
    /// The context this frame borrows (it then frees nothing); nil when it owns `ctx`.
    private let context: ZstdContext?
    private var out: UnsafeMutableRawBufferPointer
    private let sink: (UnsafeRawBufferPointer) throws -> Void

    /// A reference the frame is compressed against ("patch-from"); kept alive until `finish`.
    private let prefix: [UInt8]?
    private let reference: ZstdReference?

    /// - Parameter prefix: the previous version of the data; the frame then holds only what
    ///   differs, and stock `zstd -d --patch-from=BASE` decodes it. The C function is `ZSTD_CCtx_refPrefix`.
    /// - Parameter reference: the same, in a reusable buffer (given instead of `prefix`).
    /// - Parameter context: a context to borrow, reset here; nil makes one for this frame.
    public init(_ settings: ZstdSettings, pledgedSize: Int64? = nil, prefix: [UInt8]? = nil, reference: ZstdReference? = nil,
                context: ZstdContext? = nil, sink: @escaping (UnsafeRawBufferPointer) throws -> Void) throws {
        self.prefix = prefix
        self.reference = reference
        self.context = context
        if let context {
            ZSTD_CCtx_reset(context.ctx, ZSTD_reset_session_and_parameters)
            ctx = context.ctx
        } else {
            guard let c = ZSTD_createCCtx() else { throw ToolError.environment("out of memory creating a zstd compressor") }
            ctx = c
        }
        let c = ctx
        out = UnsafeMutableRawBufferPointer.allocate(byteCount: ZSTD_CStreamOutSize(), alignment: 16)
        self.sink = sink
        do {
            _ = try zstdCheck(ZSTD_CCtx_setParameter(c, ZSTD_c_compressionLevel, settings.level), "zstd level \(settings.level)")
            _ = try zstdCheck(ZSTD_CCtx_setParameter(c, ZSTD_c_checksumFlag, 1), "zstd checksum")
            if let w = settings.windowLog {
                _ = try zstdCheck(ZSTD_CCtx_setParameter(c, ZSTD_c_windowLog, w), "zstd window")
            }
            if settings.longDistanceMatching {
                _ = try zstdCheck(ZSTD_CCtx_setParameter(c, ZSTD_c_enableLongDistanceMatching, 1), "zstd long mode")
            }
            if settings.level >= 17 {
                // Level 19's default match tables are 80 MiB; these sizes keep the compressor near
                // 35 MiB for 0.6% more output on advisory text (measured on the PyPA snapshot).
                _ = try zstdCheck(ZSTD_CCtx_setParameter(c, ZSTD_c_chainLog, 22), "zstd chain log")
                _ = try zstdCheck(ZSTD_CCtx_setParameter(c, ZSTD_c_hashLog, 21), "zstd hash log")
            }
            if settings.multithreaded {
                let cores = Int32(min(CurrentProcess.processorCount, 16))
                // Fails only when libzstd was built without threads; then one thread it is.
                if ZSTD_isError(ZSTD_CCtx_setParameter(c, ZSTD_c_nbWorkers, cores)) == 0 {
                    // Jobs of 4 MiB bound the buffers in flight (65 -> 36 MB on a 2 GiB file) at
                    // the same ratio. A fixed size, so output does not depend on the machine.
                    _ = try zstdCheck(ZSTD_CCtx_setParameter(c, ZSTD_c_jobSize, 4 << 20), "zstd job size")
                }
            }
            if let prefix, !prefix.isEmpty {
                // The prefix pointer must outlive the frame: `self.prefix` owns the bytes.
                _ = try zstdCheck(self.prefix!.withUnsafeBytes { ZSTD_CCtx_refPrefix(c, $0.baseAddress, $0.count) }, "zstd reference")
            } else if let reference, reference.count > 0 {
                // `self.reference` keeps the buffer alive for the frame.
                _ = try zstdCheck(ZSTD_CCtx_refPrefix(c, reference.bytes.baseAddress, reference.count), "zstd reference")
            }
            if let size = pledgedSize {
                // Lets zstd size its tables to the input: less memory for small packs.
                _ = try zstdCheck(ZSTD_CCtx_setPledgedSrcSize(c, UInt64(size)), "zstd pledged size")
            }
        } catch {
            if context == nil { ZSTD_freeCCtx(c) }
            out.deallocate()
            throw error
        }
    }

    deinit {
        if context == nil {
            ZSTD_freeCCtx(ctx)
        } else {
            // The prefix is referenced for this frame only; a frame left unfinished must not pass it on.
            ZSTD_CCtx_reset(ctx, ZSTD_reset_session_and_parameters)
        }
        out.deallocate()
    }

    public func write(_ bytes: UnsafeRawBufferPointer) throws {
        var input = ZSTD_inBuffer(src: bytes.baseAddress, size: bytes.count, pos: 0)
        while input.pos < input.size {
            try step(&input, ZSTD_e_continue)
        }
    }

    public func write(_ bytes: [UInt8]) throws {
        try bytes.withUnsafeBytes { try write($0) }
    }

    /// Ends the frame; every byte has gone to the sink when this returns.
    public func finish() throws {
        var input = ZSTD_inBuffer(src: nil, size: 0, pos: 0)
        while try step(&input, ZSTD_e_end) != 0 {}
    }

    @discardableResult
    private func step(_ input: inout ZSTD_inBuffer, _ mode: ZSTD_EndDirective) throws -> Int {
        var output = ZSTD_outBuffer(dst: out.baseAddress, size: out.count, pos: 0)
        let remaining = try zstdCheck(ZSTD_compressStream2(ctx, &output, &input, mode), "zstd compression failed")
        if output.pos > 0 { try sink(UnsafeRawBufferPointer(rebasing: out[..<output.pos])) }
        return remaining
    }
}

/// Streaming decompressor with a hard cap on output, so a small input cannot expand without
/// bound, and a cap on the window, so a hostile frame cannot demand gigabytes of memory.
/// The corresponding C function is `ZSTD_decompressStream`.
public final class ZstdDecompressor {
    private let ctx: OpaquePointer
    private var out: UnsafeMutableRawBufferPointer
    private let limit: Int64
    public private(set) var produced: Int64 = 0
    private var frameOpen = false
    private let sink: (UnsafeRawBufferPointer) throws -> Void
    private let what: String

    /// - Parameters:
    ///   - limit: the most output allowed; more is an error naming `what`.
    ///   - maxWindowLog: frames needing a larger window are refused (27 = 128 MiB).
    private let prefix: [UInt8]?
    private let reference: ZstdReference?

    public init(_ what: String, limit: Int64, maxWindowLog: Int32 = 27, prefix: [UInt8]? = nil, reference: ZstdReference? = nil,
                sink: @escaping (UnsafeRawBufferPointer) throws -> Void) throws {
        self.prefix = prefix
        self.reference = reference
        guard let d = ZSTD_createDCtx() else { throw ToolError.environment("out of memory creating a zstd decompressor") }
        ctx = d
        self.limit = limit
        self.sink = sink
        self.what = what
        out = UnsafeMutableRawBufferPointer.allocate(byteCount: ZSTD_DStreamOutSize(), alignment: 16)
        _ = ZSTD_DCtx_setParameter(d, ZSTD_d_windowLogMax, maxWindowLog)
        if let prefix, !prefix.isEmpty {
            // Valid for one frame, which is how patches are stored. `ZSTD_DCtx_refPrefix`.
            _ = try zstdCheck(self.prefix!.withUnsafeBytes { ZSTD_DCtx_refPrefix(d, $0.baseAddress, $0.count) }, "zstd reference")
        } else if let reference, reference.count > 0 {
            _ = try zstdCheck(ZSTD_DCtx_refPrefix(d, reference.bytes.baseAddress, reference.count), "zstd reference")
        }
    }

    deinit {
        ZSTD_freeDCtx(ctx)
        out.deallocate()
    }

    public func write(_ bytes: UnsafeRawBufferPointer) throws {
        var input = ZSTD_inBuffer(src: bytes.baseAddress, size: bytes.count, pos: 0)
        while input.pos < input.size {
            var output = ZSTD_outBuffer(dst: out.baseAddress, size: out.count, pos: 0)
            let r = ZSTD_decompressStream(ctx, &output, &input)
            if ZSTD_isError(r) != 0 {
                throw ToolError.refused("\(what) is damaged: zstd says \(String(cString: ZSTD_getErrorName(r)))")
            }
            frameOpen = r != 0
            try emit(output.pos)
        }
        // Drain output the decoder still holds even though all input was consumed.
        while frameOpen {
            var output = ZSTD_outBuffer(dst: out.baseAddress, size: out.count, pos: 0)
            var empty = ZSTD_inBuffer(src: nil, size: 0, pos: 0)
            let r = ZSTD_decompressStream(ctx, &output, &empty)
            if ZSTD_isError(r) != 0 {
                throw ToolError.refused("\(what) is damaged: zstd says \(String(cString: ZSTD_getErrorName(r)))")
            }
            frameOpen = r != 0
            if output.pos == 0 { break }
            try emit(output.pos)
        }
    }

    private func emit(_ n: Int) throws {
        guard n > 0 else { return }
        produced += Int64(n)
        if produced > limit {
            throw ToolError.refused("\(what) expands past its declared size of \(limit) bytes")
        }
        try sink(UnsafeRawBufferPointer(rebasing: out[..<n]))
    }

    /// Throws if the input ended inside a frame (a truncated stream).
    public func finish() throws {
        if frameOpen { throw ToolError.refused("\(what) is truncated: the zstd frame does not end") }
    }
}
