import Support

/// What a mirror holds, as the low side needs it to build a delta: the active version and its
/// complete file listing. It travels from the enclave outwards, so it carries only names,
/// sizes and digests, in plain canonical JSON a reviewer can read before it leaves.
public struct Receipt: Equatable, Sendable {
    public static let format = "airgap-receipt/1"
    public var mirror: String
    public var base: BaseRef
    public var listing: TreeListing

    public init(mirror: String, base: BaseRef, listing: TreeListing) {
        self.mirror = mirror
        self.base = base
        self.listing = listing
    }

    public var json: JSON {
        guard case .object(var members) = listing.json else { return .null }
        members["format"] = .string(Receipt.format)
        members["mirror"] = .string(mirror)
        members["name"] = .string(base.name)
        members["sequence"] = .int(base.sequence)
        members["manifest"] = .string(base.manifest.hex)
        members["tree"] = .string(base.tree.hex)
        return .object(members)
    }

    public init(bytes: [UInt8], what: String) throws {
        let o = try JSONObject(JSON.parseCanonical(bytes, what: what), what: what)
        try o.allowOnly(["format", "mirror", "name", "sequence", "manifest", "tree", "files"])
        guard try o.string("format") == Receipt.format else { throw ToolError.usage("\(what) is not a mirror receipt") }
        mirror = try o.string("mirror")
        let tree = try o.digest("tree")
        base = BaseRef(name: try o.string("name"), sequence: try o.int("sequence", max: Manifest.maxSequence), manifest: try o.digest("manifest"), tree: tree, mirror: mirror)
        listing = try TreeListing(canonical: JSON.object(["files": .array(try o.array("files"))]).canonicalBytes, what: what)
        guard listing.digest == tree else { throw ToolError.refused("\(what): its file list does not match its tree digest") }
    }
}
