import BundleFormat
import Libarchive
import Media
import Support
import SystemIO

/// Checks the volumes inside ISO 9660 images, so the low side can verify images before they
/// are burned. Each file of the image is streamed once: its payload digested, its label read last.
/// (The high side reads mounted discs as plain files and never parses an image.)
public enum ImageVolumes {
    public static func check(image: String, trust: [PublicKey], progress: Progress? = nil) -> [VolumeCheck] {
        var checks: [VolumeCheck] = []
        do {
            let reader = try IsoReader(path: image)
            let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 1 << 20, alignment: 64)
            defer { buffer.deallocate() }
            while let entry = try reader.next() {
                guard entry.kind == .regular, entry.size >= Int64(VolumeLabel.size) else { continue }
                let file = ImageEntry(reader: reader, buffer: buffer, source: image + ":" + entry.name, name: entry.name, size: entry.size)
                if let check = try file.check(trust: trust, progress: progress) { checks.append(check) }
            }
        } catch let e as ToolError {
            var check = VolumeCheck(source: image, size: (try? FS.info(image)?.size ?? 0) ?? 0)
            check.problem = e.message.replacingPrefix("'\(image)' ", "")
            check.problemStatus = e.status
            checks.append(check)
        } catch {
            var check = VolumeCheck(source: image, size: 0)
            check.problem = "\(error)"
            checks.append(check)
        }
        return checks
    }
}

/// One file of an image, read where the reader stands: `payload || label`, as a volume file on disk.
private struct ImageEntry {
    let reader: IsoReader
    let buffer: UnsafeMutableRawBufferPointer
    let source: String
    let name: String
    let size: Int64

    /// The file checked as a volume; nil when it is not one (the README) and not named like one.
    /// A problem with this file is its check's; any other error ends the reading of the image.
    func check(trust: [PublicKey], progress: Progress?) throws -> VolumeCheck? {
        var check = VolumeCheck(source: source, size: size)
        do {
            let payload = try readPayload(length: size - Int64(VolumeLabel.size), progress: progress)
            let labelBytes = try readLabel()
            guard labelBytes.starts(with: Array((VolumeLabel.magic + "\n").utf8)) else {
                // Not a volume (the README) unless it is named like one.
                return VolumeLabel.looksLikeVolumeName(name) ? check : nil
            }
            check.payloadDigest = payload
            check.signed = try VolumeLabel.decode(labelBytes, what: "'\(check.source)'")
            try VolumeFiles.checkSigned(&check, trust: trust)
            if check.payloadDigest != check.signed!.label.payload {
                check.problem = "payload digest differs from its signed label: the data is damaged"
            }
        } catch let e as ToolError {
            check.problem = e.message.replacingPrefix("'\(check.source)': ", "")
            check.problemStatus = e.status
        }
        return check
    }

    private func readPayload(length: Int64, progress: Progress?) throws -> SHA256Digest {
        var payload = PieceDigester()
        while payload.count < length {
            let want = Int(min(Int64(buffer.count), length - payload.count))
            let n = try reader.read(into: UnsafeMutableRawBufferPointer(rebasing: buffer[..<want]))
            guard n > 0 else { throw ToolError.refused("ends early inside the image: truncated") }
            payload.update(UnsafeRawBufferPointer(rebasing: buffer[..<n]))
            progress?.advance(Int64(n))
        }
        return payload.finalize()
    }

    private func readLabel() throws -> [UInt8] {
        var labelBytes: [UInt8] = []
        while labelBytes.count < VolumeLabel.size {
            let n = try reader.read(into: UnsafeMutableRawBufferPointer(rebasing: buffer[..<(VolumeLabel.size - labelBytes.count)]))
            guard n > 0 else { throw ToolError.refused("ends early inside the image: truncated") }
            labelBytes += UnsafeRawBufferPointer(rebasing: buffer[..<n])
        }
        return labelBytes
    }
}

extension String {
    func replacingPrefix(_ prefix: String, _ with: String) -> String {
        hasPrefix(prefix) ? with + dropFirst(prefix.count) : self
    }
}
