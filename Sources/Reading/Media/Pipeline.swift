import Support
import SystemIO

/// Sees every chunk that passes through a `ChunkPipeline`, in order, on a thread of its own.
/// `tag` is what the producer attached to the chunk (for example, the volume it belongs to).
public protocol ChunkConsumer: AnyObject, Sendable {
    func consume(_ chunk: UnsafeRawBufferPointer, tag: Int)
}

/// Bytes pass through a small ring of buffers: the calling thread reads and writes them, and each
/// consumer (a hash, usually) works on them at the same time on its own thread.
///
/// Hashing a volume set means two SHA-256 passes over every byte (the bundle's and the volume's).
/// Each runs at about 2 GB/s on one core here, about what the disk writes, so done in line they
/// would halve the speed; beside the I/O, on their own cores, they cost nothing the disk does not.
/// Memory is `slots * chunkSize` whatever the size of the data.
public final class ChunkPipeline: @unchecked Sendable {
    public static let defaultChunkSize = 1 << 20

    public let chunkSize: Int
    private let slotCount: Int
    private let buffers: [UnsafeMutableRawBufferPointer]
    private var lengths: [Int]
    private var tags: [Int]
    private let consumers: [ChunkConsumer]
    private var consumed: [Int]
    private var published = 0
    private var noMore = false
    private var stopped = false
    private var threads: [JoinableThread] = []
    private let changed = Condition()

    public init(consumers: [ChunkConsumer], slots: Int = 8, chunkSize: Int = ChunkPipeline.defaultChunkSize) throws {
        precondition(slots >= 2 && chunkSize % 4096 == 0)
        self.chunkSize = chunkSize
        slotCount = slots
        // Buffers fit for O_DIRECT (aligned, on huge pages where possible): the writer sends them
        // to the device as they are.
        buffers = (0..<slots).map { _ in Memory.allocateIOBuffer(byteCount: chunkSize) }
        lengths = Array(repeating: 0, count: slots)
        tags = Array(repeating: 0, count: slots)
        self.consumers = consumers
        consumed = Array(repeating: 0, count: consumers.count)
        for i in consumers.indices {
            threads.append(try JoinableThread("a hashing thread") { [self] in self.run(consumer: i) })
        }
    }

    deinit {
        stop()
        for b in buffers { b.deallocate() }
    }

    private func locked<T>(_ body: () -> T) -> T { changed.locked(body) }

    /// The buffer to fill with the next chunk; waits until every consumer is done with it.
    public func acquire() -> UnsafeMutableRawBufferPointer {
        locked {
            // The slot's previous chunk is number `published - slotCount`: all consumers must be past it.
            while consumed.min() ?? published < published - slotCount + 1 { changed.wait() }
            return buffers[published % slotCount]
        }
    }

    /// Hands the first `count` bytes of the buffer from `acquire()` to the consumers. The caller
    /// may go on reading the buffer (to write it out) until its next `acquire()`.
    public func publish(_ count: Int, tag: Int) {
        locked {
            lengths[published % slotCount] = count
            tags[published % slotCount] = tag
            published += 1
            changed.broadcast()
        }
    }

    /// Waits until the consumers have seen every published chunk. Their results are safe to read after.
    public func finish() {
        locked {
            noMore = true
            changed.broadcast()
        }
        join()
    }

    /// Stops the consumers without waiting for the rest (after an error).
    public func stop() {
        locked {
            stopped = true
            changed.broadcast()
        }
        join()
    }

    private func join() {
        for t in threads { t.join() }
        threads = []
    }

    private func run(consumer c: Int) {
        while true {
            var chunk: (UnsafeRawBufferPointer, Int)?
            locked {
                while consumed[c] == published && !noMore && !stopped { changed.wait() }
                if stopped || consumed[c] == published { return }
                let slot = consumed[c] % slotCount
                chunk = (UnsafeRawBufferPointer(rebasing: buffers[slot][..<lengths[slot]]), tags[slot])
            }
            guard let (bytes, tag) = chunk else { return }
            consumers[c].consume(bytes, tag: tag)
            locked {
                consumed[c] += 1
                changed.broadcast()
            }
        }
    }
}

/// SHA-256 of everything that passes.
public final class DigestConsumer: ChunkConsumer, @unchecked Sendable {
    public private(set) var stream = SHA256Stream()
    public init() {}
    public func consume(_ chunk: UnsafeRawBufferPointer, tag: Int) { stream.update(chunk) }
    /// Back to an earlier state (read `stream` then), to take back bytes that turned out bad.
    /// Only between pipelines, when no thread consumes.
    public func rewind(to earlier: SHA256Stream) { stream = earlier }
}

/// Payload digests (see `VolumeLabel.payloadDigest`), hashed on several threads: lane j hashes
/// the pieces whose index within their tag is j modulo the number of lanes. Chunks must start on
/// a piece boundary and hold whole pieces (the last of a tag may end short), and each tag must be
/// one contiguous run of chunks.
public final class PieceDigests: @unchecked Sendable {
    final class Lane: ChunkConsumer, @unchecked Sendable {
        let index: Int
        let count: Int
        var pieces: [Int: Int] = [:]
        var digests: [Int: [SHA256Digest]] = [:]

        init(index: Int, count: Int) {
            self.index = index
            self.count = count
        }

        func consume(_ chunk: UnsafeRawBufferPointer, tag: Int) {
            var at = 0
            var i = pieces[tag, default: 0]
            while at < chunk.count {
                let n = min(VolumeLabel.pieceSize, chunk.count - at)
                if i % count == index {
                    var piece = SHA256Stream()
                    piece.update(UnsafeRawBufferPointer(rebasing: chunk[at..<at + n]))
                    digests[tag, default: []].append(piece.finalize())
                }
                i += 1
                at += n
            }
            pieces[tag] = i
        }
    }

    private let laneObjects: [Lane]
    /// The consumers to give a `ChunkPipeline`.
    public var lanes: [ChunkConsumer] { laneObjects }

    public init(lanes: Int = 2) {
        laneObjects = (0..<lanes).map { Lane(index: $0, count: lanes) }
    }

    /// The pieces' digests of `tag`, in order. Read only after the pipeline has finished.
    public func pieces(tag: Int) -> [SHA256Digest] {
        let n = laneObjects[0].pieces[tag] ?? 0
        return (0..<n).map { i in laneObjects[i % laneObjects.count].digests[tag]![i / laneObjects.count] }
    }

    public func payloadDigest(tag: Int) -> SHA256Digest { VolumeLabel.payloadDigest(pieces: pieces(tag: tag)) }
}

/// The same payload digest, computed on the calling thread from bytes in any slicing.
public struct PieceDigester {
    private var current = SHA256Stream()
    private var pieces: [SHA256Digest] = []
    public private(set) var count: Int64 = 0

    public init() {}

    public mutating func update(_ bytes: UnsafeRawBufferPointer) {
        var rest = bytes
        while !rest.isEmpty {
            let room = VolumeLabel.pieceSize - Int(current.count)
            let take = min(room, rest.count)
            current.update(UnsafeRawBufferPointer(rebasing: rest[..<take]))
            count += Int64(take)
            if take == room {
                pieces.append(current.finalize())
                current = SHA256Stream()
            }
            rest = UnsafeRawBufferPointer(rebasing: rest[take...])
        }
    }

    public func finalize() -> SHA256Digest {
        VolumeLabel.payloadDigest(pieces: current.count > 0 ? pieces + [current.finalize()] : pieces)
    }
}
