import ArgumentParser
import BundleFormat
import Support

/// The high-side tool: verify, stage and swap bundles into an offline mirror.
public struct Mirrorctl: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "mirrorctl",
        abstract: "Apply signed bundles to an offline mirror, atomically (high side).",
        discussion: "Exit codes: 0 ok, 1 verification or policy refusal, 2 usage or spec error, 3 I/O or environment.",
        subcommands: [Init.self, Apply.self, Status.self, Rollback.self, Verify.self, Log.self, Receipt.self, PushImages.self, MediaKeyGroup.self])

    public init() {}
}

/// The --mirror option every subcommand takes.
struct MirrorOption: ParsableArguments {
    @Option(help: "The mirror folder.")
    var mirror: String
}

