import Crypto

/// A SHA-256 digest. swift-crypto's implementation uses the CPU's SHA instructions through
/// BoringSSL (about 1.5 GB/s here, against libsodium's portable 0.4 GB/s), and OCI needs SHA-256.
///
/// Held inline as four big-endian words, not as an array: a listing of a million files holds a
/// million digests, and an array would cost each one a heap allocation of twice its size.
public struct SHA256Digest: Hashable, Comparable, Sendable, CustomStringConvertible {
    private let w0, w1, w2, w3: UInt64

    public init?(bytes: [UInt8]) {
        guard bytes.count == 32 else { return nil }
        func word(_ k: Int) -> UInt64 { bytes[k * 8..<k * 8 + 8].reduce(0) { $0 << 8 | UInt64($1) } }
        (w0, w1, w2, w3) = (word(0), word(1), word(2), word(3))
    }

    /// Parses 64 lower-case hex digits; anything else is not a digest.
    public init?(hex: String) {
        guard hex.utf8.count == 64, let b = Hex.decode(hex), hex == hex.lowercased() else { return nil }
        self.init(bytes: b)
    }

    public var bytes: [UInt8] {
        [w0, w1, w2, w3].flatMap { w in (0..<8).map { UInt8(truncatingIfNeeded: w >> (56 - 8 * $0)) } }
    }

    public var hex: String { Hex.encode(bytes) }
    public var description: String { hex }
    // Big-endian words compare in the order of the bytes.
    public static func < (a: Self, b: Self) -> Bool { (a.w0, a.w1, a.w2, a.w3) < (b.w0, b.w1, b.w2, b.w3) }

    public static func of(_ data: [UInt8]) -> SHA256Digest {
        SHA256Digest(bytes: Array(SHA256.hash(data: data)))!
    }

    public static func of(_ bytes: UnsafeRawBufferPointer) -> SHA256Digest {
        var hasher = SHA256()
        hasher.update(bufferPointer: bytes)
        return SHA256Digest(bytes: Array(hasher.finalize()))!
    }
}

/// A set of digests held as one sorted array: 32 bytes each, where a `Set` of a large tree's
/// digests takes about twice that in its table.
public struct SortedDigests: Sendable {
    private let sorted: [SHA256Digest]

    public init<S: Sequence>(_ digests: S) where S.Element == SHA256Digest { sorted = digests.sorted() }

    public func contains(_ d: SHA256Digest) -> Bool {
        let lo = sorted.lowerBound { $0 < d }
        return lo < sorted.count && sorted[lo] == d
    }
}

/// Hashes bytes as they pass.
public struct SHA256Stream {
    private var hasher = SHA256()
    public private(set) var count: Int64 = 0

    public init() {}

    public mutating func update(_ bytes: UnsafeRawBufferPointer) {
        hasher.update(bufferPointer: bytes)
        count += Int64(bytes.count)
    }

    public mutating func update(_ bytes: [UInt8]) {
        bytes.withUnsafeBytes { update($0) }
    }

    public func finalize() -> SHA256Digest {
        SHA256Digest(bytes: Array(hasher.finalize()))!
    }
    // Hashing a file is in SystemIO (`SHA256Stream.file`): reading is system I/O.
}

public enum Hex {
    private static let digits = Array("0123456789abcdef".utf8)

    public static func encode(_ bytes: [UInt8]) -> String {
        var out = [UInt8]()
        out.reserveCapacity(bytes.count * 2)
        for b in bytes {
            out.append(digits[Int(b >> 4)])
            out.append(digits[Int(b & 0xf)])
        }
        return String(decoding: out, as: UTF8.self)
    }

    public static func decode(_ text: String) -> [UInt8]? {
        let u = Array(text.utf8)
        guard u.count % 2 == 0 else { return nil }
        func v(_ c: UInt8) -> UInt8? {
            switch c {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): return c - 48
            case UInt8(ascii: "a")...UInt8(ascii: "f"): return c - 87
            case UInt8(ascii: "A")...UInt8(ascii: "F"): return c - 55
            default: return nil
            }
        }
        var out = [UInt8]()
        out.reserveCapacity(u.count / 2)
        var i = 0
        while i < u.count {
            guard let hi = v(u[i]), let lo = v(u[i + 1]) else { return nil }
            out.append(hi << 4 | lo)
            i += 2
        }
        return out
    }
}
