import BundleFormat
import Media
import Support
import SystemIO

/// Writes a plan's volumes as plain files in one pass over the bundle: payloads are written as
/// they are read (4 KiB aligned, with O_DIRECT where the file system allows, like
/// `dd oflag=direct`), their digests are computed on two other threads, and the labels, which
/// name the set digest of all of them, are written at the end of each file once it is known.
struct PlainVolumeWriter {
    let plan: VolumePlan
    let source: FileDescriptor
    let bundlePath: String
    let signer: LabelSigner
    /// Where each volume is written (its `.partial` name), in volume order.
    let paths: [String]
    /// The names the files will have once renamed, for the report.
    let finals: [String]

    func write() throws -> [WrittenVolume] {
        let payloads = try writePayloads()
        var written: [WrittenVolume] = []
        for (v, signed) in try signer.signedLabels(plan, payloads: payloads).enumerated() {
            try DirectFile.appendLabel(signed.bytes, to: paths[v], at: signed.label.length)
            written.append(WrittenVolume(label: signed.label, path: finals[v], size: signed.label.length + Int64(signed.bytes.count)))
        }
        return written
    }

    /// Copies every volume's payload to its file; returns the payload digests in volume order.
    private func writePayloads() throws -> [SHA256Digest] {
        let pieces = PieceDigests()
        let writer = VolumeFilesWriter(paths: paths)
        // 4 MiB writes, as `dd bs=4M`. This thread reads ahead; the writer and the two hash lanes
        // each work on their own thread, so the disk gets its next write as soon as it is ready.
        let pipe = try ChunkPipeline(consumers: [writer] + pieces.lanes, slots: 4, chunkSize: 4 * VolumeLabel.pieceSize)
        defer { pipe.stop() }
        let progress = Progress("writing volumes", total: plan.bundle.size)
        defer { progress.finish() }
        for (tag, volume) in plan.volumes.enumerated() {
            try copy(volume, tag: tag, through: pipe, writer: writer, progress: progress)
        }
        pipe.finish()
        try writer.close()
        return plan.volumes.indices.map { pieces.payloadDigest(tag: $0) }
    }

    /// One volume's byte range of the bundle, read into the pipeline's buffers under its tag.
    private func copy(_ volume: VolumePlan.Volume, tag: Int, through pipe: ChunkPipeline, writer: VolumeFilesWriter, progress: Progress) throws {
        var done: Int64 = 0
        while done < volume.length {
            if let e = writer.failure { throw e }
            let buffer = pipe.acquire()
            let want = Int(min(Int64(buffer.count), volume.length - done))
            let n = try source.readFully(into: UnsafeMutableRawBufferPointer(rebasing: buffer[..<want]), fromOffset: volume.offset + done)
            guard n == want else { throw ToolError.environment("'\(bundlePath)' ended early while being written (changed?)") }
            pipe.publish(n, tag: tag)
            done += Int64(n)
            progress.advance(Int64(n))
        }
    }
}
