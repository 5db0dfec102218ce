/// The version both tools print for `--version`, kept here alone so `bundlectl` and `mirrorctl`
/// cannot disagree. It names the toolchain, not the formats: a bundle says its own format
/// (`airgap-bundle/1`), a volume label its own (`airgap-volume/1`).
public enum ToolVersion {
    public static let current = "0.13.0"
}
