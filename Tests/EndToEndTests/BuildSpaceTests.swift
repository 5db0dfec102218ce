import Foundation
import Testing

/// Issue 15's scratch bound on the low side: a build needs room for the bundle and the packs it
/// has not yet archived (each pack's scratch copy goes as soon as it is in the bundle), and when
/// the disk fills it fails with one clear line, leaving no bundle, no scratch and any earlier
/// bundle at the output as it was.
@Suite("Building on a disk that fills up")
struct BuildSpaceTests {
    @Test("no space left while building: a clear error, nothing left behind, an earlier bundle kept; room for the bundle and its largest pack is enough",
          .enabled(if: getuid() == 0, "needs root to mount a small tmpfs"))
    func noSpace() throws {
        let s = try Scratch()
        let (key, _) = try s.key("op")
        // Four files that do not compress, each large enough for a pack of its own (8 MiB),
        // and a few small records: a bundle of five packs, four of them the same size.
        try sh("mkdir -p \(s.at("db")) \(s.at("feed")) && for i in 1 2 3 4; do head -c 8500000 /dev/urandom > \(s.at("db"))/part-$i.bin; done && for i in $(seq 1 50); do echo \"{\\\"id\\\": $i}\" > \(s.at("feed"))/r$i.json; done")
        let spec = try s.spec("a.yaml", sequence: 1, sources: [("db", "advisories", s.at("db")), ("feed", "advisories", s.at("feed"))])
        let reference = try s.build(spec, key: key, output: "ref.bundle")
        let size = try Int(sh("stat -c %s \(reference)").trimmingCharacters(in: .whitespacesAndNewlines)) ?? 0
        let packs = try sh("bsdtar -tvf \(reference) | grep ' packs/' | awk '{print $5}' | sort -n").split(separator: "\n").compactMap { Int($0) }
        #expect(packs.count == 5 && size > 4 * 8_500_000, "packs \(packs), bundle \(size) bytes")
        let largest = packs.last ?? 0

        let mnt = s.at("small-fs")
        try sh("mkdir \(mnt) && mount -t tmpfs -o size=\(size / 2 / 1024)k tmpfs \(mnt)")
        defer { _ = try? sh("umount \(mnt)") }
        let out = mnt + "/feeds.bundle"
        let env = ["SOURCE_DATE_EPOCH": "1722470400"]
        let r = try bundlectl("build", spec, "--key", key, "--output", out, "--level", "3", env: env)
        #expect(r.status == 3, "\(r.text)")
        #expect(r.err.contains("no space left on device") && r.err.split(separator: "\n").count == 1, "\(r.err)")
        #expect(try sh("ls -A \(mnt)") == "", "no bundle and no scratch are left")
        #expect(try sh("df --output=used \(mnt) | tail -1").trimmingCharacters(in: .whitespacesAndNewlines) == "0")

        // An earlier bundle at the output survives a rebuild (--force) that runs out of space.
        try sh("head -c 100000 /dev/urandom > \(out)")
        let kept = try sh("sha256sum < \(out)")
        let f = try bundlectl("build", spec, "--key", key, "--output", out, "--force", "--level", "3", env: env)
        #expect(f.status == 3 && f.err.contains("no space left on device"), "\(f.text)")
        #expect(try sh("sha256sum < \(out)") == kept)
        #expect(try sh("ls -A \(mnt)") == "feeds.bundle\n")
        try sh("rm \(out)")

        // Room for the bundle, its largest pack and 1 MiB (the index, the manifest, tmpfs's
        // pages): each pack's scratch copy goes once it is in the bundle, so the build fits,
        // where keeping every pack until the end would need twice the bundle. The same bytes.
        try sh("mount -o remount,size=\((size + largest) / 1024 + 1024)k \(mnt)")
        let ok = try bundlectl("build", spec, "--key", key, "--output", out, "--level", "3", env: env)
        #expect(ok.status == 0, "\(ok.text)")
        #expect(try sh("sha256sum < \(out)") == sh("sha256sum < \(reference)"))
        #expect(try sh("ls -A \(mnt)") == "feeds.bundle\n")
    }
}
