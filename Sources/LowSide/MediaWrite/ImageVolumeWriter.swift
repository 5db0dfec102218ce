import BundleFormat
import Libarchive
import Media
import Support
import SystemIO

/// Writes a plan's volumes as ISO 9660 images, one volume file and a README.txt in each.
///
/// Each image must be complete before the next starts (libarchive lays out the directory
/// first), and every label names the set digest of all payloads. So the payloads of volumes
/// 2...n are digested in a first pass; the first volume's is digested as it goes into its image
/// (a single-disc bundle is read once), and the others are checked again as they go in, in case
/// the bundle changed in between.
struct ImageVolumeWriter {
    static let readmeName = "README.txt"

    let plan: VolumePlan
    let source: FileDescriptor
    let bundlePath: String
    let signer: LabelSigner
    /// Where each image is written (its `.partial` name), in volume order.
    let paths: [String]
    /// The names the images will have once renamed: libarchive's name for the image, and the report's.
    let finals: [String]
    /// Where libarchive keeps its temporary copy of a file.
    let temporaryDirectory: String
    /// The bundle's creation time, given to the files in the images.
    let mtime: Int64

    func write() throws -> [WrittenVolume] {
        var payloads = try digestLaterPayloads()
        var labels: [(label: VolumeLabel, bytes: [UInt8])] = []
        let writing = Progress("writing images", total: plan.bundle.size)
        defer { writing.finish() }
        return try plan.volumes.indices.map { v in
            try writeImage(v, payloads: &payloads, labels: &labels, progress: writing)
        }
    }

    /// The payload digests of volumes 2...n, from a first pass; volume 1's is left to its image.
    private func digestLaterPayloads() throws -> [SHA256Digest?] {
        var payloads: [SHA256Digest?] = Array(repeating: nil, count: plan.count)
        guard plan.count > 1 else { return payloads }
        let hashing = Progress("digesting volumes", total: plan.bundle.size - plan.stride)
        for volume in plan.volumes.dropFirst() {
            let pieces = PieceDigests()
            try VolumeFiles.stream(source, from: volume.offset, length: volume.length, through: pieces.lanes, progress: hashing)
            payloads[volume.number - 1] = pieces.payloadDigest(tag: 0)
        }
        hashing.finish()
        return payloads
    }

    /// Image `v`: its volume file (payload streamed from the bundle, then the label), its README.
    /// The labels are signed as soon as the first payload digest completes the set.
    private func writeImage(_ v: Int, payloads: inout [SHA256Digest?], labels: inout [(label: VolumeLabel, bytes: [UInt8])],
                            progress: Progress) throws -> WrittenVolume {
        let volume = plan.volumes[v]
        let file = try ImageFile(path: paths[v])
        let image = try IsoWriter(name: finals[v], volumeID: volume.discLabel!, largeFiles: volume.needsLargeFiles,
                                  temporaryDirectory: temporaryDirectory, output: file.write)
        try image.addFile(volume.volumeName, size: volume.volumeFileSize, mtime: mtime) { put in
            let pieces = PieceDigests()
            try VolumeFiles.stream(source, from: volume.offset, length: volume.length, through: pieces.lanes, progress: progress) { chunk, _ in try put(chunk) }
            let payload = pieces.payloadDigest(tag: 0)
            if let known = payloads[v], known != payload {
                throw ToolError.environment("'\(bundlePath)' changed while being written")
            }
            payloads[v] = payload
            if labels.isEmpty { labels = try signer.signedLabels(plan, payloads: payloads.map { $0! }) }
            try labels[v].bytes.withUnsafeBytes { try put($0) }
        }
        let label = labels[v].label
        let readme = Array(readmeText(label, volumeName: volume.volumeName).utf8)
        try image.addFile(ImageVolumeWriter.readmeName, size: Int64(readme.count), mtime: mtime) { put in
            try readme.withUnsafeBytes { try put($0) }
        }
        let imageSize = try image.finish()
        let imageSHA = try file.finish()
        guard imageSize <= plan.fileLimit else {
            throw ToolError.environment("image \(finals[v]) came out at \(Format.grouped(imageSize)) bytes, over the \(Format.grouped(plan.fileLimit)) planned (ISO structure larger than reserved)")
        }
        return WrittenVolume(label: label, path: finals[v], size: imageSize, imageSHA256: imageSHA,
                             volumeFile: (volume.volumeName, volume.volumeFileSize))
    }

    private func readmeText(_ l: VolumeLabel, volumeName: String) -> String {
        """
        Volume \(l.number) of \(l.count) of \(l.bundle.file): bundle \(l.bundle.name), sequence \(l.bundle.sequence)

        bundle   \(Format.grouped(l.bundle.size)) bytes, manifest sha256:\(l.bundle.manifest.hex)
        volume   \(volumeName)  \(Format.grouped(l.length + Int64(VolumeLabel.size))) bytes
                 bytes \(Format.grouped(l.offset)) to \(Format.grouped(l.offset + l.length - 1)) of the bundle, then a 4 KiB signed label
        payload  \(l.payload.hex)
        set      \(l.set.hex)
        signed   by key \(signer.keyIdText)

        Check this disc alone or with the others:
          bundlectl media verify /media/disc1 /media/disc2 ... --trust KEY.pub
        Apply the bundle from all of them (any order, several mount points):
          mirrorctl apply /media/disc1 /media/disc2 ... --mirror /srv/mirror

        """
    }
}
