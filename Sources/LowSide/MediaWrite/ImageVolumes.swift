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
                var check = VolumeCheck(source: image + ":" + entry.name, size: entry.size)
                do {
                    var payload = PieceDigester()
                    let length = entry.size - Int64(VolumeLabel.size)
                    while payload.count < length {
                        let want = Int(min(Int64(buffer.count), length - payload.count))
                        let n = try reader.read(into: UnsafeMutableRawBufferPointer(rebasing: buffer[..<want]))
                        guard n > 0 else { throw ToolError.refused("ends early inside the image: truncated") }
                        payload.update(UnsafeRawBufferPointer(rebasing: buffer[..<n]))
                        progress?.advance(Int64(n))
                    }
                    var labelBytes: [UInt8] = []
                    while labelBytes.count < VolumeLabel.size {
                        let n = try reader.read(into: UnsafeMutableRawBufferPointer(rebasing: buffer[..<(VolumeLabel.size - labelBytes.count)]))
                        guard n > 0 else { throw ToolError.refused("ends early inside the image: truncated") }
                        labelBytes += UnsafeRawBufferPointer(rebasing: buffer[..<n])
                    }
                    guard labelBytes.starts(with: Array((VolumeLabel.magic + "\n").utf8)) else {
                        // Not a volume (the README) unless it is named like one.
                        if VolumeLabel.looksLikeVolumeName(entry.name) { checks.append(check) }
                        continue
                    }
                    check.payloadDigest = payload.finalize()
                    check.signed = try VolumeLabel.decode(labelBytes, what: "'\(check.source)'")
                    try VolumeFiles.checkSigned(&check, trust: trust)
                    if check.payloadDigest != check.signed!.label.payload {
                        check.problem = "payload digest differs from its signed label: the data is damaged"
                    }
                } catch let e as ToolError {
                    check.problem = e.message.replacingPrefix("'\(check.source)': ", "")
                    check.problemStatus = e.status
                }
                checks.append(check)
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

extension String {
    func replacingPrefix(_ prefix: String, _ with: String) -> String {
        hasPrefix(prefix) ? with + dropFirst(prefix.count) : self
    }
}
