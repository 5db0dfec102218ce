import Support

/// `--volume-size`: how large each file written to the medium may be.
public struct VolumeSize: Equatable, Sendable {
    /// The largest file the medium takes (the image's size with --iso), in bytes.
    public var bytes: Int64
    /// The medium's name when given by name ("dvd").
    public var medium: String?
    /// A disc's capacity rather than a file-system limit: without --iso, the burning tool adds
    /// its own file system, which `fileLimit` leaves room for.
    public var isDisc: Bool

    /// Named media: capacities of recordable discs (sectors x 2048), FAT32's largest file.
    public static let named: [(name: String, bytes: Int64, isDisc: Bool, what: String)] = [
        ("fat32", 4_294_967_295, false, "largest file FAT32 holds (4 GiB - 1)"),
        ("cd", 737_280_000, true, "CD-R, 80 minutes (360,000 sectors)"),
        ("dvd", 4_700_000_000, true, "DVD±R, 4.7 GB (below both DVD-R and DVD+R)"),
        ("dvd-dl", 8_543_666_176, true, "DVD+R DL, 8.5 GB"),
        ("bd25", 25_025_314_816, true, "BD-R single layer, 25 GB"),
        ("bd50", 50_050_629_632, true, "BD-R dual layer, 50 GB"),
    ]

    /// Smaller volumes would be mostly label and ISO structure.
    public static let minimum: Int64 = 1 << 20
    public static let maximum: Int64 = 1 << 50

    /// Room left on a disc for the file system a burning tool writes around a plain volume file
    /// (ISO 9660/UDF directories and descriptors take well under 1 MiB for a few files).
    public static let discFileSystemAllowance: Int64 = 4 << 20

    public static let usageHint = "give bytes (4294967295), a number with K, M, G or T (powers of 1024: 700M, 4G) or KB, MB, GB, TB (powers of 1000), or a medium: "
        + named.map(\.name).joined(separator: ", ")

    public init(bytes: Int64, medium: String? = nil, isDisc: Bool = false) {
        self.bytes = bytes
        self.medium = medium
        self.isDisc = isDisc
    }

    /// Parses "4G", "700M", "4700000000", "4.7GB"-style decimal units and medium names.
    public static func parse(_ text: String) throws -> VolumeSize {
        let t = text.trimmingSpaces.lowercased()
        if let m = named.first(where: { $0.name == t }) { return VolumeSize(bytes: m.bytes, medium: m.name, isDisc: m.isDisc) }
        let digits = t.prefix { $0.isASCII && ($0.isNumber || $0 == ".") }
        let unit = t.dropFirst(digits.count)
        let multipliers: [String: Int64] = ["": 1, "b": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40,
                                            "kib": 1 << 10, "mib": 1 << 20, "gib": 1 << 30, "tib": 1 << 40,
                                            "kb": 1_000, "mb": 1_000_000, "gb": 1_000_000_000, "tb": 1_000_000_000_000]
        func bad(_ why: String) -> ToolError { ToolError.usage("--volume-size '\(text)' \(why); \(usageHint)") }
        guard !digits.isEmpty, let mult = multipliers[String(unit)] else { throw bad("is not a size") }
        let value: Int64
        if digits.contains(".") {
            // Fractions only with a unit ("4.7GB"); bytes are whole.
            guard let v = Double(digits), v.isFinite, mult > 1 else { throw bad("is not a size") }
            let b = (v * Double(mult)).rounded(.down)
            guard b <= Double(maximum) else { throw bad("is too large") }
            value = Int64(b)
        } else {
            guard let v = Int64(digits) else { throw bad("is too large") }
            let (b, overflow) = v.multipliedReportingOverflow(by: mult)
            guard !overflow, b <= maximum else { throw bad("is too large") }
            value = b
        }
        guard value >= minimum else { throw bad("is smaller than the 1 MiB a volume needs at least") }
        return VolumeSize(bytes: value)
    }

    /// The largest volume file to write: the size itself, less the burning tool's file system
    /// on a named disc when the volume is written as a plain file.
    public func fileLimit(iso: Bool) -> Int64 {
        isDisc && !iso ? bytes - VolumeSize.discFileSystemAllowance : bytes
    }

    /// "4,700,000,000 bytes (dvd)" for reports.
    public var description: String { "\(Format.grouped(bytes)) bytes" + (medium.map { " (\($0))" } ?? "") }
}
