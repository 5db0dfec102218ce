import Libarchive
import Support

/// The order of a bundle's entries, and the refusals when it is broken: MANIFEST, MANIFEST.sig,
/// (co-signatures, TRUST and its signatures: see `SignedHead`), INDEX.zst, then the manifest's
/// packs (see `PackStream`), each a regular file.
enum EntryOrder {
    static let index = "INDEX.zst"

    /// The entries every bundle starts with, in order.
    static let leading = ["MANIFEST", "MANIFEST.sig", index]

    /// The next entry, which must be `name`.
    static func expect(_ tar: TarReader, _ name: String, path: String) throws -> TarEntry {
        guard let e = try tar.next() else { throw ToolError.refused("'\(path)' is truncated: \(name) is missing") }
        return try check(e, name, path: path)
    }

    /// `e`, when it is `name` and a regular file.
    static func check(_ e: TarEntry, _ name: String, path: String) throws -> TarEntry {
        guard e.name == name else {
            if let i = leading.firstIndex(of: name), leading[..<i].contains(e.name) {
                throw ToolError.refused("'\(path)' holds \(e.name) twice")
            }
            throw ToolError.refused("'\(path)' is not a bundle: expected \(name), found entry '\(ToolError.shown(e.name))'")
        }
        guard e.kind == .regular else { throw ToolError.refused("'\(path)': \(name) is not a regular file") }
        return e
    }
}

extension BundleReader {
    /// The entries this bundle must hold, in the order the reader requires them: MANIFEST and
    /// every signature of it, TRUST and its signatures when it carries a policy, the index, then
    /// the manifest's packs, and nothing after. A tool that rewrites a bundle (the co-signer)
    /// walks this list instead of keeping its own.
    public var entryNames: [String] {
        [EntryOrder.leading[0]] + signatures.map(\.entry) + (trustUpdate.map { ["TRUST"] + $0.signatures.map(\.entry) } ?? [])
            + [manifest.index.path] + manifest.packs.map(\.path)
    }
}
