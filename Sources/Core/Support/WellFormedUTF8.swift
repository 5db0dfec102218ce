/// Checking bytes from outside for UTF-8 in place.
public enum WellFormedUTF8 {
    /// Whether `p` is well-formed UTF-8, as `String(validating:)` judges it (no overlong forms,
    /// no surrogates, nothing past U+10FFFF), without copying a catalog into a String to find
    /// out. ASCII is passed 32 bytes at a time.
    public static func check(_ p: UnsafeBufferPointer<UInt8>) -> Bool {
        guard let base = UnsafeRawPointer(p.baseAddress) else { return true }
        var k = 0
        while k < p.count {
            // ASCII 32 bytes at a time (four words, one test), then 8.
            while p.count - k >= 32 {
                let w = base.loadUnaligned(fromByteOffset: k, as: UInt64.self) | base.loadUnaligned(fromByteOffset: k + 8, as: UInt64.self)
                    | base.loadUnaligned(fromByteOffset: k + 16, as: UInt64.self) | base.loadUnaligned(fromByteOffset: k + 24, as: UInt64.self)
                guard w & 0x8080_8080_8080_8080 == 0 else { break }
                k += 32
            }
            while p.count - k >= 8, base.loadUnaligned(fromByteOffset: k, as: UInt64.self) & 0x8080_8080_8080_8080 == 0 { k += 8 }
            guard k < p.count else { return true }
            let lead = p[k]
            if lead < 0x80 { k += 1; continue }
            // The length a lead byte announces, and the range its second byte must fall in.
            let (length, low, high): (Int, UInt8, UInt8)
            switch lead {
            case 0xC2...0xDF: (length, low, high) = (2, 0x80, 0xBF)
            case 0xE0: (length, low, high) = (3, 0xA0, 0xBF)
            case 0xED: (length, low, high) = (3, 0x80, 0x9F)
            case 0xE1...0xEF: (length, low, high) = (3, 0x80, 0xBF)
            case 0xF0: (length, low, high) = (4, 0x90, 0xBF)
            case 0xF1...0xF3: (length, low, high) = (4, 0x80, 0xBF)
            case 0xF4: (length, low, high) = (4, 0x80, 0x8F)
            default: return false
            }
            guard p.count - k >= length, p[k + 1] >= low, p[k + 1] <= high else { return false }
            for j in 2..<max(2, length) where p[k + j] & 0xC0 != 0x80 { return false }
            k += length
        }
        return true
    }
}
