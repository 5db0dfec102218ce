import BundleFormat
import Changes
import Support

/// One JSON object on standard output, for `--json`: canonical (sorted keys, no spaces) on one
/// line. Text from outside reaches it too (paths, names), so every character `OutsideText`
/// names is written as a `\uXXXX` escape: a JSON reader gets the text back, a terminal shown
/// the line obeys nothing in it. Canonical JSON already escapes C0 controls.
public func printJSON(_ value: JSON) {
    var out = ""
    for u in value.canonicalString.unicodeScalars {
        if OutsideText.isUnsafe(u) {
            let hex = String(u.value, radix: 16)
            out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
        } else {
            out.unicodeScalars.append(u)
        }
    }
    print(out)
}

/// The field shapes every report shares, so one thing has one name and one form in every
/// command's JSON (README, "Machine-readable output").
public enum Fields {
    /// A trust policy: {"version", "threshold", "keys": [key ids]}.
    public static func policy(_ p: TrustPolicy?) -> JSON { p?.summaryJSON ?? .null }

    /// A digest as the tools print a manifest's: "sha256:<hex>".
    public static func digest(_ d: SHA256Digest) -> JSON { .string("sha256:" + d.hex) }

    /// Key ids, as the text output names them.
    public static func keys(_ ids: [String]) -> JSON { .array(ids.map { .string($0) }) }

    /// A time in whole milliseconds (the format has no fractions).
    public static func milliseconds(_ seconds: Double) -> JSON { .int(Int64((seconds * 1000).rounded())) }

    /// An image: {"ref", "digest": "sha256:<hex>", "mediaType", "platforms", "size", "pulledFrom",
    /// "resolvedAt", "reducedFrom"}, as `inspect` shows it; the last three are null unless it was
    /// pulled by reference (reducedFrom: the registry's index, when `platforms:` reduced it).
    public static func image(_ i: ImageSummary) -> JSON {
        .object(["ref": i.ref.map { .string($0) } ?? .null, "digest": digest(i.digest), "mediaType": .string(i.mediaType),
                 "platforms": .array(i.platforms.map { .string($0) }), "size": .int(i.size),
                 "pulledFrom": i.pulledFrom.map { .string($0) } ?? .null, "resolvedAt": time(i.resolvedAt),
                 "reducedFrom": i.reducedFrom.map(digest) ?? .null])
    }

    /// The sources: [{"name", "kind", "origin", "files", "size"}], as `inspect` shows them.
    public static func sources(_ m: Manifest) -> JSON {
        .array(m.sources.map { s in
            .object(["name": .string(s.name), "kind": .string(s.kind.rawValue), "origin": .string(s.origin), "files": .int(s.files), "size": .int(s.size)])
        })
    }

    /// The version a delta changes: {"name", "sequence", "manifest", "tree", "mirror"}.
    public static func base(_ b: BaseRef) -> JSON {
        .object(["name": .string(b.name), "sequence": .int(b.sequence), "manifest": digest(b.manifest), "tree": .string(b.tree.hex),
                 "mirror": b.mirror.map { .string($0) } ?? .null])
    }

    /// `object` with `members` added.
    public static func adding(_ members: [String: JSON], to object: JSON) -> JSON {
        guard case .object(var o) = object else { return object }
        o.merge(members) { _, new in new }
        return .object(o)
    }

    public static func time(_ t: Int64?) -> JSON { t.map { .string(Timestamp.format($0)) } ?? .null }

    /// A bundle's identity: {"name", "version", "sequence", "manifest"} (plus what the caller adds).
    public static func bundle(_ m: Manifest, manifest digest: SHA256Digest) -> [String: JSON] {
        ["name": .string(m.name), "version": .string(m.version), "sequence": .int(m.sequence), "manifest": Fields.digest(digest)]
    }

    /// A tree: {"sha256", "files", "size"}, as `inspect` has always shown it.
    public static func tree(_ m: Manifest) -> JSON {
        .object(["sha256": .string(m.tree.hex), "files": .int(m.treeFiles), "size": .int(m.treeSize)])
    }
}
