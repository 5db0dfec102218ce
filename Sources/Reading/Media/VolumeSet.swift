import Support

/// Volumes checked alone, then judged as a set: which set they make, and every volume that is
/// missing, duplicated, foreign (of another bundle or another split), damaged or untrusted.
public struct VolumeSet {
    /// The volumes of one split of one bundle.
    public struct Key: Hashable, Sendable {
        public var bundle: VolumeLabel.Bundle
        public var set: SHA256Digest
        public var count: Int

        public init(bundle: VolumeLabel.Bundle, set: SHA256Digest, count: Int) {
            self.bundle = bundle
            self.set = set
            self.count = count
        }
    }

    public enum Finding: Sendable {
        /// `number`: the volume it is, from its label, or from its file name when the label is unreadable.
        case damaged(VolumeCheck, number: Int?)
        case missing(number: Int, count: Int)
        /// A second volume of the same number whose label differs: which one is right cannot be told.
        case duplicate(VolumeCheck, of: VolumeCheck)
        case foreign(VolumeCheck, Key)
        /// The labels of the set disagree with each other (a bug or a forgery by a trusted key).
        case inconsistent(VolumeCheck, String)
        /// Volumes of several sets in equal numbers: which one was meant cannot be told.
        case ambiguous([Key: Int])
        /// Volumes of the set whose labels are signed by keys not trusted: one finding for them
        /// all, since one missing key explains them all.
        case untrusted([VolumeCheck])
    }

    /// A second copy of a volume with the very same label (the same volume written to two
    /// sticks): not a problem; `of` is the copy used, `copy` a stand-in for it.
    public struct Copy: Sendable {
        public var copy: VolumeCheck
        public var of: VolumeCheck
    }

    /// The set most of the volumes belong to; nil when there is no labelled volume or a tie.
    public private(set) var key: VolumeSet.Key?
    /// The intact volume for each number found, in number order.
    public private(set) var volumes: [Int: VolumeCheck] = [:]
    public private(set) var findings: [Finding] = []
    /// Identical second copies, in the order given.
    public private(set) var copies: [Copy] = []

    public var isComplete: Bool { findings.isEmpty && key != nil && volumes.count == key!.count }

    /// Volume `n` and its identical copies, the one to use first.
    public func candidates(_ n: Int) -> [VolumeCheck] {
        (volumes[n].map { [$0] } ?? []) + copies.filter { $0.of.label?.number == n }.map(\.copy)
    }

    /// The key ids that signed the untrusted labels of the set, sorted.
    public var untrustedSigners: [String] {
        var ids = Set<String>()
        for case .untrusted(let checks) in findings { ids.formUnion(checks.compactMap(\.untrustedBy)) }
        return ids.sorted()
    }

    /// Judges volumes already checked alone (labels at least; payloads too for `media verify`).
    /// Of two copies of a volume, the one given first is used; the other is noted as a copy when
    /// its label is the same, and named a duplicate when it differs.
    /// Pure: reads nothing but the checks, so it is tested with hand-made ones.
    public init(_ checks: [VolumeCheck]) {
        let (groups, unlabelled) = VolumeSet.group(checks)
        guard let (key, members) = VolumeSet.leader(groups) else {
            findings = unlabelled.map { .damaged($0, number: nil) }
            if !groups.isEmpty { findings.append(.ambiguous(groups.mapValues(\.count))) }
            return
        }
        self.key = key
        var damagedNumbers = Set<Int>()
        // A volume whose label is unreadable is still known by the name the writer gave it.
        for c in unlabelled {
            let n = VolumeSet.numberByName(c, key)
            if let n { damagedNumbers.insert(n) }
            findings.append(.damaged(c, number: n))
        }
        for (k, others) in groups.sorted(by: { $0.value[0].source < $1.value[0].source }) where k != key {
            for c in others { findings.append(.foreign(c, k)) }
        }
        var untrusted: [VolumeCheck] = []
        for c in members {
            if !place(c, untrusted: &untrusted) { damagedNumbers.insert(c.label!.number) }
        }
        if !untrusted.isEmpty { findings.append(.untrusted(untrusted)) }
        findings += VolumeSet.rangeFindings(key, volumes)
        findings += VolumeSet.setDigestFindings(key, volumes)
        for n in 1...key.count where volumes[n] == nil && !damagedNumbers.contains(n) {
            findings.append(.missing(number: n, count: key.count))
        }
    }

    /// Places a labelled volume of the set; false when it is damaged or untrusted (its number
    /// is then not also reported missing).
    private mutating func place(_ c: VolumeCheck, untrusted: inout [VolumeCheck]) -> Bool {
        let n = c.label!.number
        if c.untrustedBy != nil {
            untrusted.append(c)
            return false
        }
        if c.problem != nil {
            findings.append(.damaged(c, number: n))
            return false
        }
        if let first = volumes[n] {
            if first.label == c.label && first.size == c.size {
                copies.append(Copy(copy: c, of: first))
            } else {
                findings.append(.duplicate(c, of: first))
            }
        } else {
            volumes[n] = c
        }
        return true
    }

    /// The labelled volumes by the set they name, in the order given, and the unlabelled ones.
    static func group(_ checks: [VolumeCheck]) -> (groups: [Key: [VolumeCheck]], unlabelled: [VolumeCheck]) {
        var groups: [Key: [VolumeCheck]] = [:]
        var unlabelled: [VolumeCheck] = []
        for c in checks {
            if let l = c.label {
                groups[Key(bundle: l.bundle, set: l.set, count: l.count), default: []].append(c)
            } else {
                unlabelled.append(c)
            }
        }
        return (groups, unlabelled)
    }

    /// The set with the most volumes; nil when there is none or several tie.
    static func leader(_ groups: [Key: [VolumeCheck]]) -> (Key, [VolumeCheck])? {
        let largest = groups.values.map(\.count).max() ?? 0
        let leaders = groups.filter { $0.value.count == largest }
        guard leaders.count == 1, let (key, members) = leaders.first else { return nil }
        return (key, members)
    }

    /// The number an unlabelled file has by the name the writer would give it in `key`'s set.
    static func numberByName(_ c: VolumeCheck, _ key: Key) -> Int? {
        (1...key.count).first { n in
            let name = VolumeLabel.fileName(bundle: key.bundle.name, sequence: key.bundle.sequence, number: n, count: key.count)
            return c.source.hasSuffix("/" + name) || c.source.hasSuffix(":" + name) || c.source == name
        }
    }

    /// With every volume present, the set digest must be the one their payload digests make.
    static func setDigestFindings(_ key: Key, _ volumes: [Int: VolumeCheck]) -> [Finding] {
        guard volumes.count == key.count, let first = volumes[1] else { return [] }
        let digest = VolumeLabel.setDigest(bundle: key.bundle, count: key.count, stride: first.label!.length,
                                           payloads: (1...key.count).map { volumes[$0]!.label!.payload })
        return digest == key.set ? [] : [.inconsistent(first, "the set digest in the labels does not match the volumes' payload digests")]
    }

    /// Every full volume carries `stride` bytes and volume n starts at (n - 1) * stride; the last
    /// one ends at the bundle's end. Checked on whatever volumes are present.
    static func rangeFindings(_ key: Key, _ volumes: [Int: VolumeCheck]) -> [Finding] {
        var out: [Finding] = []
        let stride = volumes.first { $0.key < key.count }?.value.label!.length
        for (n, c) in volumes.sorted(by: { $0.key < $1.key }) {
            let l = c.label!
            if n < key.count, let stride, l.length != stride || l.offset != Int64(n - 1) * stride {
                out.append(.inconsistent(c, "its range \(l.offset)+\(l.length) does not follow the set's \(stride)-byte volumes"))
            }
            if n == key.count {
                if l.offset + l.length != key.bundle.size {
                    out.append(.inconsistent(c, "the last volume ends at byte \(l.offset + l.length), not at the bundle's end (\(key.bundle.size))"))
                } else if let stride, l.offset != Int64(n - 1) * stride || l.length > stride {
                    out.append(.inconsistent(c, "the last volume's range \(l.offset)+\(l.length) does not follow the set's \(stride)-byte volumes"))
                }
            }
        }
        return out
    }

    /// One line per finding, for a report.
    public func describe(_ f: Finding) -> String {
        switch f {
        case .damaged(let c, let n):
            let position = c.label.map { "\($0.number)/\($0.count)" } ?? n.map { "\($0)/\(key?.count ?? 0)" } ?? "?"
            return "DAMAGED    \(position)  \(c.source): \(c.problem ?? "no volume label at its end (truncated or overwritten)")"
        case .missing(let n, let count):
            return "MISSING    \(n)/\(count)  volume \(n) of \(count) was not found"
        case .duplicate(let c, let first):
            return "DUPLICATE  \(c.label!.number)/\(c.label!.count)  \(c.source): another volume \(c.label!.number) than \(first.source), with another label: which one is right cannot be told"
        case .foreign(let c, let k):
            return "FOREIGN    \(c.label!.number)/\(c.label!.count)  \(c.source): \(foreignReason(k))"
        case .inconsistent(let c, let why):
            return "DAMAGED    \(c.label!.number)/\(c.label!.count)  \(c.source): \(why)"
        case .ambiguous(let groups):
            let list = groups.sorted { $0.value > $1.value }.map { "\($0.key.bundle.description) set \($0.key.set.hex.prefix(16))… (\($0.value) volume(s))" }
            return "AMBIGUOUS  volumes of \(groups.count) sets in equal numbers: \(VolumeSet.firstFew(list, "; "))"
        case .untrusted(let checks):
            return "UNTRUSTED  \(numbers(checks))  labels signed by key \(signers(checks)), which is not trusted: \(VolumeSet.firstFew(checks.map(\.source), ", "))"
        }
    }

    /// The note for an identical copy: not a problem, one copy is used.
    public func describe(_ c: Copy) -> String {
        let same = c.copy.payloadDigest != nil && c.of.payloadDigest != nil ? "same label and payload" : "same label"
        return "COPY       \(c.copy.label!.number)/\(c.copy.label!.count)  \(c.copy.source): an identical copy of \(c.of.source) (\(same)); one is used"
    }

    /// Why a volume of set `k` does not belong here: another bundle, or another split of this one.
    func foreignReason(_ k: Key) -> String {
        if let key, k.bundle == key.bundle {
            return "a volume of the same bundle split another way (written with another --volume-size: \(k.count) volumes, set \(k.set.hex.prefix(16))…, not \(key.count) volumes, set \(key.set.hex.prefix(16))…); volumes of two splits must not be mixed: use the volumes of one split"
        }
        return "volume of \(k.bundle.description), manifest sha256:\(k.bundle.manifest.hex.prefix(16))…, set \(k.set.hex.prefix(16))…"
    }

    /// "volumes 1, 2, 4 of 4" for the volumes of `checks`.
    private func numbers(_ checks: [VolumeCheck]) -> String {
        let ns = Set(checks.compactMap { $0.label?.number })
        return "volume\(ns.count == 1 ? "" : "s") \(VolumeSet.numberList(ns)) of \(key?.count ?? 0)"
    }

    /// Volume numbers for a message, runs of three or more as ranges: "1-4, 6, 8" (bounded
    /// like every list here: the first few runs, the rest counted).
    public static func numberList(_ numbers: Set<Int>) -> String {
        let sorted = numbers.sorted()
        var runs: [String] = []
        var i = 0
        while i < sorted.count {
            var j = i
            while j + 1 < sorted.count && sorted[j + 1] == sorted[j] + 1 { j += 1 }
            runs += j - i >= 2 ? ["\(sorted[i])-\(sorted[j])"] : sorted[i...j].map(String.init)
            i = j + 1
        }
        return firstFew(runs, ", ")
    }

    private func signers(_ checks: [VolumeCheck]) -> String {
        Set(checks.compactMap(\.untrustedBy)).sorted().joined(separator: ", ")
    }

    /// A one-line summary of what is wrong, for the error a command ends with.
    public func problemSummary() -> String {
        var damaged: [String] = [], missing = Set<Int>(), duplicate: [String] = [], foreign: [String] = []
        var other: [String] = []
        for f in findings {
            switch f {
            case .damaged(let c, let n):
                let position = c.label?.position ?? n.map { "volume \($0) of \(key?.count ?? 0), by its name" } ?? "not identified"
                damaged.append("\(c.source) (\(position): \(c.problem ?? "no volume label at its end"))")
            case .inconsistent(let c, let why): damaged.append("\(c.source) (\(c.label!.position): \(why))")
            case .missing(let n, _): missing.insert(n)
            case .duplicate(let c, let first): duplicate.append("\(c.source) is another volume \(c.label!.number) than \(first.source) (the labels differ)")
            case .foreign(let c, let k):
                foreign.append(k.bundle == key?.bundle ? "\(c.source) is of another split of the same bundle (another --volume-size; splits must not be mixed)"
                                                        : "\(c.source) belongs to \(k.bundle.description)")
            case .ambiguous: other.append(String(describe(f).dropFirst(11)).trimmingSpaces)
            case .untrusted(let checks): other.append("untrusted: the labels of \(numbers(checks)) are signed by key \(signers(checks)), which is not trusted")
            }
        }
        var parts: [String] = []
        if !missing.isEmpty { parts.append("missing volume\(missing.count == 1 ? "" : "s") \(VolumeSet.numberList(missing)) of \(key?.count ?? 0)") }
        if !damaged.isEmpty { parts.append("damaged: " + VolumeSet.firstFew(damaged, "; ")) }
        if !duplicate.isEmpty { parts.append("duplicate: " + VolumeSet.firstFew(duplicate, "; ")) }
        if !foreign.isEmpty { parts.append("foreign: " + VolumeSet.firstFew(foreign, "; ")) }
        parts += other
        return parts.joined(separator: "; ")
    }

    /// True when every problem is labels signed by keys not trusted: nothing was found damaged,
    /// missing or foreign, and the fix is the right key, not new media.
    public var onlyUntrusted: Bool {
        !findings.isEmpty && findings.allSatisfy { if case .untrusted = $0 { return true } else { return false } }
    }

    /// How many findings of a kind the summary names; the rest are counted. The summary is one
    /// line on the terminal and one journal entry: a folder of 20,000 junk files named like
    /// volumes must not make it 6 MB (`media verify` lists every finding, one line each).
    public static let named = 5

    public static func firstFew(_ items: [String], _ separator: String) -> String {
        let shown = items.prefix(named).joined(separator: separator)
        return items.count <= named ? shown : shown + separator + "and \(Format.grouped(Int64(items.count - named))) more"
    }

    /// Exit status for the findings: a refusal unless every problem is the environment's.
    public var status: ExitStatus {
        let envOnly = findings.allSatisfy { f in
            if case .damaged(let c, _) = f { return c.problemStatus == .environment }
            return false
        }
        return envOnly && !findings.isEmpty ? .environment : .refused
    }
}
