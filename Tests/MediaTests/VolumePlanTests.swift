import BundleFormat
@testable import Media
@testable import MediaWrite
import Support
import Testing

@Suite("VolumePlan: how a bundle is split for a medium")
struct VolumePlanTests {
    /// Figures worked out by hand: payload = (file limit - 4096) rounded down to 4 KiB; a named
    /// disc leaves 4 MiB for the burner's file system without --iso; with --iso the image keeps
    /// 128 KiB plus 8 KiB per 4 GiB extent for its structure.
    @Test("payload bytes per volume for named and custom sizes", arguments: [
        ("fat32", false, Int64(4_294_967_295), Int64(4_294_959_104)),
        ("fat32", true, 4_294_967_295, 4_294_819_840),
        ("cd", false, 733_085_696, 733_081_600),
        ("dvd", false, 4_695_805_696, 4_695_797_760),
        ("dvd", true, 4_700_000_000, 4_699_844_608),
        ("bd25", true, 25_025_314_816, 25_025_130_496),
        ("700M", false, 734_003_200, 733_999_104),
        ("700M", true, 734_003_200, 733_859_840),
        ("1M", false, 1_048_576, 1_044_480),
        ("1M", true, 1_048_576, 905_216),
    ])
    func stride(size: String, iso: Bool, fileLimit: Int64, stride: Int64) throws {
        let plan = try VolumePlan(bundle: bundle(size: 5 << 30), size: VolumeSize.parse(size), iso: iso)
        #expect(plan.fileLimit == fileLimit)
        #expect(plan.stride == stride)
        #expect(plan.stride % 4096 == 0)
        #expect(plan.volumes.allSatisfy { $0.volumeFileSize <= plan.volumeFileLimit })
    }

    @Test("the volumes cover the bundle once, in order, full but for the last")
    func ranges() throws {
        for size: Int64 in [1, 4095, 1_044_479, 1_044_480, 1_044_481, 7_000_001, 3 * 1_044_480] {
            let plan = try VolumePlan(bundle: bundle(size: size), size: VolumeSize(bytes: 1 << 20), iso: false)
            #expect(plan.count == Int((size + 1_044_479) / 1_044_480))
            var next: Int64 = 0
            for v in plan.volumes {
                #expect(v.offset == next)
                #expect(v.length == (v.number == plan.count ? size - next : plan.stride))
                #expect(v.length >= 1 && v.volumeFileSize <= 1 << 20)
                next += v.length
            }
            #expect(next == size)
        }
    }

    @Test("exact fit is one volume of the whole bundle; one byte over adds a 1-byte volume")
    func exactFit() throws {
        let size = VolumeSize(bytes: 1 << 20)
        let fit = try VolumePlan(bundle: bundle(size: 1_044_480), size: size, iso: false)
        #expect(fit.count == 1 && fit.volumes[0].volumeFileSize == 1 << 20)
        let over = try VolumePlan(bundle: bundle(size: 1_044_481), size: size, iso: false)
        #expect(over.volumes.map(\.length) == [1_044_480, 1])
        #expect(over.volumes.map(\.fileName) == ["feeds-7.01of02.vol", "feeds-7.02of02.vol"])
    }

    @Test("9999 volumes at most; the error names the figures and the way out")
    func manyVolumes() throws {
        let size = VolumeSize(bytes: 1 << 20)
        let most = try VolumePlan(bundle: bundle(size: 1_044_480 * 9999), size: size, iso: false)
        #expect(most.count == 9999)
        #expect(most.volumes.last!.fileName == "feeds-7.9999of9999.vol")
        #expect(most.volumes[0].fileName == "feeds-7.0001of9999.vol")
        let error = #expect(throws: ToolError.self) { try VolumePlan(bundle: bundle(size: 1_044_480 * 9999 + 1), size: size, iso: false) }
        #expect(error?.status == .usage)
        #expect(error?.message == "10,443,755,521 bytes in volumes of 1,044,480 would make 10000 volumes; at most 9999: choose a larger --volume-size")
    }

    @Test("label overhead: 4 KiB a volume plain; with --iso, room for each image and one temporary copy")
    func overhead() throws {
        let b = bundle(size: 7_000_001)
        let plain = try VolumePlan(bundle: b, size: VolumeSize(bytes: 1 << 20), iso: false)
        #expect(plain.count == 7)
        #expect(plain.bytesNeeded == 7_000_001 + 7 * 4096)
        #expect(plain.volumes.reduce(0) { $0 + $1.volumeFileSize } == 7_000_001 + 7 * 4096)
        let iso = try VolumePlan(bundle: b, size: VolumeSize(bytes: 1 << 20), iso: true)
        #expect(iso.count == 8)
        #expect(iso.bytesNeeded == 7_000_001 + 8 * (128 * 1024 + 8192) + 905_216)
    }

    @Test("with --iso: image names, the disc label within 32 characters, large files past 4 GiB")
    func images() throws {
        let plan = try VolumePlan(bundle: bundle(size: 5_000_000, name: "feeds.daily-eu"), size: VolumeSize(bytes: 1 << 20), iso: true)
        #expect(plan.volumes[1].fileName == "feeds.daily-eu-7.02of06.iso")
        #expect(plan.volumes[1].volumeName == "feeds.daily-eu-7.02of06.vol")
        #expect(plan.volumes[1].discLabel == "FEEDS_DAILY_EU_7_2OF6")
        #expect(plan.volumes.allSatisfy { !$0.needsLargeFiles })
        #expect(VolumePlan.discLabel(name: String(repeating: "a", count: 40), sequence: 123, number: 10, count: 12)
                == String(repeating: "A", count: 25) + "_10OF12")
        let bd = try VolumePlan(bundle: bundle(size: 30 << 30), size: VolumeSize.parse("bd25"), iso: true)
        #expect(bd.volumes[0].needsLargeFiles && bd.volumes[0].volumeFileSize <= bd.volumeFileLimit)
        let plain = try VolumePlan(bundle: bundle(size: 5_000_000), size: VolumeSize(bytes: 1 << 20), iso: false)
        #expect(plain.volumes.allSatisfy { $0.discLabel == nil })
    }

    @Test("the bundle's own file name in the labels, unless too long or with control characters")
    func labelFileName() {
        #expect(VolumePlan.labelFileName(bundlePath: "/in/feeds-2026.06.bundle", name: "feeds", sequence: 7) == "feeds-2026.06.bundle")
        #expect(VolumePlan.labelFileName(bundlePath: "/in/" + String(repeating: "x", count: 120), name: "feeds", sequence: 7).count == 120)
        #expect(VolumePlan.labelFileName(bundlePath: "/in/" + String(repeating: "x", count: 121), name: "feeds", sequence: 7) == "feeds-7.bundle")
        #expect(VolumePlan.labelFileName(bundlePath: "/in/a\nb.bundle", name: "feeds", sequence: 7) == "feeds-7.bundle")
        #expect(VolumePlan.labelFileName(bundlePath: "/in/a\u{7F}.bundle", name: "feeds", sequence: 7) == "feeds-7.bundle")
    }

    @Test("labels: ranges from the plan, one set digest over every payload, the first length as stride")
    func labels() throws {
        let plan = try threeVolumePlan()
        let payloads = (1...3).map { digest("p\($0)") }
        let labels = plan.labels(payloads: payloads)
        #expect(labels.map(\.number) == [1, 2, 3] && labels.allSatisfy { $0.count == 3 })
        #expect(labels.map(\.offset) == plan.volumes.map(\.offset) && labels.map(\.length) == plan.volumes.map(\.length))
        #expect(labels.map(\.payload) == payloads)
        let set = VolumeLabel.setDigest(bundle: plan.bundle, count: 3, stride: 1_044_480, payloads: payloads)
        #expect(labels.allSatisfy { $0.set == set })
        #expect(plan.labels(payloads: [payloads[1], payloads[0], payloads[2]])[0].set != set)
        // One volume: the stride in the set digest is the bundle's size, not the medium's.
        let one = try VolumePlan(bundle: bundle(size: 10), size: VolumeSize(bytes: 1 << 20), iso: false)
        #expect(one.labels(payloads: [payloads[0]])[0].set == VolumeLabel.setDigest(bundle: one.bundle, count: 1, stride: 10, payloads: [payloads[0]]))
    }

    @Test("what the plan writes, the set judgement accepts as complete")
    func planMakesACompleteSet() throws {
        let set = VolumeSet(try checkedVolumes(threeVolumePlan(), key: TestKey(seed: 1)))
        #expect(set.isComplete, "\(set.findings.map(set.describe))")
        #expect(set.volumes.count == 3)
    }
}
