import BundleFormat
import Support

/// What one bundle's images change against another's, by name (`ref`): names that appear,
/// names that go, and names that now stand for another image (a tag moved: same name, another
/// manifest digest). An image without a name is known by its digest alone, so it can only
/// appear or go.
public struct ImageChanges: Sendable {
    public struct Moved: Sendable {
        public var ref: String
        public var from: SHA256Digest
        public var to: SHA256Digest
    }
    public var added: [ImageSummary] = []
    public var removed: [ImageSummary] = []
    public var moved: [Moved] = []

    public var isEmpty: Bool { added.isEmpty && removed.isEmpty && moved.isEmpty }

    public init() {}

    public static func between(_ old: [ImageSummary], _ new: [ImageSummary]) -> ImageChanges {
        func key(_ i: ImageSummary) -> String { i.ref ?? "sha256:" + i.digest.hex }
        var before: [String: ImageSummary] = [:]
        for i in old { before[key(i)] = i }
        var changes = ImageChanges()
        for i in new {
            if let o = before.removeValue(forKey: key(i)) {
                if o.digest != i.digest, let ref = i.ref { changes.moved.append(Moved(ref: ref, from: o.digest, to: i.digest)) }
            } else {
                changes.added.append(i)
            }
        }
        changes.removed = old.filter { before[key($0)] != nil }
        return changes
    }

    /// {"added": [{"ref", "digest"}], "removed": [{"ref", "digest"}], "moved": [{"ref", "from", "to"}]}
    public var json: JSON {
        func image(_ i: ImageSummary) -> JSON { .object(["ref": i.ref.map { .string($0) } ?? .null, "digest": .string("sha256:" + i.digest.hex)]) }
        return .object([
            "added": .array(added.map(image)), "removed": .array(removed.map(image)),
            "moved": .array(moved.map { .object(["ref": .string($0.ref), "from": .string("sha256:" + $0.from.hex), "to": .string("sha256:" + $0.to.hex)]) }),
        ])
    }
}
