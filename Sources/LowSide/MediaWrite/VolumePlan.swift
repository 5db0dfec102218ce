import BundleFormat
import Media
import Support
import SystemIO

/// How a bundle is split for one medium, worked out once before a byte is written: the payload
/// bytes per volume, each volume's byte range and file names, and with --iso each image's disc
/// label. Pure arithmetic: the plain and the ISO writer both follow it, and tests check it alone.
///
/// A volume file is `payload || label` (see `VolumeLabel`). Volume n carries bundle bytes
/// `(n - 1) * stride ..< min(n * stride, bundle size)`; every payload but the last is `stride`
/// bytes, a multiple of 4 KiB, so payloads stay aligned for O_DIRECT writes.
public struct VolumePlan: Equatable, Sendable {
    /// One volume: a byte range of the bundle, then its label.
    public struct Volume: Equatable, Sendable {
        /// 1 ... count.
        public var number: Int
        public var offset: Int64
        public var length: Int64
        /// The volume file's name ("feeds-7.02of03.vol"); with --iso, its name inside the image.
        public var volumeName: String
        /// The file written to the destination: the volume file, or with --iso the image.
        public var fileName: String
        /// With --iso, the image's ISO 9660 volume identifier ("FEEDS_7_2OF3").
        public var discLabel: String?

        /// The volume file's size: payload and label.
        public var volumeFileSize: Int64 { length + Int64(VolumeLabel.size) }
        /// ISO 9660 stores a file of 4 GiB or more in several extents (libarchive's "iso-level 3").
        public var needsLargeFiles: Bool { volumeFileSize >= 1 << 32 }
    }

    /// Room for the ISO 9660 structure around one volume file and its README: the descriptors,
    /// path tables and directories (Rock Ridge and Joliet) measured 62 KiB for two files; a few
    /// KiB more per 4 GiB extent of a large file.
    public static let isoReserve: Int64 = 128 << 10
    public static let isoReservePerExtent: Int64 = 8 << 10

    /// The bundle as the labels name it.
    public let bundle: VolumeLabel.Bundle
    public let iso: Bool
    /// The largest file written (the image with --iso): `--volume-size`, less the file system a
    /// disc burner adds around a plain volume file.
    public let fileLimit: Int64
    /// The largest volume file (payload + label); with --iso, what the image's structure leaves.
    public let volumeFileLimit: Int64
    /// Payload bytes in every volume but the last.
    public let stride: Int64
    public let volumes: [Volume]

    public var count: Int { volumes.count }

    /// Plans the split of `bundle` (its `size` is the file's) into files of at most `size`.
    /// Throws a usage error when the volumes would be too small or too many.
    public init(bundle: VolumeLabel.Bundle, size: VolumeSize, iso: Bool) throws {
        self.bundle = bundle
        self.iso = iso
        fileLimit = size.fileLimit(iso: iso)
        volumeFileLimit = VolumePlan.volumeFileLimit(fileLimit: fileLimit, iso: iso)
        stride = (volumeFileLimit - Int64(VolumeLabel.size)) / 4096 * 4096
        guard stride > 0 else { throw ToolError.usage("--volume-size \(size.description) leaves no room for a volume's payload") }
        guard bundle.size > 0 else { throw ToolError.usage("bundle '\(bundle.file)' is empty") }
        let total = bundle.size, stride = self.stride
        let count = Int((total + stride - 1) / stride)
        guard count <= VolumeLabel.maxCount else {
            throw ToolError.usage("\(Format.grouped(total)) bytes in volumes of \(Format.grouped(stride)) would make \(count) volumes; at most \(VolumeLabel.maxCount): choose a larger --volume-size")
        }
        volumes = (1...count).map { n in
            let offset = Int64(n - 1) * stride
            let name = { (ext: String) in VolumeLabel.fileName(bundle: bundle.name, sequence: bundle.sequence, number: n, count: count, ext: ext) }
            return Volume(number: n, offset: offset, length: min(stride, total - offset), volumeName: name("vol"),
                          fileName: name(iso ? "iso" : "vol"),
                          discLabel: iso ? VolumePlan.discLabel(name: bundle.name, sequence: bundle.sequence, number: n, count: count) : nil)
        }
    }

    /// The largest volume file for a file limit: with --iso, less the image's own structure.
    static func volumeFileLimit(fileLimit: Int64, iso: Bool) -> Int64 {
        guard iso else { return fileLimit }
        return fileLimit - isoReserve - isoReservePerExtent * (fileLimit >> 32 + 1)
    }

    /// Free bytes the destination needs: the volumes, and with --iso room for the structure of
    /// each image plus one image's temporary copy (libarchive's).
    public var bytesNeeded: Int64 {
        iso ? bundle.size + Int64(count) * (VolumePlan.isoReserve + 8192) + stride
            : bundle.size + Int64(count * VolumeLabel.size)
    }

    /// Every volume's label, once every payload digest is known (the set digest covers them all).
    public func labels(payloads: [SHA256Digest]) -> [VolumeLabel] {
        precondition(payloads.count == count)
        // The set's stride is the first volume's length: the whole bundle when it fits one volume.
        let set = VolumeLabel.setDigest(bundle: bundle, count: count, stride: volumes[0].length, payloads: payloads)
        return zip(volumes, payloads).map { v, payload in
            VolumeLabel(bundle: bundle, set: set, number: v.number, count: count, offset: v.offset, length: v.length, payload: payload)
        }
    }

    /// The bundle's file name for the labels: its own, unless it is too long or has control
    /// characters for a label ("NAME-SEQ.bundle" then).
    public static func labelFileName(bundlePath: String, name: String, sequence: Int64) -> String {
        let own = FS.baseName(bundlePath)
        if own.utf8.count > 120 || own.utf8.contains(where: { $0 < 0x20 || $0 == 0x7F }) { return "\(name)-\(sequence).bundle" }
        return own
    }

    /// The disc's label: "FEEDS_7_2OF3", within ISO 9660's 32 d-characters.
    static func discLabel(name: String, sequence: Int64, number: Int, count: Int) -> String {
        let suffix = "_\(number)OF\(count)"
        let base = "\(name)_\(sequence)".uppercased().map { c -> Character in
            c.isASCII && (c.isLetter || c.isNumber) ? c : "_"
        }
        return String(base.prefix(32 - suffix.count)) + suffix
    }
}
