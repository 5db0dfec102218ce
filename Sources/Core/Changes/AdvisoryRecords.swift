import BundleFormat
import Yams

/// One OSV advisory as the change report knows it: its id, when it was last modified, when it
/// was withdrawn (if it was), and the CVE ids it names.
public struct Advisory: Equatable, Sendable {
    public var id: String
    public var modified: String
    public var withdrawn: String?
    /// CVE ids among its aliases, and its id when that is one; sorted, each once.
    public var cves: [String]

    public init(id: String, modified: String, withdrawn: String? = nil, cves: [String] = []) {
        self.id = id
        self.modified = modified
        self.withdrawn = withdrawn
        self.cves = cves
    }
}

/// One entry of a CISA Known Exploited Vulnerabilities catalog.
public struct ExploitedEntry: Equatable, Sendable {
    public var cve: String
    public var dateAdded: String?
    public var ransomware: String?
    public var vendor: String?
    public var product: String?

    public init(cve: String, dateAdded: String? = nil, ransomware: String? = nil, vendor: String? = nil, product: String? = nil) {
        self.cve = cve
        self.dateAdded = dateAdded
        self.ransomware = ransomware
        self.vendor = vendor
        self.product = product
    }
}

/// What one file holds, as the report reads it.
public enum FileRecords: Equatable, Sendable {
    /// An OSV record (JSON or YAML) with a string `id` and `modified`.
    case advisory(Advisory)
    /// A KEV catalog: a `vulnerabilities` array whose every element has a string `cveID`.
    case exploited([ExploitedEntry])
    /// Anything else: another format, invalid, too large. Reported as a file, never an error.
    case other
}

/// Reading feed files into records. Only files under `advisories/` are read, and only JSON and
/// YAML ones up to a size; everything else is a file to the report. The contents are other
/// people's: sizes and counts are bounded, and nothing here throws or traps on them.
public enum RecordFile {
    /// Files larger than this are reported as files without being read (a KEV catalog is ~1.3 MB).
    public static let jsonLimit: Int64 = 64 << 20
    /// YAML costs far more to parse than JSON (Yams builds a node for every value): an OSV
    /// record in YAML is a few kilobytes, so a larger one is not worth the time.
    public static let yamlLimit: Int64 = 4 << 20
    /// Longest id, time or alias kept; a longer value makes the field unusable.
    public static let fieldLimit = 256
    /// At most this many aliases of one record are looked at.
    public static let aliasLimit = 4096

    enum Format { case json, yaml }

    static func format(of path: String) -> Format? {
        guard path.hasPrefix("advisories/") else { return nil }
        if path.hasSuffix(".json") { return .json }
        if path.hasSuffix(".yaml") || path.hasSuffix(".yml") { return .yaml }
        return nil
    }

    /// Whether the report reads a file at `path` of `size` bytes as records at all.
    public static func isCandidate(_ path: String, size: Int64) -> Bool {
        switch format(of: path) {
        case .json?: size <= jsonLimit
        case .yaml?: size <= yamlLimit
        case nil: false
        }
    }

    /// The records in `bytes`, the contents of the file at `path`.
    public static func read(_ path: String, _ bytes: [UInt8]) -> FileRecords {
        bytes.withUnsafeBufferPointer { read(path, $0) }
    }

    /// The records in `bytes` (valid only during the call: a reader's reused buffer).
    public static func read(_ path: String, _ bytes: UnsafeBufferPointer<UInt8>) -> FileRecords {
        guard isCandidate(path, size: Int64(bytes.count)) else { return .other }
        switch format(of: path) {
        case .json?: return (try? RecordJSON.read(bytes, JSONRecord.read)) ?? .other
        case .yaml?: return YAMLRecord.read(bytes)
        case nil: return .other
        }
    }

    /// The CVE ids of a record: its aliases that start with "CVE-", and its id if it does.
    static func cves(id: String, aliases: [String]) -> [String] {
        var out = aliases.filter { $0.hasPrefix("CVE-") }
        if id.hasPrefix("CVE-") { out.append(id) }
        guard out.count > 1 else { return out }
        out.sort(by: LogicalPath.bytewiseLess)
        var kept = 1
        for k in 1..<out.count where out[k] != out[kept - 1] {
            out[kept] = out[k]
            kept += 1
        }
        out.removeSubrange(kept...)
        return out
    }

    /// An advisory from its fields, when `id` and `modified` are usable strings.
    static func advisory(id: String?, modified: String?, withdrawn: String?, aliases: [String]) -> FileRecords {
        guard let id, !id.isEmpty, let modified else { return .other }
        return .advisory(Advisory(id: id, modified: modified, withdrawn: withdrawn, cves: cves(id: id, aliases: aliases)))
    }
}

/// OSV or KEV in JSON, read field by field with `RecordJSON`: only the fields the report uses
/// are decoded, so a 1.3 MB catalog costs a pass over its bytes and a few thousand strings.
private enum JSONRecord {
    /// The top-level fields the report reads, as bits: one given twice could mean either value,
    /// and the file is then not a record.
    static func field(_ key: RecordJSON.Key) -> UInt8? {
        if key.is("id") { return 1 }
        if key.is("modified") { return 2 }
        if key.is("withdrawn") { return 4 }
        if key.is("aliases") { return 8 }
        if key.is("vulnerabilities") { return 16 }
        return nil
    }

    static func read(_ r: inout RecordJSON) throws -> FileRecords {
        guard r.peek() == UInt8(ascii: "{") else {
            try r.skip(depth: 0)
            return .other
        }
        var id: String?, modified: String?, withdrawn: String?, aliases: [String] = []
        var catalog: [ExploitedEntry]?, wrongType = false, seen: UInt8 = 0
        try r.members(depth: 0) { r, key in
            guard let f = field(key) else { return try r.skip(depth: 1) }
            guard seen & f == 0 else { throw RecordJSON.Invalid() }
            seen |= f
            switch f {
            case 1: id = try r.optionalString(limit: RecordFile.fieldLimit, depth: 1, other: &wrongType)
            case 2: modified = try r.optionalString(limit: RecordFile.fieldLimit, depth: 1, other: &wrongType)
            case 4: withdrawn = try r.optionalString(limit: RecordFile.fieldLimit, depth: 1, other: &wrongType)
            case 8: aliases = try strings(&r)
            default: catalog = try entries(&r)
            }
        }
        if id != nil || modified != nil {
            return wrongType ? .other : RecordFile.advisory(id: id, modified: modified, withdrawn: withdrawn, aliases: aliases)
        }
        return catalog.map { .exploited($0) } ?? .other
    }

    /// The strings of an array (other elements skipped); [] when the value is not an array.
    static func strings(_ r: inout RecordJSON) throws -> [String] {
        guard r.peek() == UInt8(ascii: "[") else {
            try r.skip(depth: 1)
            return []
        }
        var out: [String] = []
        try r.elements(depth: 1) { r in
            if r.peek() == UInt8(ascii: "\""), out.count < RecordFile.aliasLimit, let s = try r.string(limit: RecordFile.fieldLimit) {
                out.append(s)
            } else {
                try r.skip(depth: 2)
            }
        }
        return out
    }

    /// A KEV `vulnerabilities` array; nil unless it is an array of objects that all have a
    /// string `cveID`.
    static func entries(_ r: inout RecordJSON) throws -> [ExploitedEntry]? {
        guard r.peek() == UInt8(ascii: "[") else {
            try r.skip(depth: 1)
            return nil
        }
        var out: [ExploitedEntry] = [], usable = true
        try r.elements(depth: 1) { r in
            guard usable, r.peek() == UInt8(ascii: "{") else {
                usable = false
                return try r.skip(depth: 2)
            }
            if let e = try entry(&r) { out.append(e) } else { usable = false }
        }
        return usable ? out : nil
    }

    static func entry(_ r: inout RecordJSON) throws -> ExploitedEntry? {
        var e = ExploitedEntry(cve: ""), seen: UInt8 = 0, wrong = false
        try r.members(depth: 2) { r, key in
            let n: UInt8
            if key.is("cveID") { n = 1 } else if key.is("dateAdded") { n = 2 } else if key.is("knownRansomwareCampaignUse") { n = 4 }
            else if key.is("vendorProject") { n = 8 } else if key.is("product") { n = 16 } else { return try r.skip(depth: 3) }
            guard seen & n == 0 else { throw RecordJSON.Invalid() }
            seen |= n
            let v = try r.optionalString(limit: RecordFile.fieldLimit, depth: 3, other: &wrong).flatMap { $0.isEmpty ? nil : $0 }
            switch n {
            case 1: e.cve = v ?? ""
            case 2: e.dateAdded = v
            case 4: e.ransomware = v
            case 8: e.vendor = v
            default: e.product = v
            }
        }
        return wrong || e.cve.isEmpty ? nil : e
    }
}

/// OSV in YAML (the PyPA database), through Yams: the document's top-level mapping, its
/// scalars `id`, `modified` and `withdrawn` and its sequence `aliases`, as text. No tag is
/// resolved (`Resolver.basic`): a time stays the text it was written as, and `123` stays "123".
private enum YAMLRecord {
    /// The top-level keys read; any other is passed over.
    static let keys: Set<String> = ["id", "modified", "withdrawn", "aliases"]

    static func read(_ bytes: UnsafeBufferPointer<UInt8>) -> FileRecords {
        guard let text = String(validating: bytes, as: UTF8.self),
              // UTF-8 named: Yams' default encoding reads the process environment on every call.
              let root = try? Yams.compose(yaml: text, .basic, .default, .utf8), let top = root.mapping else { return .other }
        var fields: [String: Node] = [:]
        for (k, v) in top {
            guard case .scalar(let key) = k else { continue }
            guard keys.contains(key.string) else { continue }
            guard fields.updateValue(v, forKey: key.string) == nil else { return .other }  // given twice: ambiguous
        }
        guard let id = scalar(fields["id"]), let modified = scalar(fields["modified"]) else { return .other }
        let withdrawn = fields["withdrawn"].map(scalar) ?? nil
        if fields["withdrawn"] != nil && withdrawn == nil && !isNull(fields["withdrawn"]) { return .other }
        let aliases = (fields["aliases"]?.sequence.map { Array($0.prefix(RecordFile.aliasLimit)) } ?? []).compactMap(scalar)
        return RecordFile.advisory(id: id, modified: modified, withdrawn: withdrawn, aliases: aliases)
    }

    /// A scalar's text, nil for a null, another kind of node, or an overlong value.
    static func scalar(_ node: Node?) -> String? {
        guard case .scalar(let s)? = node, !isNull(node), s.string.utf8.count <= RecordFile.fieldLimit else { return nil }
        return s.string
    }

    /// YAML's null: a plain `~`, `null` (in any of its three spellings) or nothing at all.
    static func isNull(_ node: Node?) -> Bool {
        guard case .scalar(let s)? = node, s.style == .plain || s.style == .any else { return false }
        return ["", "~", "null", "Null", "NULL"].contains(s.string)
    }
}
