@testable import Apply
import BundleFormat
import Support
import Testing

@Suite("Admission: which bundles a mirror accepts, and why not")
struct AdmissionTests {
    let now: Int64 = 1_800_000_000

    func admission(channel: String? = "feeds", highest: Int64? = 2, current: Admission.Current? = nil,
                   allowExpired: Bool = false) -> Admission {
        Admission(state: MirrorState(channel: channel, highestSequence: highest, versions: []), current: current,
                  mirrorID: "m1", allowExpired: allowExpired, now: now)
    }

    @Test("a newer full bundle of the channel is admitted; so is any first bundle")
    func admitted() throws {
        try admission().check(Fixture.manifest(sequence: 3))
        try admission(channel: nil, highest: nil).check(Fixture.manifest(name: "other", sequence: 1))
    }

    @Test("another channel is refused")
    func channel() {
        #expect(Fixture.refusal { try admission().check(Fixture.manifest(name: "other", sequence: 3)) }
            == "bundle 'other' is for another channel; this mirror follows 'feeds'")
    }

    @Test("a tree or index above the limits is refused from the signed figures, naming the flag")
    func cost() throws {
        var a = admission()
        a.limits = ApplyLimits(maxFiles: 10, maxIndexBytes: 100)
        var m = Fixture.manifest(sequence: 3)
        m.treeFiles = 10
        m.index.uncompressed = 100
        try a.check(m)
        m.treeFiles = 11
        #expect(Fixture.refusal { try a.check(m) }
            == "bundle 'feeds' sequence 3 lists 11 files, more than this mirror's limit of 10; raise it with --max-files if this is expected")
        m.treeFiles = 10
        m.index.uncompressed = 101
        #expect(Fixture.refusal { try a.check(m) }
            == "bundle 'feeds' sequence 3 has a 101-byte index, more than this mirror's limit of 100 bytes; raise it with --max-index-bytes if this is expected")
        #expect(ApplyLimits.defaults == ApplyLimits(maxFiles: 1_000_000, maxIndexBytes: 256 << 20))
    }

    @Test("a replayed or older sequence is refused", arguments: [Int64(1), 2])
    func replay(_ sequence: Int64) {
        #expect(Fixture.refusal { try admission().check(Fixture.manifest(sequence: sequence)) }
            == "bundle 'feeds' has sequence \(sequence), but this mirror has already applied sequence 2: replayed or older bundles are refused (`mirrorctl rollback` or `mirrorctl switch` goes back to a retained version)")
    }

    @Test("a replay of a retained version names switch and repair")
    func replayRetained() {
        var a = admission()
        a.state.versions = ["1-0123456789ab", "2-0123456789ab"]
        #expect(Fixture.refusal { try a.check(Fixture.manifest(sequence: 1)) }
            == "bundle 'feeds' has sequence 1, but this mirror has already applied sequence 2: replayed or older bundles are refused (version 1 is retained here: `mirrorctl switch 1` makes it current again, and `mirrorctl repair` rebuilds it if damaged)")
    }

    @Test("an expired bundle is refused unless allowed; one expiring later is admitted")
    func expired() throws {
        let m = Fixture.manifest(sequence: 3, expires: now)
        #expect(Fixture.refusal { try admission().check(m) }
            == "bundle 'feeds' sequence 3 expired at \(Timestamp.format(now)); pass --allow-expired to apply it anyway")
        #expect(Timestamp.format(now) == "2027-01-15T08:00:00Z")
        try admission(allowExpired: true).check(m)
        try admission().check(Fixture.manifest(sequence: 3, expires: now + 1))
    }

    @Test("a delta made from another mirror's receipt is refused")
    func otherMirror() {
        let m = Fixture.manifest(sequence: 3, base: Fixture.base(sequence: 2, tree: Fixture.digest("t"), mirror: "m2"))
        #expect(Fixture.refusal { try admission(current: .init(sequence: 2, tree: Fixture.digest("t"))).check(m) }
            == "this delta was built from the receipt of mirror m2; this is mirror m1")
    }

    @Test("a delta needs a current version")
    func noCurrent() {
        let base = Fixture.base(sequence: 2, tree: Fixture.digest("t"))
        #expect(Fixture.refusal { try admission().check(Fixture.manifest(sequence: 3, base: base)) }
            == "this delta needs base \(base.description), but the mirror has no version yet: apply a full bundle first")
        #expect(base.description.hasPrefix("feeds sequence 2 (manifest sha256:"))
    }

    @Test("a delta of another tree, or another channel's tree, is refused; of the current tree it is admitted")
    func wrongBase() throws {
        let tree = Fixture.digest("t")
        let current = Admission.Current(sequence: 1, tree: Fixture.digest("other tree"))
        let base = Fixture.base(sequence: 2, tree: tree, mirror: "m1")
        #expect(Fixture.refusal { try admission(current: current).check(Fixture.manifest(sequence: 3, base: base)) }
            == "this delta needs base \(base.description), but the mirror's current version is sequence 1 (tree sha256:\(current.tree.hex)): apply the missing bundles or a full bundle")
        let foreign = Fixture.base(name: "elsewhere", sequence: 2, tree: tree)
        #expect(Fixture.refusal { try admission(current: .init(sequence: 2, tree: tree)).check(Fixture.manifest(sequence: 3, base: foreign)) }?
            .hasPrefix("this delta needs base elsewhere sequence 2") == true)
        try admission(current: .init(sequence: 2, tree: tree)).check(Fixture.manifest(sequence: 3, base: base))
    }

    @Test("every failed check is named, in order: channel, replay, expiry, cost, mirror, base")
    func everyReason() {
        let base = Fixture.base(sequence: 2, tree: Fixture.digest("t"), mirror: "m2")
        var a = admission(current: .init(sequence: 2, tree: Fixture.digest("other")))
        a.limits = ApplyLimits(maxFiles: 0, maxIndexBytes: 100)
        var everything = Fixture.manifest(name: "other", sequence: 1, expires: now - 1, base: base)
        everything.treeFiles = 1
        #expect(Fixture.refusal { try a.check(everything) } == "bundle 'other' sequence 1 is refused for 6 reasons: "
            + "1) it is for channel 'other', and this mirror follows 'feeds'; "
            + "2) its sequence 1 is not above 2, the highest this mirror has applied (replayed or older bundles are refused; `mirrorctl rollback` or `mirrorctl switch` goes back to a retained version); "
            + "3) it expired at \(Timestamp.format(now - 1)) (--allow-expired applies it anyway); "
            + "4) it lists \(everything.treeFiles) files, more than this mirror's limit of 0 (raise it with --max-files if this is expected); "
            + "5) it is a delta built from the receipt of mirror m2, and this is mirror m1; "
            + "6) it is a delta that needs base \(base.description), but the mirror's current version is sequence 2 (tree sha256:\(Fixture.digest("other").hex)): apply the missing bundles or a full bundle")
        let replayedAndExpired = Fixture.manifest(sequence: 1, expires: now - 1)
        #expect(Fixture.refusal { try admission().check(replayedAndExpired) }?.hasPrefix("bundle 'feeds' sequence 1 is refused for 2 reasons: 1) its sequence 1 is not above 2") == true)
    }

    @Test("a bundle whose signatures do not count: its decisive facts come first, the signatures last; alone, the signatures' own sentence")
    func unverified() {
        let signatures = ToolError.refused("the MANIFEST of 'b' is signed by 1 trusted key (A), but the trust policy needs 2 of 2 (A, B): 1 more signature needed")
        let old = Fixture.manifest(sequence: 1, expires: now + 1)
        #expect(admission().refusal(unverified: old, signatures: signatures).message == "bundle 'feeds' sequence 1 is refused for 2 reasons: "
            + "1) its sequence 1 is not above 2, the highest this mirror has applied (replayed or older bundles are refused; `mirrorctl rollback` or `mirrorctl switch` goes back to a retained version); "
            + "2) \(signatures.message)")
        // Cost and base are not decisive facts: only the signatures are named.
        let newer = Fixture.manifest(sequence: 3, base: Fixture.base(sequence: 2, tree: Fixture.digest("t"), mirror: "m2"))
        #expect(admission().refusal(unverified: newer, signatures: signatures).message == signatures.message)
    }
}
