import Support

/// Volumes checked alone, then judged as a set: which set they make, and every volume that is
/// missing, duplicated, foreign (of another bundle or another split) or damaged.
public struct VolumeSet {
    /// The volumes of one split of one bundle.
    public struct Key: Hashable, Sendable {
        public var bundle: VolumeLabel.Bundle
        public var set: SHA256Digest
        public var count: Int
    }

    public enum Finding: Sendable {
        /// `number`: the volume it is, from its label, or from its file name when the label is unreadable.
        case damaged(VolumeCheck, number: Int?)
        case missing(number: Int, count: Int)
        case duplicate(VolumeCheck, of: VolumeCheck)
        case foreign(VolumeCheck, Key)
        /// The labels of the set disagree with each other (a bug or a forgery by a trusted key).
        case inconsistent(VolumeCheck, String)
        /// Volumes of several sets in equal numbers: which one was meant cannot be told.
        case ambiguous([Key: Int])
    }

    /// The set most of the volumes belong to; nil when there is no labelled volume or a tie.
    public private(set) var key: VolumeSet.Key?
    /// The intact volume for each number found, in number order.
    public private(set) var volumes: [Int: VolumeCheck] = [:]
    public private(set) var findings: [Finding] = []

    public var isComplete: Bool { findings.isEmpty && key != nil && volumes.count == key!.count }

    /// Judges volumes already checked alone (labels at least; payloads too for `media verify`).
    /// Of two copies of a volume, the one given first is used and the other named a duplicate.
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
        for (k, others) in groups where k != key {
            for c in others { findings.append(.foreign(c, k)) }
        }
        for c in members {
            let n = c.label!.number
            if c.problem != nil {
                findings.append(.damaged(c, number: n))
                damagedNumbers.insert(n)
            } else if let first = volumes[n] {
                findings.append(.duplicate(c, of: first))
            } else {
                volumes[n] = c
            }
        }
        findings += VolumeSet.rangeFindings(key, volumes)
        findings += VolumeSet.setDigestFindings(key, volumes)
        for n in 1...key.count where volumes[n] == nil && !damagedNumbers.contains(n) {
            findings.append(.missing(number: n, count: key.count))
        }
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
            return "DUPLICATE  \(c.label!.number)/\(c.label!.count)  \(c.source): the same volume as \(first.source)"
        case .foreign(let c, let k):
            return "FOREIGN    \(c.label!.number)/\(c.label!.count)  \(c.source): volume of \(k.bundle.description), manifest sha256:\(k.bundle.manifest.hex.prefix(16))…, set \(k.set.hex.prefix(16))…"
        case .inconsistent(let c, let why):
            return "DAMAGED    \(c.label!.number)/\(c.label!.count)  \(c.source): \(why)"
        case .ambiguous(let groups):
            let list = groups.sorted { $0.value > $1.value }.map { "\($0.key.bundle.description) set \($0.key.set.hex.prefix(16))… (\($0.value) volume(s))" }
            return "AMBIGUOUS  volumes of \(groups.count) sets in equal numbers: \(VolumeSet.firstFew(list, "; "))"
        }
    }

    /// A one-line summary of what is wrong, for the error a command ends with.
    public func problemSummary() -> String {
        var damaged: [String] = [], missing: [String] = [], duplicate: [String] = [], foreign: [String] = []
        var other: [String] = []
        for f in findings {
            switch f {
            case .damaged(let c, let n):
                let position = c.label?.position ?? n.map { "volume \($0) of \(key?.count ?? 0), by its name" } ?? "not identified"
                damaged.append("\(c.source) (\(position): \(c.problem ?? "no volume label at its end"))")
            case .inconsistent(let c, let why): damaged.append("\(c.source) (\(c.label!.position): \(why))")
            case .missing(let n, _): missing.append(String(n))
            case .duplicate(let c, let first): duplicate.append("\(c.source) repeats \(first.source)")
            case .foreign(let c, let k): foreign.append("\(c.source) belongs to \(k.bundle.description)")
            case .ambiguous: other.append(String(describe(f).dropFirst(11)).trimmingSpaces)
            }
        }
        var parts: [String] = []
        if !missing.isEmpty { parts.append("missing volume\(missing.count == 1 ? "" : "s") \(VolumeSet.firstFew(missing, ", ")) of \(key?.count ?? 0)") }
        if !damaged.isEmpty { parts.append("damaged: " + VolumeSet.firstFew(damaged, "; ")) }
        if !duplicate.isEmpty { parts.append("duplicate: " + VolumeSet.firstFew(duplicate, "; ")) }
        if !foreign.isEmpty { parts.append("foreign: " + VolumeSet.firstFew(foreign, "; ")) }
        parts += other
        return parts.joined(separator: "; ")
    }

    /// How many findings of a kind the summary names; the rest are counted. The summary is one
    /// line on the terminal and one journal entry: a folder of 20,000 junk files named like
    /// volumes must not make it 6 MB (`media verify` lists every finding, one line each).
    public static let named = 5

    static func firstFew(_ items: [String], _ separator: String) -> String {
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
