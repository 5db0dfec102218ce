import BundleFormat
import Media
import Support
import SystemIO

/// `bundlectl media verify`'s reading: every volume found checked alone, every byte read (label,
/// signature, payload digest), including the volumes inside ISO images. `VolumeSet` then judges
/// the checks as a set. (The high side's apply checks labels first and reads payloads as it copies.)
public enum VolumeReadBack {
    public static func check(_ found: VolumeFiles.Found, trust: [PublicKey]) throws -> [VolumeCheck] {
        var total: Int64 = 0
        for p in found.volumes + found.images { total += try FS.info(p)?.size ?? 0 }
        let progress = Progress("verifying", total: total)
        var checks: [VolumeCheck] = []
        for path in found.volumes {
            var c = VolumeFiles.checkLabel(path, trust: trust)
            VolumeFiles.hashPayload(&c, progress: progress)
            checks.append(c)
        }
        for path in found.unlabelled + found.otherFiles {
            var c = VolumeCheck(source: path, size: try FS.info(path)?.size ?? 0)
            c.problem = "no volume label at its end (truncated, overwritten, or not a volume)"
            checks.append(c)
        }
        for image in found.images { checks += ImageVolumes.check(image: image, trust: trust, progress: progress) }
        progress.finish()
        return checks
    }
}
