import Media
import Support
import SystemIO

/// What `mirrorctl apply` was given: one bundle file, or the volumes `bundlectl media write` made.
public enum ApplyInput: Equatable {
    case bundle(String)
    case volumes([String])

    /// One plain file (or a link to one) that is not a volume is a bundle, as before volumes
    /// existed; anything else is read as volumes and folders of volumes.
    public init(_ inputs: [String]) throws {
        self = try ApplyInput.singleBundle(inputs).map(ApplyInput.bundle) ?? .volumes(inputs)
    }

    private static func singleBundle(_ inputs: [String]) throws -> String? {
        guard inputs.count == 1, let info = try FS.info(inputs[0]), info.kind == .regular || info.kind == .symlink,
              !VolumeLabel.looksLikeVolumeName(FS.baseName(inputs[0])) else { return nil }
        if info.kind == .symlink, try FS.info(try FS.resolve(inputs[0]))?.kind != .regular { return nil }
        return try VolumeFiles.hasLabel(inputs[0]) ? nil : inputs[0]
    }

    /// Refuses inputs that cannot be volumes, naming the first such input.
    static func checkVolumes(_ found: VolumeFiles.Found, inputs: [String]) throws {
        if let image = found.images.first {
            throw ToolError.usage("'\(image)' is an ISO image: mount it (or extract its .vol file with bsdtar) and give the folder")
        }
        if let other = found.otherFiles.first {
            throw ToolError.usage("'\(other)' is not a volume (no volume label at its end); give one bundle file, or volumes and folders of volumes")
        }
        guard !found.volumes.isEmpty || !found.unlabelled.isEmpty else {
            throw ToolError.usage("no volume files in \(inputs.map { "'\($0)'" }.joined(separator: ", "))")
        }
    }
}
