import BundleFormat
import Changes
import Support

extension FuzzHarness {
    /// `RecordFile.read` on one file: it never throws, so a finding is a trap, a memory error,
    /// or a record that breaks what the report relies on (a usable id, bounded fields, CVE ids
    /// sorted and each once). The same bytes read again, and a JSON document with white space
    /// around it, must read the same; the record then goes through the comparison both ways.
    /// The in-place UTF-8 check must agree with the standard library's.
    static func records(_ data: [UInt8]) {
        let name: String
        switch data.first {
        case UInt8(ascii: "j")?: name = "advisories/fuzz/record.json"
        case UInt8(ascii: "y")?: name = "advisories/fuzz/record.yaml"
        default: name = "advisories/fuzz/record.yml"
        }
        let bytes = Array(data.dropFirst())
        let utf8 = bytes.withUnsafeBufferPointer(WellFormedUTF8.check)
        precondition(utf8 == (String(validating: bytes, as: UTF8.self) != nil), "WellFormedUTF8 and the standard library disagree")
        let records = RecordFile.read(name, bytes)
        precondition(RecordFile.read(name, bytes) == records, "RecordFile.read gives two answers for the same bytes")
        if name.hasSuffix(".json") {
            precondition(RecordFile.read(name, Array(" \n".utf8) + bytes + Array("\t\r\n".utf8)) == records,
                         "white space around a JSON document changes what it reads as")
        }
        switch records {
        case .advisory(let a):
            precondition(!a.id.isEmpty && a.id.utf8.count <= RecordFile.fieldLimit && a.modified.utf8.count <= RecordFile.fieldLimit,
                         "an advisory's id or modified time is empty or longer than the limit")
            precondition((a.withdrawn?.utf8.count ?? 0) <= RecordFile.fieldLimit, "a withdrawn time longer than the limit")
            precondition(a.cves.allSatisfy { $0.hasPrefix("CVE-") && $0.utf8.count <= RecordFile.fieldLimit }, "a CVE id that is not one")
            precondition(a.cves.count <= RecordFile.aliasLimit + 1, "more CVE ids than aliases looked at")
            precondition(zip(a.cves, a.cves.dropFirst()).allSatisfy { LogicalPath.bytewiseLess($0, $1) }, "CVE ids not sorted, or one twice")
        case .exploited(let list):
            precondition(list.allSatisfy { !$0.cve.isEmpty && $0.cve.utf8.count <= RecordFile.fieldLimit }, "a KEV entry without a usable cveID")
        case .other:
            return
        }
        let file = ParsedFile(path: name, sha256: SHA256Digest.of(bytes), records: records)
        let added = RecordChanges.between(old: [], new: [file]), removed = RecordChanges.between(old: [file], new: [])
        if records != .exploited([]) {
            precondition(added.added.count + added.withdrawn.count + added.exploitedAdded.count > 0, "a record read but not reported as added")
            precondition(removed.removed.count + removed.exploitedRemoved.count > 0, "a record read but not reported as removed")
        }
        precondition(RecordChanges.between(old: [file], new: [file]) == RecordChanges(), "a record compared with itself changes")
    }
}
