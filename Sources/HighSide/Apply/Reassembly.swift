import BundleFormat
import Media
import Support
import SystemIO

/// A bundle reassembled from its volumes in `DIR/incoming/<set digest>/bundle/`.
///
/// The folder is beside `staging/` rather than in it because every apply clears `staging/` on
/// start, and this copy must outlive an interrupted or refused run: `volumes.json` there records
/// the volumes already checked and copied (each flushed, and its signed label kept in `labels/`,
/// before it is recorded). A later run with volumes of the same set counts those copies as
/// present, so the volumes still missing (a replacement for a damaged one) complete the set
/// alone; each kept copy is checked again against its label, re-verified with the keys in force
/// then, as it is used. The folder is removed after a successful apply, after a refusal of the
/// bundle (a bundle whose labels one key signed but whose MANIFEST does not meet the threshold
/// must not keep its space), and when volumes of another bundle arrive. Before anything is
/// copied, the bundle must fit the free space (`OfflineMirror.checkRoom`).
final class Reassembly {
    /// Volumes whose payloads do not match their labels: the refusal to report.
    struct Damaged: Error { var error: ToolError }

    let incoming: String
    let dir: String
    /// In a folder of its own: the file name comes from the label and may be any plain name.
    let staged: String
    private let key: VolumeSet.Key
    private var record: IncomingRecord
    /// The sources of the checks that stand for kept copies (`Kept.checks`).
    private let keptSources: Set<String>

    init(incoming: String, key: VolumeSet.Key, kept: Kept?) throws {
        self.incoming = incoming
        self.key = key
        dir = incoming + "/" + key.set.hex
        staged = Reassembly.stagedPath(incoming: incoming, key: key)
        let usable = kept?.key == key ? kept!.checks : []
        keptSources = Set(usable.map(\.source))
        record = IncomingRecord(bundle: key.bundle, set: key.set, count: key.count, copied: [])
        record = try open()
        // Only copies whose labels still hold count as kept (a media key removed since, a label
        // file gone): the others are read from the media like any volume not yet copied.
        record.copied.formIntersection(usable.compactMap { $0.label?.number })
    }

    /// Where the bundle of `key` is reassembled.
    static func stagedPath(incoming: String, key: VolumeSet.Key) -> String {
        incoming + "/" + key.set.hex + "/bundle/" + key.bundle.file
    }

    func isKept(_ c: VolumeCheck) -> Bool { keptSources.contains(c.source) }

    /// Puts every volume of `set` into place, in order, hashing the whole file as it comes
    /// together (for the transfer log: it is the figure `bundlectl build` printed). For each
    /// volume its candidates are tried in turn (a kept copy first, then identical copies on the
    /// media): a kept copy is checked where it lies, a volume on the media is copied and checked.
    /// A volume with no good candidate does not stop the others: they are copied and recorded,
    /// so the next run needs only a good copy of it.
    func copy(_ set: VolumeSet, into intake: inout VolumeIntake) throws {
        let file = try VolumeFileIO.open(staged)
        if record.copied.isEmpty { try VolumeFileIO.reserve(file, size: key.bundle.size) }
        guard try file.size() == key.bundle.size else {
            throw ToolError.environment("'\(staged)' is not \(key.bundle.size) bytes; remove '\(dir)' and run again")
        }
        // What the media give: the volumes with no kept copy (a kept one that fails is read beyond this).
        let toRead = (1...key.count).compactMap { n in set.candidates(n).first.flatMap { isKept($0) ? nil : $0 } }
        let progress = Progress("reading volumes", total: toRead.reduce(0) { $0 + $1.label!.length })
        let bundleHash = DigestConsumer()
        var failed: [VolumeCheck] = []
        for n in 1...key.count {
            if let bad = try place(set.candidates(n), file: file, hash: bundleHash, progress: progress, intake: &intake) { failed.append(bad) }
        }
        progress.finish()
        try file.close()
        guard failed.isEmpty else { throw Damaged(error: damagedError(failed)) }
        guard bundleHash.stream.count == key.bundle.size else {
            throw ToolError.environment("read \(bundleHash.stream.count) bytes of '\(staged)', expected \(key.bundle.size)")
        }
        intake.sha256 = bundleHash.stream.finalize()
    }

    /// One volume from the first of its candidates that holds; the last that failed otherwise.
    private func place(_ candidates: [VolumeCheck], file: FileDescriptor, hash: DigestConsumer, progress: Progress,
                       intake: inout VolumeIntake) throws -> VolumeCheck? {
        var last: VolumeCheck?
        for c in candidates {
            let before = hash.stream
            var v = c
            let n = c.label!.number
            if isKept(c) {
                if VolumeFiles.hashPayload(&v, in: staged, at: c.label!.offset, extra: [hash]) {
                    intake.resumed.append(n)
                    return nil
                }
                // Changed since it was recorded: it no longer counts, whatever happens next.
                try unrecord(n)
            } else if try copy(&v, to: file, hash: hash, progress: progress) {
                intake.copied.append(n)
                intake.bytesRead += c.label!.length
                if let last { intake.notes.append(replaced(last, by: c)) }
                return nil
            }
            hash.rewind(to: before)
            last = v
        }
        return last
    }

    /// The note for a volume whose first candidate failed and a later one was used.
    private func replaced(_ bad: VolumeCheck, by good: VolumeCheck) -> String {
        let n = bad.label!.number
        let why = bad.problem ?? "unreadable"
        return isKept(bad)
            ? "the copy of volume \(n) an earlier run kept no longer matched its label (\(why)); volume \(n) was read again from '\(good.source)'"
            : "volume \(n) at '\(bad.source)' is damaged (\(why)); its identical copy '\(good.source)' was used"
    }

    /// One volume's payload, checked against its label while it is written into place, then
    /// flushed and recorded with its label.
    private func copy(_ v: inout VolumeCheck, to file: FileDescriptor, hash: DigestConsumer, progress: Progress) throws -> Bool {
        let label = v.label!
        let ok = VolumeFiles.hashPayload(&v, progress: progress, extra: [hash]) { chunk, at in
            try file.write(chunk, toOffset: label.offset + at)
        }
        guard ok else { return false }
        // On disk before it is recorded: a crash after this never loses a recorded volume.
        try VolumeFileIO.flush(file, staged)
        try FS.writeAtomically(labelPath(label.number), try v.signed!.label.encode(signature: v.signed!.signature), mode: 0o600)
        record.copied.insert(label.number)
        try FS.writeAtomically(dir + "/volumes.json", record.json.canonicalBytes, mode: 0o600)
        return true
    }

    private func unrecord(_ n: Int) throws {
        record.copied.remove(n)
        try FS.writeAtomically(dir + "/volumes.json", record.json.canonicalBytes, mode: 0o600)
    }

    /// The refusal for volumes with no good copy: which, why, and what is kept for the next run.
    private func damagedError(_ failed: [VolumeCheck]) -> ToolError {
        func source(_ c: VolumeCheck) -> String { isKept(c) ? "the copy an earlier run kept" : "'\(c.source)'" }
        let one = failed.count == 1
        let numbers = VolumeSet.numberList(Set(failed.map { $0.label!.number }))
        let what = one
            ? "\(failed[0].label!.position) of \(key.bundle.description), \(source(failed[0])), is damaged: \(failed[0].problem ?? "unreadable")"
            : "volumes \(numbers) of \(key.count) of \(key.bundle.description) are damaged: "
                + VolumeSet.firstFew(failed.map { "volume \($0.label!.number), \(source($0)): \($0.problem ?? "unreadable")" }, "; ")
        let next = record.copied.isEmpty ? "" : "; volume(s) \(VolumeSet.numberList(record.copied)) are already checked and copied, and are not read again when you run this again: a good copy of volume\(one ? "" : "s") \(numbers) alone completes the set"
        let status: ExitStatus = failed.allSatisfy { $0.problemStatus == .environment } ? .environment : .refused
        return ToolError(status, "\(what); nothing was changed\(next)")
    }

    /// After a successful apply: the copy is no longer needed.
    func remove() throws {
        try incomingFolder().removeTree(key.set.hex)
        VolumeFileIO.removeIfEmpty(incoming)
    }

    /// `incoming/`, opened from the mirror root without following a link: what is removed in it
    /// is the mirror's own, never a folder a planted link points at.
    private func incomingFolder() throws -> Directory {
        try Directory(FS.parent(of: incoming)).directory(FS.baseName(incoming))
    }

    private func labelPath(_ n: Int) -> String { Reassembly.labelPath(dir, n) }

    /// `labels/0007`: label files sort in volume order.
    static func labelPath(_ dir: String, _ n: Int) -> String {
        let digits = String(n)
        return dir + "/labels/" + String(repeating: "0", count: max(0, 4 - digits.count)) + digits
    }

    /// The record of an interrupted run for this set, or a fresh folder. Folders of other
    /// bundles are removed: one bundle is reassembled at a time.
    private func open() throws -> IncomingRecord {
        try Directory(FS.parent(of: incoming)).makeDirectory(FS.baseName(incoming), mode: 0o700)
        let folder = try incomingFolder()
        for name in try folder.list() where name != key.set.hex { try folder.removeTree(name) }
        if let record = Kept.record(dir: dir, key: key), try FS.info(dir + "/labels")?.kind == .directory {
            return record
        }
        try folder.removeTree(key.set.hex)
        try folder.makeDirectory(key.set.hex, mode: 0o700)
        let set = try folder.directory(key.set.hex)
        try set.makeDirectory("bundle", mode: 0o700)
        try set.makeDirectory("labels", mode: 0o700)
        return IncomingRecord(bundle: key.bundle, set: key.set, count: key.count, copied: [])
    }
}

extension Reassembly {
    /// What an earlier run kept in incoming/: the set, and one check for each recorded volume
    /// whose kept label still verifies with the keys given (the payload is checked when used).
    struct Kept {
        var key: VolumeSet.Key
        var checks: [VolumeCheck]

        /// The kept copies, if incoming/ holds a set; nil when it holds none or only garbage.
        static func load(incoming: String, trust: [PublicKey]) -> Kept? {
            // Never through a link (the mirror refuses one there on opening; this is read before
            // `Reassembly` opens the folder without following links).
            func isFolder(_ p: String) -> Bool { (try? FS.info(p))?.kind == .directory }
            guard isFolder(incoming), let names = try? FS.list(incoming), names.count == 1, let name = names.first,
                  isFolder(incoming + "/" + name), isFolder(incoming + "/" + name + "/labels"),
                  let record = record(dir: incoming + "/" + name, key: nil), record.set.hex == name else { return nil }
            let key = VolumeSet.Key(bundle: record.bundle, set: record.set, count: record.count)
            let checks = record.copied.sorted().compactMap { check(incoming + "/" + name, $0, key: key, trust: trust) }
            return Kept(key: key, checks: checks)
        }

        /// volumes.json of `dir`, when it is readable, of `key` if given, and its bundle copy is whole.
        static func record(dir: String, key: VolumeSet.Key?) -> IncomingRecord? {
            let path = dir + "/volumes.json"
            guard let bytes = try? FS.readFile(path, limit: 1 << 20, followingLinks: false),
                  let record = try? IncomingRecord(bytes: bytes, path: path) else { return nil }
            if let key, record.bundle != key.bundle || record.set != key.set || record.count != key.count { return nil }
            let staged = dir + "/bundle/" + record.bundle.file
            guard (try? FS.info(staged))?.size == record.bundle.size else { return nil }
            return record
        }

        /// Volume `n`'s kept label, checked as a volume's label is: it must be of `key`'s set,
        /// numbered `n`, and signed by a key given now (a media key removed since no longer counts).
        static func check(_ dir: String, _ n: Int, key: VolumeSet.Key, trust: [PublicKey]) -> VolumeCheck? {
            let path = Reassembly.labelPath(dir, n)
            guard let bytes = try? FS.readFile(path, limit: VolumeLabel.size, followingLinks: false),
                  let signed = try? VolumeLabel.decode(bytes, what: "'\(path)'"),
                  signed.label.number == n, signed.label.count == key.count, signed.label.bundle == key.bundle, signed.label.set == key.set,
                  case .trusted(let signer) = signed.signature(trust: trust) else { return nil }
            var c = VolumeCheck(source: path, size: signed.label.length + Int64(VolumeLabel.size))
            c.signed = signed
            c.signer = signer
            return c
        }

        /// "volumes 1, 2, 3 of feeds sequence 7 (feeds.bundle)" for messages.
        var description: String {
            let ns = Set(checks.compactMap { $0.label?.number })
            return "volume\(ns.count == 1 ? "" : "s") \(VolumeSet.numberList(ns)) of \(key.bundle.description), set \(key.set.hex.prefix(16))…"
        }
    }
}

/// The file calls reassembly needs beyond `FS`.
private enum VolumeFileIO {
    static func open(_ path: String) throws -> FileDescriptor {
        try FileDescriptor.open(path, .readWrite, options: [.create, .noFollow], mode: 0o600)
    }

    /// Sets the file's size and reserves its blocks, so a full disk shows now, not halfway.
    static func reserve(_ file: FileDescriptor, size: Int64) throws {
        try file.preallocate(size)
    }

    static func flush(_ file: FileDescriptor, _ path: String) throws {
        try file.syncData()
    }

    static func removeIfEmpty(_ dir: String) { try? FS.removeDirectory(dir) }
}

/// `incoming/<sha>/volumes.json`: which volumes of which set are already checked and copied.
/// Each one's label is kept beside it, in `labels/NNNN`.
struct IncomingRecord {
    var bundle: VolumeLabel.Bundle
    var set: SHA256Digest
    var count: Int
    var copied: Set<Int>

    var json: JSON {
        .object(["bundle": bundle.json, "set": .string(set.hex), "count": .int(Int64(count)),
                 "copied": .array(copied.sorted().map { .int(Int64($0)) })])
    }

    init(bundle: VolumeLabel.Bundle, set: SHA256Digest, count: Int, copied: Set<Int>) {
        self.bundle = bundle
        self.set = set
        self.count = count
        self.copied = copied
    }

    init(bytes: [UInt8], path: String) throws {
        let o = try JSONObject(JSON.parse(bytes, what: path), what: path)
        try o.allowOnly(["bundle", "set", "count", "copied"])
        bundle = try VolumeLabel.Bundle(o.object("bundle"))
        set = try o.digest("set")
        let count = Int(try o.int("count", min: 1, max: Int64(VolumeLabel.maxCount)))
        self.count = count
        copied = Set(try o.array("copied").map { v in
            guard case .int(let n) = v, n >= 1, n <= Int64(count) else { throw ToolError.environment("\(path): a volume number is out of range") }
            return Int(n)
        })
    }
}
