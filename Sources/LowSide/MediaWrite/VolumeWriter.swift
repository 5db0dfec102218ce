import BundleFormat
import BundleVerify
import Libarchive
import Media
import Support
import SystemIO
#if canImport(Glibc)
import Glibc
#endif

/// The key that signs volume labels (minisign's Ed25519, like MANIFEST.sig).
public struct LabelSigner {
    public var secretKey: [UInt8]
    public var keyId: [UInt8]

    public init(secretKey: [UInt8], keyId: [UInt8]) {
        self.secretKey = secretKey
        self.keyId = keyId
    }

    public var keyIdText: String { Minisign.keyIdText(keyId) }

    func sign(_ label: VolumeLabel) throws -> SignatureFile {
        try MinisignCrypto.sign(label.message, secretKey: secretKey, keyId: keyId,
                                trustedComment: label.trustedComment, untrustedComment: VolumeLabel.untrustedComment)
    }
}

/// One file written to the medium.
public struct WrittenVolume {
    public var label: VolumeLabel
    /// The file written: the volume file, or with --iso the image holding it.
    public var path: String
    public var size: Int64
    /// With --iso, the image's SHA-256 (to compare with what a burned disc reads back).
    public var imageSHA256: SHA256Digest?
    /// With --iso, the volume file's name and size inside the image.
    public var volumeFile: (name: String, size: Int64)?
}

public struct MediaWriteReport {
    public var bundle: VolumeLabel.Bundle
    public var manifest: Manifest
    public var volumes: [WrittenVolume]
    public var set: SHA256Digest
    /// Payload bytes in every volume but the last.
    public var stride: Int64
    public var fileLimit: Int64
    public var seconds: Double
    /// Bytes written beyond the bundle's own: labels, and with --iso the images' structure.
    public var overhead: Int64 { volumes.reduce(0) { $0 + $1.size } - bundle.size }
}

/// Splits a bundle into volume files (or ISO images of them) that fit a medium.
///
/// Plain volumes take one pass over the bundle: payloads are written as they are read (4 KiB
/// aligned, with O_DIRECT where the file system allows, like `dd oflag=direct`), their digests
/// are computed on two other threads, and the labels, which name the set digest of all of them,
/// are written at the end of each file once it is known. Files are written under
/// `.partial` names, flushed, and renamed only when every volume is complete.
public final class VolumeWriter {
    public let bundlePath: String
    public let destination: String
    public let size: VolumeSize
    public let iso: Bool
    let signer: LabelSigner

    /// Room for the ISO 9660 structure around one volume file and its README: the descriptors,
    /// path tables and directories (Rock Ridge and Joliet) measured 62 KiB for two files; a few
    /// KiB more per 4 GiB extent of a large file.
    static let isoReserve: Int64 = 128 << 10
    static let isoReservePerExtent: Int64 = 8 << 10
    static let readmeName = "README.txt"

    public init(bundle: String, destination: String, size: VolumeSize, iso: Bool, signer: LabelSigner) {
        bundlePath = bundle
        self.destination = destination
        self.size = size
        self.iso = iso
        self.signer = signer
    }

    /// The largest volume file (payload + label) for this medium.
    var volumeFileLimit: Int64 {
        let limit = size.fileLimit(iso: iso)
        guard iso else { return limit }
        return limit - VolumeWriter.isoReserve - VolumeWriter.isoReservePerExtent * (limit >> 32 + 1)
    }

    /// Payload bytes per full volume: a multiple of 4 KiB, so payloads stay aligned.
    var stride: Int64 { (volumeFileLimit - Int64(VolumeLabel.size)) / 4096 * 4096 }

    public func write() throws -> MediaWriteReport {
        let started = Clock.now()
        guard let info = try FS.info(bundlePath) else { throw ToolError.usage("bundle '\(bundlePath)' does not exist") }
        guard info.kind == .regular else { throw ToolError.usage("bundle '\(bundlePath)' is not a regular file") }
        // Only the manifest is read here, to name the bundle in the labels; `bundlectl verify`
        // checks the rest. Its signature is not checked: the labels are signed by this key.
        let reader = try BundleReader(path: bundlePath, trust: nil)
        let manifest = reader.manifest
        let manifestDigest = reader.manifestDigest
        let source = try FileDescriptor.open(bundlePath)
        let total = try source.size()
        let stride = self.stride
        let count = Int((total + stride - 1) / stride)
        guard count <= VolumeLabel.maxCount else {
            throw ToolError.usage("\(Format.grouped(total)) bytes in volumes of \(Format.grouped(stride)) would make \(count) volumes; at most \(VolumeLabel.maxCount): choose a larger --volume-size")
        }
        var fileName = FS.baseName(bundlePath)
        if fileName.utf8.count > 120 || fileName.utf8.contains(where: { $0 < 0x20 || $0 == 0x7F }) {
            fileName = "\(manifest.name)-\(manifest.sequence).bundle"
        }

        try FS.makeDirectories(destination)
        let ext = iso ? "iso" : "vol"
        let finals = (1...count).map { destination + "/" + VolumeLabel.fileName(bundle: manifest.name, sequence: manifest.sequence, number: $0, count: count, ext: ext) }
        for f in finals where try FS.info(f) != nil {
            throw ToolError.usage("'\(f)' exists; remove it or write to another folder")
        }
        let partials = finals.map { $0 + ".partial" }
        for p in partials { try FS.remove(p) }
        let needed = iso ? total + Int64(count) * (VolumeWriter.isoReserve + 8192) + stride : total + Int64(count * VolumeLabel.size)
        if let free = FS.freeBytes(at: destination), free < needed {
            throw ToolError.environment("'\(destination)' has \(Format.grouped(free)) bytes free; the \(count) volume(s) need \(Format.grouped(needed))\(iso ? " (with room for one image's temporary copy)" : "")")
        }

        do {
            let volumes = iso
                ? try writeImages(source: source, total: total, stride: stride, count: count, manifest: manifest, manifestDigest: manifestDigest, fileName: fileName, partials: partials, finals: finals)
                : try writePlain(source: source, total: total, stride: stride, count: count, manifest: manifest, manifestDigest: manifestDigest, fileName: fileName, partials: partials, finals: finals)
            guard try source.size() == total else { throw ToolError.environment("'\(bundlePath)' changed size while being written") }
            for (p, f) in zip(partials, finals) { try FS.rename(p, f) }
            try FS.syncDirectory(destination)
            return MediaWriteReport(bundle: volumes[0].label.bundle, manifest: manifest, volumes: volumes, set: volumes[0].label.set,
                                    stride: stride, fileLimit: size.fileLimit(iso: iso), seconds: Clock.now() - started)
        } catch {
            for p in partials { try? FS.remove(p) }
            throw error
        }
    }

    private func bundleIdentity(_ manifest: Manifest, _ digest: SHA256Digest, file: String, size: Int64) -> VolumeLabel.Bundle {
        VolumeLabel.Bundle(file: file, name: manifest.name, sequence: manifest.sequence, size: size, manifest: digest)
    }

    // MARK: Plain volume files

    private func writePlain(source: FileDescriptor, total: Int64, stride: Int64, count: Int, manifest: Manifest, manifestDigest: SHA256Digest,
                            fileName: String, partials: [String], finals: [String]) throws -> [WrittenVolume] {
        let pieces = PieceDigests()
        let writer = VolumeFilesWriter(paths: partials)
        // 4 MiB writes, as `dd bs=4M`. This thread reads ahead; the writer and the two hash lanes
        // each work on their own thread, so the disk gets its next write as soon as it is ready.
        let pipe = try ChunkPipeline(consumers: [writer] + pieces.lanes, slots: 4, chunkSize: 4 * VolumeLabel.pieceSize)
        defer { pipe.stop() }
        let progress = Progress("writing volumes", total: total)
        defer { progress.finish() }
        for v in 0..<count {
            let offset = Int64(v) * stride
            let length = min(stride, total - offset)
            var done: Int64 = 0
            while done < length {
                if let e = writer.failure { throw e }
                let buffer = pipe.acquire()
                let want = Int(min(Int64(buffer.count), length - done))
                let n = try source.readFully(into: UnsafeMutableRawBufferPointer(rebasing: buffer[..<want]), fromOffset: offset + done)
                guard n == want else { throw ToolError.environment("'\(bundlePath)' ended early while being written (changed?)") }
                pipe.publish(n, tag: v)
                done += Int64(n)
                progress.advance(Int64(n))
            }
        }
        pipe.finish()
        try writer.close()
        let payloads = (0..<count).map { pieces.payloadDigest(tag: $0) }
        var written: [WrittenVolume] = []
        for (v, (label, bytes)) in try signedLabels(manifest, manifestDigest, fileName: fileName, total: total, stride: stride, payloads: payloads).enumerated() {
            let length = label.length
            let fd = try FileDescriptor.open(partials[v], flags: O_WRONLY)
            try bytes.withUnsafeBytes { try fd.write($0, toOffset: length) }
            try fd.sync()
            try fd.close()
            written.append(WrittenVolume(label: label, path: finals[v], size: length + Int64(bytes.count)))
        }
        return written
    }

    /// Each volume's label, signed, once every payload digest is known (the set digest covers them all).
    private func signedLabels(_ manifest: Manifest, _ manifestDigest: SHA256Digest, fileName: String, total: Int64, stride: Int64,
                              payloads: [SHA256Digest]) throws -> [(VolumeLabel, [UInt8])] {
        let bundle = bundleIdentity(manifest, manifestDigest, file: fileName, size: total)
        let set = VolumeLabel.setDigest(bundle: bundle, count: payloads.count, stride: min(stride, total), payloads: payloads)
        return try payloads.indices.map { v in
            let offset = Int64(v) * stride
            let label = VolumeLabel(bundle: bundle, set: set, number: v + 1, count: payloads.count, offset: offset,
                                    length: min(stride, total - offset), payload: payloads[v])
            return (label, try label.encode(signature: signer.sign(label)))
        }
    }

    // MARK: ISO 9660 images

    private func writeImages(source: FileDescriptor, total: Int64, stride: Int64, count: Int, manifest: Manifest, manifestDigest: SHA256Digest,
                             fileName: String, partials: [String], finals: [String]) throws -> [WrittenVolume] {
        // Each image must be complete before the next starts (libarchive lays out the directory
        // first), and every label names the set digest of all payloads. So the payloads of
        // volumes 2...n are digested in a first pass; the first volume's is digested as it goes
        // into its image (a single-disc bundle is read once), and the others are checked again
        // as they go in, in case the bundle changed in between.
        var payloads: [SHA256Digest?] = Array(repeating: nil, count: count)
        if count > 1 {
            let hashing = Progress("digesting volumes", total: total - stride)
            for v in 1..<count {
                let offset = Int64(v) * stride
                let pieces = PieceDigests()
                try VolumeFiles.stream(source, from: offset, length: min(stride, total - offset), through: pieces.lanes, progress: hashing)
                payloads[v] = pieces.payloadDigest(tag: 0)
            }
            hashing.finish()
        }
        var labels: [(VolumeLabel, [UInt8])] = []
        let limit = size.fileLimit(iso: true)
        let writing = Progress("writing images", total: total)
        defer { writing.finish() }
        var written: [WrittenVolume] = []
        for v in 0..<count {
            let offset = Int64(v) * stride, length = min(stride, total - offset)
            let volumeName = VolumeLabel.fileName(bundle: manifest.name, sequence: manifest.sequence, number: v + 1, count: count, ext: "vol")
            let file = try ImageFile(path: partials[v])
            let image = try IsoWriter(name: finals[v], volumeID: volumeID(manifest, v + 1, count), largeFiles: length + Int64(VolumeLabel.size) >= 1 << 32,
                                      temporaryDirectory: destination, output: file.write)
            try image.addFile(volumeName, size: length + Int64(VolumeLabel.size), mtime: manifest.created) { put in
                let pieces = PieceDigests()
                try VolumeFiles.stream(source, from: offset, length: length, through: pieces.lanes, progress: writing) { chunk, _ in try put(chunk) }
                let payload = pieces.payloadDigest(tag: 0)
                if let known = payloads[v], known != payload {
                    throw ToolError.environment("'\(bundlePath)' changed while being written")
                }
                payloads[v] = payload
                if labels.isEmpty {
                    labels = try signedLabels(manifest, manifestDigest, fileName: fileName, total: total, stride: stride, payloads: payloads.map { $0! })
                }
                try labels[v].1.withUnsafeBytes { try put($0) }
            }
            let label = labels[v].0
            let readme = Array(readmeText(label, volumeName: volumeName).utf8)
            try image.addFile(VolumeWriter.readmeName, size: Int64(readme.count), mtime: manifest.created) { put in
                try readme.withUnsafeBytes { try put($0) }
            }
            let imageSize = try image.finish()
            let imageSHA = try file.finish()
            guard imageSize <= limit else {
                throw ToolError.environment("image \(finals[v]) came out at \(Format.grouped(imageSize)) bytes, over the \(Format.grouped(limit)) planned (ISO structure larger than reserved)")
            }
            written.append(WrittenVolume(label: label, path: finals[v], size: imageSize, imageSHA256: imageSHA,
                                         volumeFile: (volumeName, length + Int64(VolumeLabel.size))))
        }
        return written
    }

    /// The disc's label: "FEEDS_7_02OF03", within ISO 9660's 32 d-characters.
    private func volumeID(_ m: Manifest, _ number: Int, _ count: Int) -> String {
        let suffix = "_\(number)OF\(count)"
        let base = "\(m.name)_\(m.sequence)".uppercased().map { c -> Character in
            c.isASCII && (c.isLetter || c.isNumber) ? c : "_"
        }
        return String(base.prefix(32 - suffix.count)) + suffix
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

/// Writes each tag's chunks to its volume file (tag n to `paths[n]`), on a pipeline thread.
/// The first failure stops the writing; the reading thread sees it and gives up.
final class VolumeFilesWriter: ChunkConsumer, @unchecked Sendable {
    private let paths: [String]
    private var file: DirectFile?
    private var tag = -1
    private let lock = Mutex()
    private var error: ToolError?

    init(paths: [String]) { self.paths = paths }

    var failure: ToolError? { lock.locked { error } }

    func consume(_ chunk: UnsafeRawBufferPointer, tag: Int) {
        guard failure == nil else { return }
        do {
            if tag != self.tag {
                try file?.fd.close()
                file = try DirectFile.create(paths[tag])
                self.tag = tag
            }
            if chunk.count % 4096 != 0 { try file!.leaveDirectMode() }
            try file!.fd.write(chunk)
        } catch let e as ToolError {
            // EFBIG: the medium's file system takes smaller files than --volume-size allows.
            let hint = e.message.hasSuffix("File too large") ? " (the destination's file system holds smaller files; FAT32: --volume-size fat32)" : ""
            lock.locked { error = ToolError(e.status, e.message + hint) }
        } catch {
            lock.locked { self.error = ToolError.environment("cannot write '\(paths[tag])': \(error)") }
        }
    }

    /// Closes the last file, flushed to the medium first if `sync`; call after the pipeline finished.
    func close(sync: Bool = false) throws {
        if let e = failure { throw e }
        if sync { try file?.fd.sync() }
        try file?.fd.close()
        file = nil
    }
}

/// An ISO image file: takes libarchive's output in any slicing and writes it as the plain
/// volumes are written (4 MiB O_DIRECT writes on one thread), with its SHA-256 (to compare with
/// what a burned disc reads back) on another, instead of through the page cache on libarchive's.
final class ImageFile {
    private let writer: VolumeFilesWriter
    private let digest = DigestConsumer()
    private let pipe: ChunkPipeline
    private var buffer: UnsafeMutableRawBufferPointer
    private var filled = 0

    init(path: String) throws {
        writer = VolumeFilesWriter(paths: [path])
        pipe = try ChunkPipeline(consumers: [writer, digest], slots: 4, chunkSize: 4 * VolumeLabel.pieceSize)
        buffer = pipe.acquire()
    }

    func write(_ bytes: UnsafeRawBufferPointer) throws {
        var rest = bytes
        while !rest.isEmpty {
            if let e = writer.failure { throw e }
            let n = min(rest.count, buffer.count - filled)
            UnsafeMutableRawBufferPointer(rebasing: buffer[filled..<filled + n]).copyMemory(from: UnsafeRawBufferPointer(rebasing: rest[..<n]))
            filled += n
            rest = UnsafeRawBufferPointer(rebasing: rest[n...])
            if filled == buffer.count {
                pipe.publish(filled, tag: 0)
                buffer = pipe.acquire()
                filled = 0
            }
        }
    }

    /// Writes the rest, flushes the file to the medium and returns the image's SHA-256.
    func finish() throws -> SHA256Digest {
        if filled > 0 { pipe.publish(filled, tag: 0) }
        filled = 0
        pipe.finish()
        try writer.close(sync: true)
        return digest.stream.finalize()
    }
}

/// A file being written with O_DIRECT until an unaligned write needs the page cache.
struct DirectFile {
    /// A new file opened for O_DIRECT writes where the file system supports them (not tmpfs).
    static func create(_ path: String) throws -> DirectFile {
        let fd = Glibc.open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | __O_DIRECT, 0o644)
        if fd >= 0 { return DirectFile(fd: FileDescriptor(adopting: fd, path: path), direct: true) }
        guard errno == EINVAL else { throw systemError("create", path) }
        return DirectFile(fd: try FileDescriptor.create(path), direct: false)
    }

    let fd: FileDescriptor
    var direct: Bool

    /// O_DIRECT needs lengths in whole blocks; the bundle's last bytes go through the page cache.
    mutating func leaveDirectMode() throws {
        guard direct else { return }
        let flags = fcntl(fd.raw, F_GETFL)
        guard flags >= 0, fcntl(fd.raw, F_SETFL, flags & ~__O_DIRECT) == 0 else { throw systemError("change the write mode of", fd.path) }
        direct = false
    }
}
