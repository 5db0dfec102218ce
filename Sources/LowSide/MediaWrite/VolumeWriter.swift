import BundleFormat
import BundleVerify
import Media
import Support
import SystemIO

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
/// The split is planned once (`VolumePlan`); the plain writer (`PlainVolumeWriter`) or the image
/// writer (`ImageVolumeWriter`) follows it. Files are written under `.partial` names, flushed,
/// and renamed only when every volume is complete.
public final class VolumeWriter {
    public let bundlePath: String
    public let destination: String
    public let size: VolumeSize
    public let iso: Bool
    /// Make `destination` if it is missing (`--create`). Off, a missing folder is refused: an
    /// unmounted stick's mount point must not quietly become a folder on the system disk.
    public var createDestination = false
    let signer: LabelSigner

    public init(bundle: String, destination: String, size: VolumeSize, iso: Bool, signer: LabelSigner) {
        bundlePath = bundle
        self.destination = destination
        self.size = size
        self.iso = iso
        self.signer = signer
    }

    public func write() throws -> MediaWriteReport {
        let started = Clock.now()
        guard let info = try FS.info(bundlePath) else { throw ToolError.usage("bundle '\(bundlePath)' does not exist") }
        guard info.kind == .regular else { throw ToolError.usage("bundle '\(bundlePath)' is not a regular file") }
        // Only the manifest is read here, to name the bundle in the labels; `bundlectl verify`
        // checks the rest. Its signature is not checked: the labels are signed by this key.
        let reader = try BundleReader(path: bundlePath, trust: nil)
        let manifest = reader.manifest
        let source = try FileDescriptor.open(bundlePath)
        let total = try source.size()
        let bundle = VolumeLabel.Bundle(file: VolumePlan.labelFileName(bundlePath: bundlePath, name: manifest.name, sequence: manifest.sequence),
                                        name: manifest.name, sequence: manifest.sequence, size: total, manifest: reader.manifestDigest)
        let plan = try VolumePlan(bundle: bundle, size: size, iso: iso)
        let finals = plan.volumes.map { destination + "/" + $0.fileName }
        let partials = finals.map { $0 + ".partial" }
        try prepareDestination(plan, finals: finals, partials: partials)
        do {
            let volumes = try writeVolumes(plan, source: source, manifest: manifest, partials: partials, finals: finals)
            guard try source.size() == total else { throw ToolError.environment("'\(bundlePath)' changed size while being written") }
            for (p, f) in zip(partials, finals) { try FS.rename(p, f) }
            try FS.syncDirectory(destination)
            return MediaWriteReport(bundle: volumes[0].label.bundle, manifest: manifest, volumes: volumes, set: volumes[0].label.set,
                                    stride: plan.stride, fileLimit: plan.fileLimit, seconds: Clock.now() - started)
        } catch {
            for p in partials { try? FS.remove(p) }
            throw error
        }
    }

    /// Makes the folder, refuses to overwrite finished volumes, clears old partial files and
    /// checks the free space before anything is written.
    private func prepareDestination(_ plan: VolumePlan, finals: [String], partials: [String]) throws {
        switch try FS.info(destination)?.kind {
        case .directory?: break
        case nil where createDestination: try FS.makeDirectories(destination)
        case nil:
            throw ToolError.usage("'\(destination)' does not exist; mount the medium there, or pass --create to make the folder")
        case _?: throw ToolError.usage("'\(destination)' is not a folder")
        }
        for f in finals where try FS.info(f) != nil {
            throw ToolError.usage("'\(f)' exists; remove it or write to another folder")
        }
        for p in partials { try FS.remove(p) }
        let needed = plan.bytesNeeded
        if let free = FS.freeBytes(at: destination), free < needed {
            throw ToolError.environment("'\(destination)' has \(Format.grouped(free)) bytes free; the \(plan.count) volume(s) need \(Format.grouped(needed))\(iso ? " (with room for one image's temporary copy)" : "")")
        }
    }

    private func writeVolumes(_ plan: VolumePlan, source: FileDescriptor, manifest: Manifest, partials: [String], finals: [String]) throws -> [WrittenVolume] {
        if iso {
            return try ImageVolumeWriter(plan: plan, source: source, bundlePath: bundlePath, signer: signer, paths: partials, finals: finals,
                                         temporaryDirectory: destination, mtime: manifest.created).write()
        }
        return try PlainVolumeWriter(plan: plan, source: source, bundlePath: bundlePath, signer: signer, paths: partials, finals: finals).write()
    }
}
