import Foundation
import Testing

/// A multi-MiB bundle (PyPA advisories and a 3.5 MB incompressible file) and the key that signs
/// it and its volume labels, split into 1 MiB volumes in `vols`.
struct MediaFixture {
    let s: Scratch
    let key: String, pub: String
    let bundle: String
    let pypa: String, blob: String
    let vols: String
    /// Lines of the `media write` report.
    let written: Outcome

    init(iso: Bool = false) throws {
        s = try Scratch()
        (key, pub) = try s.key("officer")
        pypa = try s.pypa("2024-08-01")
        blob = s.at("blob")
        try sh("mkdir -p \(blob) && head -c 3500000 /dev/urandom > \(blob)/blob.bin")
        let spec = try s.spec(sequence: 7, sources: [("pypa", "advisories", pypa), ("blob", "advisories", blob)])
        bundle = try s.build(spec, key: key, output: "feeds-2026.06.bundle")
        vols = s.at(iso ? "images" : "vols")
        written = try bundlectl(["media", "write", bundle, "--to", vols, "--create", "--volume-size", "1M", "--key", key] + (iso ? ["--iso"] : []))
        #expect(written.status == 0, "\(written.text)")
    }

    /// The volume files, in number order.
    func volumes(_ dir: String? = nil) throws -> [String] {
        let d = dir ?? vols
        return try sh("ls \(d)").split(separator: "\n").map { d + "/" + $0 }
    }

    func verify(_ paths: String...) throws -> Outcome {
        try bundlectl(["media", "verify"] + paths + ["--trust", pub])
    }

    func mirror() throws -> String {
        let m = s.at("mirror")
        #expect(try mirrorctl("init", "--mirror", m, "--trust", pub).status == 0)
        return m
    }

    /// Another bundle (another channel position) split the same way, for foreign volumes.
    func otherVolumes() throws -> [String] {
        let spec = try s.spec("other.yaml", name: "other", sequence: 3, sources: [("blob", "advisories", blob)])
        let b = try s.build(spec, key: key, output: "other.bundle")
        let r = try bundlectl("media", "write", b, "--to", s.at("other-vols"), "--create", "--volume-size", "1M", "--key", key)
        #expect(r.status == 0, "\(r.text)")
        return try volumes(s.at("other-vols"))
    }
}

func bundlectl(_ args: [String], env: [String: String] = [:]) throws -> Outcome { try run(Env.bundlectl, args, env: env) }
func mirrorctl(_ args: [String]) throws -> Outcome { try run(Env.mirrorctl, args) }

/// Rewrites a volume's label JSON with `edit` (a sed expression) and signs it again with stock
/// minisign, as a trusted key that lies (or a buggy writer) would.
func resign(_ volume: String, key: String, in dir: String, edit: String) throws {
    try sh("""
        cd \(dir) && tail -c 4096 \(volume) | sed -n 2p > l.json && cp l.json l.orig
        sed -i '\(edit)' l.json
        if cmp -s l.json l.orig; then echo "the edit changed nothing" >&2; exit 1; fi
        tc="$(tail -c 4096 \(volume) | sed -n 5p | sed 's/^trusted comment: //')"
        minisign -S -s \(key) -m l.json -x l.sig -t "$tc" </dev/null >/dev/null
        { echo airgap-volume/1; cat l.json l.sig; head -c 4096 /dev/zero; } | head -c 4096 > label4k
        head -c -4096 \(volume) > body && cat body label4k > \(volume)
        """)
}

/// The value of a "label  value" line of a summary (its `occurrence`-th such line).
func value(_ out: String, _ label: String, occurrence: Int = 1) -> String? {
    var seen = 0
    for line in out.split(separator: "\n") {
        let l = line.drop { $0 == " " }
        guard l.hasPrefix(label + " ") else { continue }
        seen += 1
        if seen == occurrence { return l.dropFirst(label.count).trimmingCharacters(in: .whitespaces) }
    }
    return nil
}

@Suite("Media: bundles as self-checking volumes")
struct MediaTests {
    @Test("1 MiB volumes: none larger, payloads are the bundle, sha256sum and stock minisign agree with the log")
    func writeSplits() throws {
        let f = try MediaFixture()
        let vols = try f.volumes()
        let bundleSize = Int(try sh("stat -c %s \(f.bundle)").trimmingCharacters(in: .whitespacesAndNewlines))!
        // 1 MiB less the 4 KiB label per volume, rounded down to 4 KiB: 1,044,480 payload bytes.
        #expect(vols.count == (bundleSize + 1_044_479) / 1_044_480)
        #expect(vols.first!.hasSuffix("/feeds-7.01of04.vol"), "\(vols)")
        for v in vols {
            #expect(Int(try sh("stat -c %s \(v)").trimmingCharacters(in: .whitespacesAndNewlines))! <= 1_048_576)
            // The transfer log names each volume's payload digest; stock tools compute the same.
            let digest = try sh("head -c -4096 \(v) | split -b 1M --filter=sha256sum | cut -c1-64 | sha256sum | cut -c1-64").trimmingCharacters(in: .whitespacesAndNewlines)
            #expect(f.written.out.contains("\(v)  \(grouped(Int(try sh("stat -c %s \(v)").trimmingCharacters(in: .whitespacesAndNewlines))!)) bytes  payload \(digest)"), "\(f.written.out)")
        }
        // Payloads put together, labels dropped, are the bundle byte for byte.
        try sh("for v in \(vols.joined(separator: " ")); do head -c -4096 $v; done > \(f.s.at("joined")) && cmp \(f.s.at("joined")) \(f.bundle)")
        let manifest = try sh("\(Env.bundlectl) inspect --json \(f.bundle) | python3 -c 'import json,sys; print(json.load(sys.stdin)[\"manifest\"])'").trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(value(f.written.out, "manifest") == manifest, "\(f.written.out)")
        #expect(value(f.written.out, "overhead")?.hasPrefix("\(grouped(vols.count * 4096)) bytes") == true, "\(f.written.out)")
        // Each label is a minisign signature over its JSON line: stock minisign checks it.
        for v in vols {
            try sh("cd \(f.s.path) && tail -c 4096 \(v) | sed -n 2p > label.json && tail -c 4096 \(v) | sed -n 3,6p > label.minisig && minisign -Vq -m label.json -x label.minisig -p \(f.pub)")
        }
        #expect(try sh("tail -c 4096 \(vols[1]) | sed -n 2p").contains("\"number\":2"))
        // Nothing but the volumes is left behind.
        #expect(try sh("ls -A \(f.vols) | grep -c partial || true").trimmingCharacters(in: .whitespacesAndNewlines) == "0")
    }

    @Test("verify reads every volume and prints the bundle's identity")
    func verifyIntact() throws {
        let f = try MediaFixture()
        let r = try f.verify(f.vols)
        #expect(r.status == 0, "\(r.text)")
        #expect(value(r.out, "manifest") == value(f.written.out, "manifest"), "\(r.out)")
        #expect(value(r.out, "set") == value(f.written.out, "set"), "\(r.out)")
        #expect(r.out.contains("all \(try f.volumes().count) volume(s) intact"))
        #expect(r.out.contains("feeds-2026.06.bundle: feeds sequence 7"))
        // A trust file of keys put together works the same; an unknown key does not.
        let (_, otherPub) = try f.s.key("stranger")
        try sh("cat \(otherPub) \(f.pub) > \(f.s.at("trusted"))")
        #expect(try bundlectl(["media", "verify", f.vols, "--trust-file", f.s.at("trusted")]).status == 0)
        let untrusted = try bundlectl(["media", "verify", f.vols, "--trust", otherPub])
        #expect(untrusted.status == 1)
        #expect(untrusted.out.contains("which is not trusted"), "\(untrusted.out)")
    }

    @Test("a flipped payload byte, a flipped label byte, a truncated volume: each file named with the check that failed")
    func verifyDamaged() throws {
        let f = try MediaFixture()
        let v = try f.volumes()
        try flipByte(v[1], at: 5000)
        let r = try f.verify(f.vols)
        #expect(r.status == 1)
        #expect(r.out.contains("DAMAGED    2/4  \(v[1]): payload digest differs from its signed label"), "\(r.out)")
        #expect(r.err.split(separator: "\n").count == 1, "\(r.err)")
        #expect(r.err.contains("damaged: \(v[1]) (volume 2 of 4: payload digest differs"), "\(r.err)")
        #expect(r.out.contains("ok         1/4") && r.out.contains("ok         3/4") && r.out.contains("ok         4/4"))

        try flipByte(v[1], at: 5000)
        // The payload digest inside the signed JSON: the label no longer verifies.
        try sh("printf 0 | dd of=\(v[2]) bs=1 seek=$(( $(stat -c %s \(v[2])) - 4096 + 16 + 250 )) conv=notrunc 2>/dev/null")
        let label = try f.verify(f.vols)
        #expect(label.status == 1)
        #expect(label.out.contains("DAMAGED    3/4  \(v[2]): "), "\(label.out)")
        #expect(!label.out.contains("MISSING"), "known by its name, not reported missing: \(label.out)")
        #expect(label.err.contains(v[2]), "\(label.err)")

        try sh("truncate -s -100 \(v[3])")
        let cut = try f.verify(f.vols)
        #expect(cut.status == 1)
        #expect(cut.out.contains("DAMAGED    4/4  \(v[3]): no volume label at its end"), "\(cut.out)")
        #expect(cut.err.contains("\(v[3]) (volume 4 of 4, by its name: no volume label at its end"), "\(cut.err)")
    }

    @Test("a missing, a duplicate and a foreign volume are each named, with exit code 1")
    func verifySetProblems() throws {
        let f = try MediaFixture()
        let v = try f.volumes()
        try sh("mv \(v[2]) \(f.s.at("aside.vol"))")
        let missing = try f.verify(f.vols)
        #expect(missing.status == 1)
        #expect(missing.out.contains("MISSING    3/4  volume 3 of 4 was not found"), "\(missing.out)")
        #expect(missing.err.contains("missing volume 3 of 4"), "\(missing.err)")
        try sh("mv \(f.s.at("aside.vol")) \(v[2])")

        // An identical copy is noted, not a problem (item 6); one with another label is a duplicate.
        try sh("mkdir -p \(f.s.at("second")) && cp \(v[0]) \(f.s.at("second"))/copy.vol")
        let copy = try f.verify(f.vols, f.s.at("second"))
        #expect(copy.status == 0, "\(copy.text)")
        #expect(copy.out.contains("COPY       1/4  \(f.s.at("second"))/copy.vol: an identical copy of \(v[0]) (same label and payload); one is used"), "\(copy.out)")
        // Other bytes under a label re-signed to match, by a trusted key: which volume 1 is right cannot be told.
        let forged = f.s.at("second") + "/copy.vol"
        try sh("printf X | dd of=\(forged) bs=1 seek=1000 conv=notrunc 2>/dev/null")
        let digest = try sh("head -c -4096 \(forged) | split -b 1M --filter=sha256sum | cut -c1-64 | sha256sum | cut -c1-64").trimmingCharacters(in: .whitespacesAndNewlines)
        try resign(forged, key: f.key, in: f.s.path, edit: "s/\"payload\":\"[0-9a-f]*\"/\"payload\":\"\(digest)\"/")
        let dup = try f.verify(f.vols, f.s.at("second"))
        #expect(dup.status == 1)
        #expect(dup.out.contains("DUPLICATE  1/4  \(forged): another volume 1 than \(v[0]), with another label"), "\(dup.out)")
        #expect(dup.err.contains("duplicate: \(forged) is another volume 1 than \(v[0]) (the labels differ)"), "\(dup.err)")
        try sh("rm -r \(f.s.at("second"))")

        let other = try f.otherVolumes()
        try sh("cp \(other[0]) \(f.vols)/")
        let foreign = try f.verify(f.vols)
        #expect(foreign.status == 1)
        let stray = f.vols + "/" + URL(fileURLWithPath: other[0]).lastPathComponent
        #expect(foreign.out.contains("FOREIGN    1/\(other.count)  \(stray): volume of other sequence 3 (other.bundle)"), "\(foreign.out)")
        #expect(foreign.err.contains("foreign: \(stray) belongs to other sequence 3"), "\(foreign.err)")
        // The set itself is still recognised and intact.
        #expect(foreign.out.contains("ok         4/4"))
    }

    @Test("labels signed by a trusted key that lie about the range or the set are refused")
    func inconsistentLabels() throws {
        let f = try MediaFixture()
        let v = try f.volumes()
        // Volume 2 claims to start 4 KiB later.
        try resign(v[1], key: f.key, in: f.s.path, edit: "s/\"offset\":1044480/\"offset\":1048576/")
        let r = try f.verify(f.vols)
        #expect(r.status == 1)
        #expect(r.out.contains("DAMAGED    2/4  \(v[1]): its range 1048576+1044480 does not follow the set's 1044480-byte volumes"), "\(r.out)")

        // Volume 3 is altered and its label re-signed to match: it checks alone, but the set
        // digest every label carries was made from the original payloads.
        let g = try MediaFixture()
        let w = try g.volumes()
        try sh("printf X | dd of=\(w[2]) bs=1 seek=1000 conv=notrunc 2>/dev/null")
        let digest = try sh("head -c -4096 \(w[2]) | split -b 1M --filter=sha256sum | cut -c1-64 | sha256sum | cut -c1-64").trimmingCharacters(in: .whitespacesAndNewlines)
        try resign(w[2], key: g.key, in: g.s.path, edit: "s/\"payload\":\"[0-9a-f]*\"/\"payload\":\"\(digest)\"/")
        let forged = try g.verify(g.vols)
        #expect(forged.status == 1)
        #expect(forged.out.contains("ok         3/4"), "alone it checks: \(forged.out)")
        #expect(forged.out.contains("the set digest in the labels does not match the volumes' payload digests"), "\(forged.out)")
        let m = try g.mirror()
        let apply = try mirrorctl(["apply", g.vols, "--mirror", m])
        #expect(apply.status == 1 && apply.err.contains("set digest"), "\(apply.err)")
        #expect(!FileManager.default.fileExists(atPath: m + "/current"))
    }

    @Test("apply from volumes in shuffled order across two folders gives the source tree")
    func applyShuffled() throws {
        let f = try MediaFixture()
        let v = try f.volumes()
        let a = f.s.at("stick-a"), b = f.s.at("stick-b")
        try sh("mkdir -p \(a) \(b) && cp \(v[3]) \(v[0]) \(a)/ && cp \(v[2]) \(b)/ && cp \(v[1]) \(b)/renamed-by-someone")
        let m = try f.mirror()
        // Folders and files, in no particular order.
        let r = try mirrorctl(["apply", b + "/renamed-by-someone", a, b, "--mirror", m])
        #expect(r.status == 0, "\(r.text)")
        #expect(try sameTree(m + "/current/advisories/pypa", f.pypa))
        #expect(try sameTree(m + "/current/advisories/blob", f.blob))
        #expect(try mirrorctl("verify", "--mirror", m).status == 0)
        let bundleSum = try sh("sha256sum \(f.bundle) | cut -c1-64").trimmingCharacters(in: .whitespacesAndNewlines)
        // The reassembled file's SHA-256, for the transfer log: what sha256sum says of the bundle.
        #expect(r.out.contains("sha256:\(bundleSum) (reassembled from its volumes)"), "\(r.out)")
        #expect(value(r.out, "read")?.hasPrefix("4 volume(s), ") == true, "\(r.out)")
        // The reassembled copy is gone; the journal names the bundle file.
        #expect(!FileManager.default.fileExists(atPath: m + "/incoming"))
        #expect(try sh("cat \(m)/journal.jsonl").contains("\"bundle\":\"feeds-2026.06.bundle\""))
        // A plain bundle file still applies as before (the next one is a replay, refused as such).
        let again = try mirrorctl(["apply", f.bundle, "--mirror", m])
        #expect(again.status == 1 && again.err.contains("already applied sequence 7"), "\(again.text)")
    }

    @Test("a missing, damaged or foreign volume is named before anything changes")
    func applyRefusals() throws {
        let f = try MediaFixture()
        let v = try f.volumes()
        let m = try f.mirror()
        let before = try MirrorSnapshot(m)

        let missing = try mirrorctl(["apply", v[0], v[1], v[3], "--mirror", m])
        #expect(missing.status == 1)
        #expect(missing.err.contains("missing volume 3 of 4"), "\(missing.err)")
        #expect(missing.err.split(separator: "\n").count == 1)
        // Refused on the labels alone: nothing was copied.
        #expect(!FileManager.default.fileExists(atPath: m + "/incoming"))

        let other = try f.otherVolumes()
        let foreign = try mirrorctl(["apply", f.vols, other[0], "--mirror", m])
        #expect(foreign.status == 1)
        #expect(foreign.err.contains("foreign: \(other[0]) belongs to other sequence 3"), "\(foreign.err)")

        try flipByte(v[2], at: 100)
        let damaged = try mirrorctl(["apply", f.vols, "--mirror", m])
        #expect(damaged.status == 1)
        #expect(damaged.err.contains("volume 3 of 4 of feeds sequence 7 (feeds-2026.06.bundle), '\(v[2])', is damaged: payload digest differs"), "\(damaged.err)")
        #expect(damaged.err.split(separator: "\n").count == 1)
        #expect(try MirrorSnapshot(m) == before)
        #expect(try sh("cat \(m)/journal.jsonl").contains("\"event\":\"refuse\""))

        // An ISO image is not parsed on the high side.
        try sh("cd \(f.s.path) && bsdtar --format iso9660 -cf x.iso -C \(f.vols) $(basename \(v[0]))")
        let iso = try mirrorctl(["apply", f.s.at("x.iso"), f.vols, "--mirror", m])
        #expect(iso.status == 2 && iso.err.contains("is an ISO image: mount it"), "\(iso.err)")
        try sh("cp \(Env.testdata)/README.md \(f.s.at("notes.txt"))")
        let stray = try mirrorctl(["apply", f.vols, f.s.at("notes.txt"), "--mirror", m])
        #expect(stray.status == 2 && stray.err.contains("is not a volume"), "\(stray.err)")
        #expect(try MirrorSnapshot(m) == before)
    }

    @Test("an apply stopped by a bad volume goes on after it is replaced, without reading the checked volumes again")
    func applyResumes() throws {
        let f = try MediaFixture()
        let v = try f.volumes()
        let m = try f.mirror()
        try sh("cp \(v[2]) \(f.s.at("good3.vol")) && cp \(v[0]) \(f.s.at("good1.vol"))")
        try flipByte(v[2], at: 4096)
        let first = try mirrorctl(["apply", f.vols, "--mirror", m])
        #expect(first.status == 1)
        // The volumes after the bad one are copied too: a good copy of volume 3 alone completes the set.
        #expect(first.err.contains("volume(s) 1, 2, 4 are already checked and copied, and are not read again"), "\(first.err)")
        #expect(!FileManager.default.fileExists(atPath: m + "/current"))

        // The bad volume is replaced. Volume 1's payload is now spoiled too, but its label is
        // intact: a run that read it again would refuse it. This one must not read it.
        try sh("cp \(f.s.at("good3.vol")) \(v[2])")
        try flipByte(v[0], at: 4096)
        let second = try mirrorctl(["apply", f.vols, "--mirror", m])
        #expect(second.status == 0, "\(second.text)")
        #expect(value(second.out, "read")?.hasPrefix("1 volume(s), ") == true, "\(second.out)")
        #expect(second.out.contains("volume(s) 1, 2, 4 already checked and copied by an earlier run, not read again"), "\(second.out)")
        #expect(try sameTree(m + "/current/advisories/blob", f.blob))
        #expect(try mirrorctl("verify", "--mirror", m).status == 0)
        #expect(!FileManager.default.fileExists(atPath: m + "/incoming"))
    }

    @Test("a dry run from volumes changes nothing in the mirror and leaves its checked copy for the real apply")
    func applyDryRun() throws {
        let f = try MediaFixture()
        let m = try f.mirror()
        let before = try MirrorSnapshot(m)
        let journal = try sh("cat \(m)/journal.jsonl")
        let dry = try mirrorctl(["apply", f.vols, "--mirror", m, "--dry-run"])
        #expect(dry.status == 0, "\(dry.text)")
        #expect(dry.out.contains("would apply") && dry.out.contains("advisories/blob  1 added"), "\(dry.out)")
        #expect(try MirrorSnapshot(m) == before)
        #expect(try sh("cat \(m)/journal.jsonl") == journal)
        let real = try mirrorctl(["apply", f.vols, "--mirror", m])
        #expect(real.status == 0, "\(real.text)")
        #expect(value(real.out, "read")?.hasPrefix("0 volume(s), 0 bytes; volume(s) 1, 2, 3, 4 already checked") == true, "\(real.out)")
        #expect(try sameTree(m + "/current/advisories/blob", f.blob))
    }

    @Test("ISO images: each fits 1 MiB, bsdtar reads them, verify looks inside, and the extracted volumes apply")
    func isoImages() throws {
        let f = try MediaFixture(iso: true)
        let images = try f.volumes()
        #expect(images.count >= 4 && images.allSatisfy { $0.hasSuffix(".iso") }, "\(images)")
        let extracted = f.s.at("extracted")
        try sh("mkdir -p \(extracted)")
        for img in images {
            #expect(Int(try sh("stat -c %s \(img)").trimmingCharacters(in: .whitespacesAndNewlines))! <= 1_048_576)
            let names = try sh("bsdtar -tf \(img)").split(separator: "\n").map(String.init).filter { $0 != "." }.sorted()
            let vol = URL(fileURLWithPath: img).deletingPathExtension().lastPathComponent + ".vol"
            #expect(names == ["README.txt", vol], "\(names)")
            try sh("bsdtar -xOf \(img) \(vol) > \(extracted)/\(vol)")
            // The image and the volume inside it are the ones the transfer log names.
            let imageSum = try sh("sha256sum \(img) | cut -c1-64").trimmingCharacters(in: .whitespacesAndNewlines)
            let digest = try sh("head -c -4096 \(extracted)/\(vol) | split -b 1M --filter=sha256sum | cut -c1-64 | sha256sum | cut -c1-64").trimmingCharacters(in: .whitespacesAndNewlines)
            #expect(f.written.out.contains("\(img)  ") && f.written.out.contains("sha256:\(imageSum)"))
            #expect(f.written.out.contains("holds     \(vol)") && f.written.out.contains("payload \(digest)"), "\(f.written.out)")
            #expect(try sh("bsdtar -xOf \(img) README.txt").contains("payload  \(digest)"))
        }
        // The extracted payloads are the bundle.
        try sh("for v in \(extracted)/*.vol; do head -c -4096 $v; done | cmp - \(f.bundle)")
        let inside = try f.verify(f.vols)
        #expect(inside.status == 0, "\(inside.text)")
        #expect(inside.out.contains("ok         1/\(images.count)  \(images[0]):"), "\(inside.out)")
        #expect(try f.verify(extracted).status == 0)
        let m = try f.mirror()
        let r = try mirrorctl(["apply", extracted, "--mirror", m])
        #expect(r.status == 0, "\(r.text)")
        #expect(try sameTree(m + "/current/advisories/blob", f.blob))

        // A flipped byte inside an image's volume is found without extracting it.
        let vol0 = URL(fileURLWithPath: images[0]).deletingPathExtension().lastPathComponent + ".vol"
        let offset = try sh("python3 -c \"import sys; d=open('\(images[0])','rb').read(); v=open('\(extracted)/\(vol0)','rb').read(4096); print(d.find(v))\"")
        try flipByte(images[0], at: Int(offset.trimmingCharacters(in: .whitespacesAndNewlines))! + 10)
        let bad = try f.verify(f.vols)
        #expect(bad.status == 1)
        #expect(bad.out.contains("DAMAGED    1/\(images.count)  \(images[0]):\(vol0): payload digest differs"), "\(bad.out)")
    }

    @Test("volume sizes: names, units, and bad values refused with one line and exit 2", arguments: [
        ("4X", "is not a size"), ("0", "smaller than the 1 MiB"), ("-1", "is not a size"), ("512K", "smaller than the 1 MiB"),
        ("99999999999999999999", "is too large"), ("9999999T", "is too large"), ("4.7", "is not a size"), ("M", "is not a size"),
        ("dvd-r", "is not a size"), ("1M2", "is not a size"),
    ])
    func badSizes(_ size: String, _ message: String) throws {
        let s = try Scratch()
        let (key, _) = try s.key("officer")
        let b = try s.build(try s.spec(sequence: 1, sources: [("kev", "advisories", try s.kev("2025-06-01"))]), key: key, output: "b.bundle")
        let r = try bundlectl(["media", "write", b, "--to", s.at("out"), "--create", "--volume-size=\(size)", "--key", key])
        #expect(r.status == 2, "\(r.text)")
        #expect(r.err.contains(message) && r.err.contains("fat32, cd, dvd"), "\(r.err)")
        #expect(r.err.split(separator: "\n").count == 1, "\(r.err)")
        #expect(!FileManager.default.fileExists(atPath: s.at("out")))
    }

    @Test("named and unit sizes", arguments: [
        ("fat32", "4,294,967,295 bytes (fat32)", "4,294,967,295"),
        ("dvd", "4,700,000,000 bytes (dvd), less 4 MiB for the file system a disc burner adds", "4,695,805,696"),
        ("bd25", "25,025,314,816 bytes (bd25), less 4 MiB", "25,021,120,512"),
        ("4G", "4,294,967,296 bytes", "4,294,967,296"),
        ("4.7GB", "4,700,000,000 bytes", "4,700,000,000"),
        ("700M", "734,003,200 bytes", "734,003,200"),
    ])
    func goodSizes(_ size: String, _ shown: String, _ limit: String) throws {
        let s = try Scratch()
        let (key, pub) = try s.key("officer")
        let b = try s.build(try s.spec(sequence: 1, sources: [("kev", "advisories", try s.kev("2025-06-01"))]), key: key, output: "b.bundle")
        let r = try bundlectl(["media", "write", b, "--to", s.at("out"), "--create", "--volume-size", size, "--key", key])
        #expect(r.status == 0, "\(r.text)")
        #expect(value(r.out, "size", occurrence: 2)?.hasPrefix("--volume-size \(shown)") == true, "\(r.out)")
        #expect(value(r.out, "volumes") == "1 volume file(s), each at most \(limit) bytes", "\(r.out)")
        #expect(try sh("ls \(s.at("out"))") == "feeds-1.01of01.vol\n")
        #expect(try bundlectl(["media", "verify", s.at("out"), "--trust", pub]).status == 0)
    }

    @Test("write refuses to overwrite volumes and names a bundle that is not one")
    func writeRefusals() throws {
        let f = try MediaFixture()
        let again = try bundlectl(["media", "write", f.bundle, "--to", f.vols, "--volume-size", "1M", "--key", f.key])
        #expect(again.status == 2 && again.err.contains("exists; remove it or write to another folder"), "\(again.err)")
        try sh("head -c 3000000 /dev/urandom > \(f.s.at("noise.bundle"))")
        let noise = try bundlectl(["media", "write", f.s.at("noise.bundle"), "--to", f.s.at("n"), "--create", "--volume-size", "1M", "--key", f.key])
        #expect(noise.status == 1, "\(noise.text)")
        #expect(noise.err.split(separator: "\n").count == 1)
        let none = try bundlectl(["media", "verify", f.s.at("blob"), "--trust", f.pub])
        #expect(none.status == 2 && none.err.contains("no volume files"), "\(none.err)")
    }

    @Test("mirrorctl links the reading side of Media, not the writer")
    func highSideReadsOnly() throws {
        let high = try sh("nm \(Env.mirrorctl) | grep -c 10MediaWrite || true").trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(high == "0")
        let low = try sh("nm \(Env.bundlectl) | grep -c 10MediaWrite || true").trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(Int(low)! > 0)
    }
}
