/// The distribution spec's grammar for repository names: lower-case path components of letters
/// and digits joined by '.', '_', '__' or runs of '-'.
public enum RepositoryName {
    public static func isValid(_ name: String) -> Bool {
        guard !name.isEmpty, name.utf8.count <= 255 else { return false }
        return name.split(separator: "/", omittingEmptySubsequences: false).allSatisfy(component)
    }

    public static func component(_ c: Substring) -> Bool {
        let u = Array(c.utf8)
        func alnum(_ b: UInt8) -> Bool { (b >= 48 && b <= 57) || (b >= 97 && b <= 122) }
        guard let first = u.first, let last = u.last, alnum(first), alnum(last) else { return false }
        var i = 0
        while i < u.count {
            if alnum(u[i]) { i += 1; continue }
            // A separator: ".", "_", "__" or one or more "-".
            var j = i
            if u[i] == UInt8(ascii: "-") {
                while j < u.count && u[j] == UInt8(ascii: "-") { j += 1 }
            } else if u[i] == UInt8(ascii: "_") {
                j += 1
                if j < u.count && u[j] == UInt8(ascii: "_") { j += 1 }
            } else if u[i] == UInt8(ascii: ".") {
                j += 1
            } else {
                return false
            }
            guard j < u.count, alnum(u[j]) else { return false }
            i = j
        }
        return true
    }
}
