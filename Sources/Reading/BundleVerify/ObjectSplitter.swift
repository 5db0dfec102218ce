import BundleFormat
import Support

/// Cuts a pack's decoded stream into its objects and hashes each as it passes: the objects
/// `objects` of the index, in order, each handed its exact byte count.
final class ObjectSplitter {
    private let index: BundleIndex
    private let objects: Range<Int>
    private let sink: ObjectSink
    private var next: Int
    private var remaining: Int64 = 0
    private var open = false
    private var hash = SHA256Stream()
    private(set) var digests: [SHA256Digest] = []

    init(index: BundleIndex, objects: Range<Int>, sink: ObjectSink) {
        self.index = index
        self.objects = objects
        self.sink = sink
        self.next = objects.lowerBound
    }

    /// Opens objects until one has bytes left to receive (empty objects end at once).
    private func openNext() throws -> Bool {
        while next < objects.upperBound {
            let size = index.objects[next].size
            try sink.begin(object: index.number(of: .object(next)), size: size)
            hash = SHA256Stream()
            if size == 0 {
                try endCurrent()
                continue
            }
            remaining = size
            open = true
            return true
        }
        return false
    }

    private func endCurrent() throws {
        let d = hash.finalize()
        try sink.end(object: index.number(of: .object(next)), sha256: d)
        digests.append(d)
        next += 1
        open = false
    }

    func feed(_ bytes: UnsafeRawBufferPointer) throws {
        var rest = bytes
        while !rest.isEmpty {
            if !open {
                guard try openNext() else { throw ToolError.refused("a pack holds more bytes than its objects") }
            }
            let n = Int(min(Int64(rest.count), remaining))
            let part = UnsafeRawBufferPointer(rebasing: rest[..<n])
            hash.update(part)
            try sink.write(part)
            remaining -= Int64(n)
            rest = UnsafeRawBufferPointer(rebasing: rest[n...])
            if remaining == 0 { try endCurrent() }
        }
    }

    /// Ends the pack: every object received all its bytes (trailing empty ones included).
    func close() throws {
        if !open { _ = try openNext() }
        guard !open else { throw ToolError.refused("a pack ends inside object \(next)") }
    }
}
