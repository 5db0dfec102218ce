/// How a version's files are kept on disk: in their signed mode without its write bits.
///
/// Retained versions share unchanged files by hard link, so a file edited in place would change
/// every version that holds it. Without write bits, an edit by its owner is refused and an
/// editor running as root warns first (vim's "changing a readonly file"); a tool that replaces
/// the file (`sed -i`, `cp` over it) gives that one version a new file and leaves the others
/// alone. Mirrors made before this kept the signed mode itself; both are intact.
enum StoredMode {
    /// The mode a file listed with `listed` (644 or 755) is written in: 444 or 555.
    static func of(_ listed: UInt32) -> UInt32 { listed & ~0o222 }

    /// Whether a file on disk in `mode` is in the listed mode, as written now or before.
    static func matches(_ mode: UInt32, listed: UInt32) -> Bool { mode == of(listed) || mode == listed }
}
