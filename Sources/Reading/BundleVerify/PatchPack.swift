import BundleFormat
import Support
import Zstd

/// A patch pack: one zstd frame per patch (the index's `patches`, in order), each decoded against
/// the base file it was made against, in memory bounded by the largest base file a builder will
/// patch (`BundleIndex.patchBaseLimit`).
final class PatchPack: PackDecoder {
    private let index: BundleIndex
    private let patches: Range<Int>
    private let sink: ObjectSink
    private let base: (SHA256Digest) throws -> [UInt8]
    private let what: String
    private var next: Int
    private var remaining: Int64 = 0
    private var decoder: ZstdDecompressor?
    private var hash = SHA256Stream()
    private var digests: [SHA256Digest] = []

    init(_ pack: PartRef, patches: Range<Int>, index: BundleIndex, sink: ObjectSink, base: @escaping (SHA256Digest) throws -> [UInt8]) {
        self.index = index
        self.patches = patches
        self.sink = sink
        self.base = base
        self.what = pack.path
        self.next = patches.lowerBound
    }

    private var item: Int { index.number(of: .patch(next)) }

    func feed(_ bytes: UnsafeRawBufferPointer) throws {
        var rest = bytes
        while !rest.isEmpty {
            if decoder == nil {
                guard next < patches.upperBound else { throw ToolError.refused("\(what) holds more bytes than its patches") }
                try beginNext()
            }
            let n = Int(min(Int64(rest.count), remaining))
            try decoder!.write(UnsafeRawBufferPointer(rebasing: rest[..<n]))
            remaining -= Int64(n)
            rest = UnsafeRawBufferPointer(rebasing: rest[n...])
            if remaining == 0 { try endCurrent() }
        }
    }

    /// Starts decoding patch `next` against its base file.
    private func beginNext() throws {
        let p = index.patches[next]
        let reference = try base(p.base)
        try sink.begin(object: item, size: p.size)
        hash = SHA256Stream()
        remaining = p.stored
        decoder = try ZstdDecompressor("patch \(next) in \(what)", limit: p.size, prefix: reference) { [unowned self] out in
            self.hash.update(out)
            try self.sink.write(out)
        }
    }

    private func endCurrent() throws {
        guard let d = decoder else { return }
        try d.finish()
        let p = index.patches[next]
        guard d.produced == p.size else { throw ToolError.refused("patch \(next) in \(what) gives \(d.produced) bytes, the index says \(p.size)") }
        let digest = hash.finalize()
        try sink.end(object: item, sha256: digest)
        digests.append(digest)
        decoder = nil
        next += 1
    }

    func finish() throws -> [SHA256Digest] {
        guard decoder == nil, next == patches.upperBound else { throw ToolError.refused("\(what) ends inside a patch") }
        return digests
    }
}
