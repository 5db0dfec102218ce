import Foundation
import Testing

/// README's media workflow as the operator, the media officer and the enclave admin follow it:
/// the operator signs bundles with ops.key, the media officer writes volumes with media.key.
/// The bundle is 5.8 MB of random bytes, six 1 MiB volumes in `vols`.
struct MediaDay {
    let s: Scratch
    let ops: (key: String, pub: String)
    let media: (key: String, pub: String)
    let feed: String
    let bundle: String
    let vols: String
    /// The key ids, as the tools print them.
    let opsID: String, mediaID: String

    init(sequence: Int = 7, bytes: Int = 5_800_000) throws {
        s = try Scratch()
        ops = try s.key("ops")
        media = try s.key("media")
        opsID = try MediaDay.id(ops.pub)
        mediaID = try MediaDay.id(media.pub)
        feed = s.at("feed")
        try sh("mkdir -p \(feed) && head -c \(bytes) /dev/urandom > \(feed)/blob.bin")
        bundle = try s.build(try s.spec(sequence: sequence, sources: [("blob", "advisories", feed)]), key: ops.key, output: "feeds.bundle")
        vols = try MediaDay.write(s, bundle, to: "vols", key: media.key)
    }

    /// Writes `bundle`'s volumes into a new folder `name` and returns its path.
    static func write(_ s: Scratch, _ bundle: String, to name: String, key: String, size: String = "1M") throws -> String {
        let r = try bundlectl("media", "write", bundle, "--to", s.at(name), "--create", "--volume-size", size, "--key", key)
        #expect(r.status == 0, "\(r.text)")
        return s.at(name)
    }

    static func id(_ pub: String) throws -> String {
        try sh("head -1 \(pub) | sed 's/.* //'").trimmingCharacters(in: .whitespacesAndNewlines)
    }

    func volume(_ n: Int, of count: Int = 6, in dir: String? = nil) -> String {
        (dir ?? vols) + "/feeds-7.0\(n)of0\(count).vol"
    }

    /// A mirror that trusts ops.pub for bundles and, with `mediaKey`, media.pub for labels.
    func mirror(_ name: String = "mirror", mediaKey: Bool = true) throws -> String {
        let m = s.at(name)
        let r = try mirrorctl(["init", "--mirror", m, "--trust", ops.pub] + (mediaKey ? ["--media-key", media.pub] : []))
        #expect(r.status == 0, "\(r.text)")
        return m
    }

    func journal(_ m: String) throws -> String { try sh("cat \(m)/journal.jsonl") }
}

@Suite("The media day: media keys, resumed sets, untrusted labels, copies and other splits (issue 13)")
struct MediaUserDayTests {
    // MARK: Item 1: the mirror trusts its media keys

    @Test("README's workflow: labels by the media key are UNTRUSTED until the mirror has it; then they apply")
    func mediaKeyWorkflow() throws {
        let d = try MediaDay()
        let m = try d.mirror(mediaKey: false)
        let before = try MirrorSnapshot(m)
        let refused = try mirrorctl(["apply", d.vols, "--mirror", m])
        #expect(refused.status == 1, "\(refused.text)")
        #expect(refused.err == "mirrorctl: the volumes of feeds sequence 7 (feeds.bundle) are UNTRUSTED, not damaged: their labels are signed by key \(d.mediaID), but this mirror trusts labels by its bundle signers (\(d.opsID)) and media keys (none); nothing was changed; if that is the media officer's key, add it: mirrorctl media-key add KEY.pub --mirror \(m)\n", "\(refused.err)")
        #expect(!refused.err.contains("complete, intact set"), "not reported as damaged")
        #expect(try MirrorSnapshot(m) == before)
        #expect(!FileManager.default.fileExists(atPath: m + "/incoming"), "nothing was copied")
        #expect(!(try sh("cat \(m)/mirror.json")).contains("mediaKeys"), "a mirror without media keys keeps the file it had")

        let added = try mirrorctl("media-key", "add", d.media.pub, "--mirror", m)
        #expect(added.status == 0, "\(added.text)")
        #expect(value(added.out, "added") == "media key \(d.mediaID)", "\(added.out)")
        let entry = try sh("tail -1 \(m)/journal.jsonl")
        #expect(entry.contains("\"action\":\"add\",\"event\":\"media-key\"") && entry.contains("\"key\":\"\(d.mediaID)\""), "journaled: \(entry)")
        #expect(try mirrorctl("log", "--mirror", m).out.contains("media-key add \(d.mediaID): media keys now [\(d.mediaID)]"))
        #expect(value(try mirrorctl("status", "--mirror", m).out, "media keys") == "\(d.mediaID) (volume labels only)")
        #expect(try mirrorctl("status", "--mirror", m, "--json").out.contains("\"mediaKeys\":[\"\(d.mediaID)\"]"))

        let applied = try mirrorctl(["apply", d.vols, "--mirror", m])
        #expect(applied.status == 0, "\(applied.text)")
        #expect(applied.out.contains("labels signed by \(d.mediaID) (media key)"), "\(applied.out)")
        #expect(value(applied.out, "signed by")?.hasPrefix(d.opsID) == true, "the bundle is judged by its own signature: \(applied.out)")
        #expect(try sameTree(m + "/current/advisories/blob", d.feed))

        // init --media-key does the same from the start; the key can be removed again, journaled.
        let fresh = try d.mirror("fresh")
        #expect(try mirrorctl(["apply", d.vols, "--mirror", fresh]).status == 0)
        let removed = try mirrorctl("media-key", "remove", d.mediaID, "--mirror", fresh)
        #expect(removed.status == 0 && value(removed.out, "media keys") == "none", "\(removed.text)")
        #expect(try d.journal(fresh).contains("\"action\":\"remove\",\"event\":\"media-key\""))
        #expect(try mirrorctl("log", "--mirror", fresh).out.contains("media keys [\(d.mediaID)]"), "init's line names them")
    }

    @Test("media keys are refused when ambiguous: given twice, added twice, removed when absent (exit 2, nothing changed)")
    func mediaKeyRefusals() throws {
        let d = try MediaDay(bytes: 100_000)
        let twice = try mirrorctl("init", "--mirror", d.s.at("m2"), "--trust", d.ops.pub, "--media-key", d.media.pub, "--media-key", d.media.pub)
        #expect(twice.status == 2 && twice.err.contains("media key \(d.mediaID) is given twice"), "\(twice.text)")
        #expect(!FileManager.default.fileExists(atPath: d.s.at("m2/mirror.json")))
        let m = try d.mirror()
        let config = try sh("cat \(m)/mirror.json"), journal = try d.journal(m)
        let again = try mirrorctl("media-key", "add", d.media.pub, "--mirror", m)
        #expect(again.status == 2 && again.err.contains("is already trusted by this mirror"), "\(again.text)")
        let absent = try mirrorctl("media-key", "remove", "0123456789ABCDEF", "--mirror", m)
        #expect(absent.status == 2 && absent.err.contains("this mirror has no media key 0123456789ABCDEF (media keys: \(d.mediaID))"), "\(absent.text)")
        #expect(try sh("cat \(m)/mirror.json") == config && (try d.journal(m)) == journal)
        // A bundle signer as a media key is fine: it signs labels either way.
        let both = try mirrorctl("media-key", "add", d.ops.pub, "--mirror", m)
        #expect(both.status == 0 && both.out.contains("(also a bundle signer of the trust policy)"), "\(both.text)")
    }

    @Test("attack: a media key never lets a bundle in; its labels are accepted, the bundle's signatures decide")
    func mediaKeyIsNotABundleSigner() throws {
        let d = try MediaDay(bytes: 100_000)
        let m = try d.mirror()
        let before = try MirrorSnapshot(m)
        // The media officer builds and signs a bundle alone, and writes its volumes.
        let spec = try d.s.spec("evil.yaml", sequence: 9, sources: [("blob", "advisories", d.feed)])
        let evil = try d.s.build(spec, key: d.media.key, output: "evil.bundle")
        let evilVols = try MediaDay.write(d.s, evil, to: "evil-vols", key: d.media.key)
        let r = try mirrorctl(["apply", evilVols, "--mirror", m])
        #expect(r.status == 1, "\(r.text)")
        #expect(r.err.contains("is signed by no trusted key, but the trust policy needs 1 of 1"), "the labels got it as far as the signature check: \(r.err)")
        #expect(r.err.contains("\(d.mediaID) is a media key of this mirror: it lets volumes be copied in, but never counts for a bundle"), "\(r.err)")
        #expect(try MirrorSnapshot(m) == before)
        #expect(!FileManager.default.fileExists(atPath: m + "/incoming"), "the refused bundle keeps no space")
        #expect(try mirrorctl(["apply", evil, "--mirror", m]).status == 1, "nor as a bundle file")

        // Nor does it count as a co-signature toward a threshold of 2.
        let (_, officer2) = try d.s.key("officer2")
        let m2 = d.s.at("m2")
        #expect(try mirrorctl("init", "--mirror", m2, "--trust", d.ops.pub, "--trust", officer2, "--threshold", "2", "--media-key", d.media.pub).status == 0)
        #expect(try bundlectl("sign", d.bundle, "--key", d.media.key).status == 0)
        let cosigned = try MediaDay.write(d.s, d.bundle, to: "cosigned", key: d.media.key)
        let short = try mirrorctl(["apply", cosigned, "--mirror", m2])
        #expect(short.status == 1 && short.err.contains("1 more signature needed"), "\(short.text)")
        #expect(!FileManager.default.fileExists(atPath: m2 + "/current"))
    }

    // MARK: Item 4: the replacement alone completes the set

    @Test("a damaged volume mid-apply: the others are kept, and the replacement stick alone completes the set")
    func replacementAlone() throws {
        let d = try MediaDay()
        let m = try d.mirror()
        let good4 = d.s.at("good4.vol")
        try sh("cp \(d.volume(4)) \(good4)")
        try flipByte(d.volume(4), at: 5000)
        let first = try mirrorctl(["apply", d.vols, "--mirror", m])
        #expect(first.status == 1)
        #expect(first.err == "mirrorctl: volume 4 of 6 of feeds sequence 7 (feeds.bundle), '\(d.volume(4))', is damaged: payload digest differs from its signed label: the data is damaged; nothing was changed; volume(s) 1-3, 5, 6 are already checked and copied, and are not read again when you run this again: a good copy of volume 4 alone completes the set\n", "\(first.err)")
        #expect(!FileManager.default.fileExists(atPath: m + "/current"))

        let stick = d.s.at("stick4")
        try sh("mkdir \(stick) && cp \(good4) \(stick)/feeds-7.04of06.vol")
        let second = try mirrorctl(["apply", stick, "--mirror", m])
        #expect(second.status == 0, "\(second.text)")
        #expect(value(second.out, "read") == "1 volume(s), 1,044,480 bytes; volume(s) 1, 2, 3, 5, 6 already checked and copied by an earlier run, not read again", "\(second.out)")
        let sum = try sh("sha256sum \(d.bundle) | cut -c1-64").trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(second.out.contains("sha256:\(sum) (reassembled from its volumes)"), "\(second.out)")
        #expect(try sameTree(m + "/current/advisories/blob", d.feed))
        #expect(try mirrorctl("verify", "--mirror", m).status == 0)
        #expect(!FileManager.default.fileExists(atPath: m + "/incoming"))
    }

    @Test("a kept copy is checked again before use: one changed since is refused by name, and read again when given")
    func keptCopyRechecked() throws {
        let d = try MediaDay()
        let m = try d.mirror()
        try sh("cp \(d.volume(4)) \(d.s.at("good4.vol"))")
        try flipByte(d.volume(4), at: 5000)
        #expect(try mirrorctl(["apply", d.vols, "--mirror", m]).status == 1)
        // Byte 1,044,480 + 10 of the kept bundle lies in volume 2.
        let kept = try sh("ls \(m)/incoming/*/bundle/feeds.bundle").trimmingCharacters(in: .whitespacesAndNewlines)
        try flipByte(kept, at: 1_044_490)
        let stick = d.s.at("stick4")
        try sh("mkdir \(stick) && cp \(d.s.at("good4.vol")) \(stick)/feeds-7.04of06.vol")
        let refused = try mirrorctl(["apply", stick, "--mirror", m])
        #expect(refused.status == 1, "\(refused.text)")
        #expect(refused.err.contains("volume 2 of 6 of feeds sequence 7 (feeds.bundle), the copy an earlier run kept, is damaged: payload digest differs"), "\(refused.err)")
        #expect(refused.err.contains("a good copy of volume 2 alone completes the set"), "volume 4 was kept this time: \(refused.err)")
        #expect(!FileManager.default.fileExists(atPath: m + "/current"))

        try sh("cp \(d.volume(2)) \(stick)/")
        let applied = try mirrorctl(["apply", stick, "--mirror", m])
        #expect(applied.status == 0, "\(applied.text)")
        #expect(value(applied.out, "read")?.hasPrefix("1 volume(s), ") == true, "only volume 2 is read: \(applied.out)")
        #expect(try sameTree(m + "/current/advisories/blob", d.feed))
    }

    @Test("kept copies count only while their labels verify with the keys in force (a media key removed since)")
    func keptCopiesNeedTrustedLabels() throws {
        let d = try MediaDay()
        let m = try d.mirror()
        try flipByte(d.volume(4), at: 5000)
        #expect(try mirrorctl(["apply", d.vols, "--mirror", m]).status == 1)
        #expect(try mirrorctl("media-key", "remove", d.media.pub, "--mirror", m).status == 0)
        // The same split written again with labels by the bundle signer: the same set.
        let byOps = try MediaDay.write(d.s, d.bundle, to: "by-ops", key: d.ops.key)
        let lone = try mirrorctl(["apply", d.volume(4, in: byOps), "--mirror", m])
        #expect(lone.status == 1 && lone.err.contains("missing volumes 1-3, 5, 6 of 6"), "the kept copies no longer count: \(lone.text)")
        let all = try mirrorctl(["apply", byOps, "--mirror", m])
        #expect(all.status == 0, "\(all.text)")
        #expect(value(all.out, "read")?.hasPrefix("6 volume(s), ") == true, "\(all.out)")
    }

    @Test("kept copies of another bundle never mix in: they are named, and removed when another set applies")
    func staleKeptSet() throws {
        let d = try MediaDay()
        let m = try d.mirror()
        try flipByte(d.volume(4), at: 5000)
        #expect(try mirrorctl(["apply", d.vols, "--mirror", m]).status == 1)
        let stale = try sh("ls \(m)/incoming").trimmingCharacters(in: .whitespacesAndNewlines)

        // The same bundle split otherwise: its volume 2 of 3 is not volume 4 of 6.
        let split = try MediaDay.write(d.s, d.bundle, to: "split", key: d.media.key, size: "2M")
        let lone = try mirrorctl(["apply", split + "/feeds-7.02of03.vol", "--mirror", m])
        #expect(lone.status == 1, "\(lone.text)")
        #expect(lone.err.contains("missing volumes 1, 3 of 3"), "\(lone.err)")
        #expect(lone.err.contains("the mirror keeps checked copies of volumes 1-3, 5, 6 of feeds sequence 7 (feeds.bundle), set \(stale.prefix(16))… from an earlier run, which these volumes are not of"), "\(lone.err)")

        // The whole other split applies: nothing of the kept set mixes in, and the kept copy goes.
        let whole = try mirrorctl(["apply", split, "--mirror", m])
        #expect(whole.status == 0, "\(whole.text)")
        let size = Int(try sh("stat -c %s \(d.bundle)").trimmingCharacters(in: .whitespacesAndNewlines))!
        #expect(value(whole.out, "read") == "3 volume(s), \(grouped(size)) bytes", "nothing kept is used: \(whole.out)")
        #expect(try sameTree(m + "/current/advisories/blob", d.feed))
        #expect(!FileManager.default.fileExists(atPath: m + "/incoming"))
    }

    // MARK: Item 5: UNTRUSTED once

    @Test("media verify --trust WRONG.pub says UNTRUSTED once, naming the signer and the keys given (exit 1)")
    func verifyUntrusted() throws {
        let d = try MediaDay()
        let r = try bundlectl("media", "verify", d.vols, "--trust", d.ops.pub)
        #expect(r.status == 1, "\(r.text)")
        let lines = r.out.split(separator: "\n")
        #expect(lines.count == 1 && lines[0].hasPrefix("UNTRUSTED  volumes 1-6 of 6  labels signed by key \(d.mediaID), which is not trusted: "), "\(r.out)")
        #expect(!r.text.contains("DAMAGED"))
        #expect(r.err == "bundlectl: the volumes of feeds sequence 7 (feeds.bundle) are UNTRUSTED, not damaged: their labels are signed by key \(d.mediaID), which is not among the keys given (\(d.opsID)); nothing else was checked: give the public key of whoever wrote them (`bundlectl media write --key`) with --trust\n", "\(r.err)")
        #expect(r.err.count < 400)
    }

    // MARK: Item 6: other splits, ignored files, identical copies

    @Test("another split of the same bundle is named as such, in verify and apply")
    func otherSplit() throws {
        let d = try MediaDay()
        let split = try MediaDay.write(d.s, d.bundle, to: "split", key: d.media.key, size: "2M")
        try sh("cp \(split)/feeds-7.01of03.vol \(d.vols)/")
        let v = try bundlectl("media", "verify", d.vols, "--trust", d.media.pub)
        #expect(v.status == 1)
        #expect(v.out.contains("FOREIGN    1/3  \(d.vols)/feeds-7.01of03.vol: a volume of the same bundle split another way (written with another --volume-size: 3 volumes"), "\(v.out)")
        #expect(v.out.contains("volumes of two splits must not be mixed: use the volumes of one split"), "\(v.out)")
        let m = try d.mirror()
        let a = try mirrorctl(["apply", d.vols, "--mirror", m])
        #expect(a.status == 1)
        #expect(a.err.contains("foreign: \(d.vols)/feeds-7.01of03.vol is of another split of the same bundle (another --volume-size; splits must not be mixed)"), "\(a.err)")
        #expect(!FileManager.default.fileExists(atPath: m + "/incoming"))
    }

    @Test("files that are not volumes are listed as ignored, in verify and apply; the set is still intact")
    func ignoredFiles() throws {
        let d = try MediaDay(bytes: 2_000_000)
        try sh("echo 'for the enclave' > \(d.vols)/notes.txt && cp \(d.bundle) \(d.vols)/feeds.bundle && mkdir \(d.vols)/sub && ln -s notes.txt \(d.vols)/link")
        let v = try bundlectl("media", "verify", d.vols, "--trust", d.media.pub)
        #expect(v.status == 0, "\(v.text)")
        #expect(v.out.contains("IGNORED    \(d.vols)/feeds.bundle: not a volume (no volume label at its end)"), "\(v.out)")
        #expect(v.out.contains("IGNORED    \(d.vols)/notes.txt: not a volume"), "\(v.out)")
        #expect(v.out.contains("IGNORED    \(d.vols)/link: a symbolic link (not followed)"), "\(v.out)")
        #expect(v.out.contains("IGNORED    \(d.vols)/sub: a folder (folders are read one level deep"), "\(v.out)")
        #expect(value(v.out, "ignored") == "4 file(s) that are not volumes: \(d.vols)/feeds.bundle, \(d.vols)/link, \(d.vols)/notes.txt, \(d.vols)/sub", "\(v.out)")
        #expect(v.out.contains("all 2 volume(s) intact"))
        let m = try d.mirror()
        let a = try mirrorctl(["apply", d.vols, "--mirror", m])
        #expect(a.status == 0, "\(a.text)")
        #expect(value(a.out, "ignored", occurrence: 3) == "\(d.vols)/notes.txt: not a volume (no volume label at its end)", "\(a.out)")
    }

    @Test("an identical copy on a second stick is noted and one used; if the first is damaged, the copy is used")
    func identicalCopies() throws {
        let d = try MediaDay()
        let stick2 = d.s.at("stick2")
        try sh("mkdir \(stick2) && cp \(d.volume(3)) \(stick2)/")
        let v = try bundlectl("media", "verify", d.vols, stick2, "--trust", d.media.pub)
        #expect(v.status == 0, "\(v.text)")
        #expect(v.out.contains("COPY       3/6  \(d.volume(3, in: stick2)): an identical copy of \(d.volume(3)) (same label and payload); one is used"), "\(v.out)")
        #expect(value(v.out, "copies") == "1 identical second copy (volume 3): one of each is used", "\(v.out)")

        // The first copy's payload is damaged; its label is intact: apply uses the second copy.
        try flipByte(d.volume(3), at: 7000)
        let m = try d.mirror()
        let a = try mirrorctl(["apply", d.vols, stick2, "--mirror", m])
        #expect(a.status == 0, "\(a.text)")
        #expect(value(a.out, "note") == "volume 3: '\(d.volume(3, in: stick2))' is an identical copy of '\(d.volume(3))' (same label); one is used", "\(a.out)")
        #expect(value(a.out, "note", occurrence: 2) == "volume 3 at '\(d.volume(3))' is damaged (payload digest differs from its signed label: the data is damaged); its identical copy '\(d.volume(3, in: stick2))' was used", "\(a.out)")
        #expect(try sameTree(m + "/current/advisories/blob", d.feed))
    }

    // MARK: --json on media write and media verify

    @Test("media write --json and media verify --json print one JSON object; a failed verify still exits 1")
    func jsonReports() throws {
        let d = try MediaDay(bytes: 2_000_000)
        let w = try bundlectl("media", "write", d.bundle, "--to", d.s.at("j"), "--create", "--volume-size", "1M", "--key", d.media.key, "--json")
        #expect(w.status == 0, "\(w.text)")
        let written = try sh("""
            python3 -c 'import json,sys; o=json.loads(sys.argv[1]); print(o["count"], o["bundle"]["name"], o["bundle"]["sequence"], o["labelsSignedBy"], len(o["volumes"]), o["volumes"][0]["path"], o["volumeSize"])' '\(w.out)'
            """)
        #expect(written == "2 feeds 7 \(d.mediaID) 2 \(d.s.at("j"))/feeds-7.01of02.vol 1048576\n", "\(w.out)")

        let ok = try bundlectl("media", "verify", d.s.at("j"), "--trust", d.media.pub, "--json")
        #expect(ok.status == 0, "\(ok.text)")
        #expect(ok.out.split(separator: "\n").count == 1)
        let judged = try sh("python3 -c 'import json,sys; o=json.loads(sys.argv[1]); print(o[\"complete\"], o[\"set\"] == json.loads(sys.argv[2])[\"set\"], len(o[\"volumes\"]), o[\"error\"])' '\(ok.out)' '\(w.out)'")
        #expect(judged == "True True 2 None\n", "\(ok.out)")

        let bad = try bundlectl("media", "verify", d.s.at("j"), "--trust", d.ops.pub, "--json")
        #expect(bad.status == 1 && bad.err.contains("UNTRUSTED"), "\(bad.text)")
        let refused = try sh("python3 -c 'import json,sys; o=json.loads(sys.argv[1]); print(o[\"complete\"], [f[\"kind\"] for f in o[\"findings\"]], o[\"keysGiven\"], o[\"untrustedSigners\"])' '\(bad.out)'")
        #expect(refused == "False ['untrusted'] ['\(d.opsID)'] ['\(d.mediaID)']\n", "\(bad.out)")
    }
}
