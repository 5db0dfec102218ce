/// Compressed formats recognised by their first bytes, so they are not compressed again.
public enum Compression: Sendable, Equatable {
    case gzip, zstd, xz, bzip2, zip

    public static let headLength = 6

    public static func detect(_ head: [UInt8]) -> Compression? {
        func starts(_ magic: [UInt8]) -> Bool { head.count >= magic.count && Array(head.prefix(magic.count)) == magic }
        if starts([0x1F, 0x8B]) { return .gzip }
        if starts([0x28, 0xB5, 0x2F, 0xFD]) { return .zstd }
        if starts([0xFD, 0x37, 0x7A, 0x58, 0x5A, 0x00]) { return .xz }
        if starts([0x42, 0x5A, 0x68]) { return .bzip2 }
        if starts([0x50, 0x4B, 0x03, 0x04]) { return .zip }
        return nil
    }
}
