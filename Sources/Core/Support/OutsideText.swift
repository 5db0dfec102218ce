/// The characters text from outside (a bundle, a volume, a file name on the media) may not
/// carry into a path, a name or a version: they can rewrite a terminal or reorder what a reader
/// sees, so "feeds 2026-12" could be shown while something else is meant. `ToolError.shown`
/// escapes exactly these, and the format refuses them, so the two rules cannot drift apart.
public enum OutsideText {
    /// C0 and C1 controls and DEL (escape sequences, CSI U+009B, OSC U+009D), the line and
    /// paragraph separators U+2028-U+2029, and the bidirectional embeddings, overrides and
    /// isolates U+202A-U+202E and U+2066-U+2069.
    public static func isUnsafe(_ u: Unicode.Scalar) -> Bool {
        switch u.value {
        case 0..<0x20, 0x7F..<0xA0: return true
        case 0x2028...0x202E, 0x2066...0x2069: return true
        default: return false
        }
    }

    /// Why `text` may not be used ("contains a control character (U+009B)"), or nil.
    public static func problem(_ text: String) -> String? {
        guard let u = text.unicodeScalars.first(where: isUnsafe) else { return nil }
        let hex = String(u.value, radix: 16, uppercase: true)
        let code = "U+" + String(repeating: "0", count: max(0, 4 - hex.count)) + hex
        return u.value < 0x2028 ? "contains a control character (\(code))" : "contains a bidirectional-text or line-separator character (\(code))"
    }
}
