import BundleFormat
@testable import Media
@testable import MediaWrite
import Support
import Testing

@Suite("VolumeSet: judging volumes checked alone as one set")
struct VolumeSetTests {
    let key: TestKey
    let plan: VolumePlan
    /// Volumes 1, 2, 3 of one split, intact.
    let volumes: [VolumeCheck]

    init() throws {
        key = try TestKey(seed: 5)
        plan = try threeVolumePlan()
        volumes = try checkedVolumes(plan, key: key)
    }

    /// The findings as the lines `media verify` prints.
    func lines(_ set: VolumeSet) -> [String] { set.findings.map(set.describe) }

    @Test("all volumes in any order make a complete set")
    func complete() {
        let set = VolumeSet([volumes[2], volumes[0], volumes[1]])
        #expect(set.isComplete && set.findings.isEmpty)
        #expect(set.key?.count == 3 && set.key?.bundle == plan.bundle)
        #expect(set.volumes.keys.sorted() == [1, 2, 3])
        #expect(set.volumes[1]?.source == volumes[0].source)
    }

    @Test("a missing volume is named by number")
    func missing() {
        let set = VolumeSet([volumes[0], volumes[2]])
        #expect(!set.isComplete)
        #expect(lines(set) == ["MISSING    2/3  volume 2 of 3 was not found"])
        #expect(set.problemSummary() == "missing volume 2 of 3")
        #expect(set.status == .refused)
    }

    @Test("an identical second copy is noted and one used; a second volume with another label is a duplicate")
    func duplicate() {
        var copy = volumes[1]
        copy.source = "/media/other/" + plan.volumes[1].volumeName
        let set = VolumeSet(volumes + [copy])
        #expect(set.isComplete && set.findings.isEmpty)
        #expect(set.volumes[2]?.source == volumes[1].source)
        #expect(set.copies.map(\.copy.source) == [copy.source])
        #expect(set.describe(set.copies[0]) == "COPY       2/3  \(copy.source): an identical copy of \(volumes[1].source) (same label and payload); one is used")
        #expect(set.candidates(2).map(\.source) == [volumes[1].source, copy.source])

        var other = copy
        other.signed!.label.payload = digest("another payload")
        let mixed = VolumeSet(volumes + [other])
        #expect(lines(mixed) == ["DUPLICATE  2/3  \(other.source): another volume 2 than \(volumes[1].source), with another label: which one is right cannot be told"])
        #expect(!mixed.isComplete && mixed.copies.isEmpty)
    }

    @Test("labels signed by a key not given are untrusted, once for the set, and neither damaged nor missing")
    func untrusted() {
        let checks = volumes.map { v -> VolumeCheck in
            var c = v
            c.signer = nil
            c.untrustedBy = "0123456789ABCDEF"
            c.problem = "the label is signed by key 0123456789ABCDEF, which is not trusted"
            return c
        }
        let set = VolumeSet(checks)
        #expect(set.onlyUntrusted && !set.isComplete && set.untrustedSigners == ["0123456789ABCDEF"])
        #expect(lines(set) == ["UNTRUSTED  volumes 1-3 of 3  labels signed by key 0123456789ABCDEF, which is not trusted: \(checks.map(\.source).joined(separator: ", "))"])
        #expect(set.problemSummary() == "untrusted: the labels of volumes 1-3 of 3 are signed by key 0123456789ABCDEF, which is not trusted")
        let some = VolumeSet([volumes[0], checks[1]])
        #expect(!some.onlyUntrusted && lines(some).count == 2, "volume 3 is missing: \(lines(some))")
    }

    @Test("a volume of another bundle or another split is foreign; the larger set is the one meant")
    func foreign() throws {
        let other = try checkedVolumes(threeVolumePlan(name: "other", sequence: 3), key: key)
        let set = VolumeSet(volumes + [other[0]])
        #expect(set.key?.bundle == plan.bundle)
        #expect(set.findings.count == 1)
        guard case .foreign(let c, let k)? = set.findings.first else { Issue.record("\(lines(set))"); return }
        #expect(c.source == other[0].source && k.bundle.name == "other")
        #expect(set.problemSummary() == "foreign: \(other[0].source) belongs to other sequence 3 (feeds-7.bundle)")
        // The same bundle split again with other payloads is another set: said to be another split.
        let resplit = try checkedVolumes(plan, key: key, payloads: (1...3).map { digest("other payload \($0)") })
        let split = VolumeSet(volumes + [resplit[1]])
        #expect(split.findings.count == 1)
        #expect(lines(split)[0].contains("a volume of the same bundle split another way (written with another --volume-size"), "\(lines(split))")
        #expect(split.problemSummary().contains("is of another split of the same bundle (another --volume-size; splits must not be mixed)"))
    }

    @Test("sets in equal numbers are ambiguous: no set is chosen")
    func ambiguous() throws {
        let other = try checkedVolumes(threeVolumePlan(name: "other", sequence: 3), key: key)
        let set = VolumeSet([volumes[0], other[0]])
        #expect(set.key == nil && !set.isComplete)
        #expect(lines(set).count == 1 && lines(set)[0].hasPrefix("AMBIGUOUS  volumes of 2 sets in equal numbers"))
    }

    @Test("a damaged volume is named, not also missing; an unlabelled one is known by its file name")
    func damaged() {
        var bad = volumes[1]
        bad.problem = "payload digest differs from its signed label: the data is damaged"
        var unlabelled = VolumeCheck(source: "/media/disc/" + plan.volumes[2].volumeName, size: 12)
        unlabelled.problemStatus = .refused
        let set = VolumeSet([volumes[0], bad, unlabelled])
        #expect(lines(set) == [
            "DAMAGED    3/3  \(unlabelled.source): no volume label at its end (truncated or overwritten)",
            "DAMAGED    2/3  \(bad.source): payload digest differs from its signed label: the data is damaged",
        ])
        #expect(set.volumes.keys.sorted() == [1])
    }

    @Test("only environment problems (an unreadable file) give the environment's exit status")
    func status() {
        var unreadable = volumes[1]
        unreadable.problem = "cannot open: permission denied"
        unreadable.problemStatus = .environment
        #expect(VolumeSet([volumes[0], unreadable, volumes[2]]).status == .environment)
        #expect(VolumeSet([volumes[0], unreadable]).status == .refused)
    }

    @Test("labels that lie about the range or the set are inconsistent")
    func inconsistent() {
        var shifted = volumes[1]
        shifted.signed!.label.offset += 4096
        #expect(lines(VolumeSet([volumes[0], shifted, volumes[2]])).contains {
            $0.hasPrefix("DAMAGED    2/3  \(shifted.source): its range 1048576+1044480 does not follow the set's 1044480-byte volumes")
        })
        var otherPayload = volumes[2]
        otherPayload.signed!.label.payload = digest("forged")
        #expect(lines(VolumeSet([volumes[0], volumes[1], otherPayload])) == [
            "DAMAGED    1/3  \(volumes[0].source): the set digest in the labels does not match the volumes' payload digests",
        ])
    }

    @Test("the pieces of the judgement: grouping, the leading set, numbers by name")
    func pieces() throws {
        let other = try checkedVolumes(threeVolumePlan(name: "other", sequence: 3), key: key)
        let unlabelled = VolumeCheck(source: "image.iso:feeds-7.02of03.vol", size: 0)
        let (groups, rest) = VolumeSet.group(volumes + other.prefix(2) + [unlabelled])
        #expect(groups.count == 2 && rest.map(\.source) == [unlabelled.source])
        let leader = try #require(VolumeSet.leader(groups))
        #expect(leader.0.bundle.name == "feeds" && leader.1.map(\.source) == volumes.map(\.source))
        #expect(VolumeSet.leader([:]) == nil)
        #expect(VolumeSet.numberByName(unlabelled, leader.0) == 2)
        #expect(VolumeSet.numberByName(VolumeCheck(source: "/x/feeds-7.04of03.vol", size: 0), leader.0) == nil)
        #expect(VolumeSet.numberByName(VolumeCheck(source: "/x/xfeeds-7.01of03.vol", size: 0), leader.0) == nil)
    }

    @Test("volume numbers in messages: runs of three or more as ranges, bounded", arguments: [
        ([1, 2, 3, 5, 6], "1-3, 5, 6"), ([4], "4"), ([1, 2], "1, 2"), ([7, 1, 2, 3, 4, 9], "1-4, 7, 9"),
        ([1, 3, 5, 7, 9, 11, 13], "1, 3, 5, 7, 9, and 2 more"),
    ])
    func numberList(_ numbers: [Int], _ shown: String) {
        #expect(VolumeSet.numberList(Set(numbers)) == shown)
    }
}
