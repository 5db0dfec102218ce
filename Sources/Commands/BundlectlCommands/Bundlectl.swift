import ArgumentParser
import Support

/// The low-side tool: keys, building, checking and inspecting bundles.
public struct Bundlectl: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "bundlectl",
        abstract: "Build signed, content-addressed bundles for an air-gapped mirror (low side).",
        discussion: "Exit codes: 0 ok, 1 verification or policy refusal, 2 usage or spec error, 3 I/O or environment.",
        version: ToolVersion.current,
        subcommands: [Keygen.self, Build.self, Sign.self, Verify.self, Inspect.self, Diff.self, Trust.self, MediaGroup.self])

    public init() {}
}
