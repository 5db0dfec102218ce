import ArgumentParser
import BundleFormat
import CommandSupport
import Support

/// The high-side tool: verify, stage and swap bundles into an offline mirror.
public struct Mirrorctl: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "mirrorctl",
        abstract: "Apply signed bundles to an offline mirror, atomically (high side).",
        discussion: "Exit codes: 0 ok, 1 verification or policy refusal, 2 usage or spec error, 3 I/O or environment.",
        version: ToolVersion.current,
        subcommands: [Init.self, Apply.self, Status.self, Diff.self, Rollback.self, Switch.self, Repair.self, Verify.self, Log.self, Receipt.self, PushImages.self, MediaKeyGroup.self, Config.self])

    public init() {}
}

/// The --mirror option every subcommand takes; MIRRORCTL_MIRROR stands in when it is not given.
struct MirrorOption: ParsableArguments {
    static let variable = "MIRRORCTL_MIRROR"

    @Option(name: .customLong("mirror"), help: ArgumentHelp("The mirror folder (default: $\(MirrorOption.variable); the flag wins).", valueName: "mirror"))
    var given: String?

    /// The mirror folder: --mirror, else $MIRRORCTL_MIRROR (checked present by `validate`).
    var mirror: String { given ?? CommandEnvironment.value(MirrorOption.variable) ?? "" }

    func validate() throws {
        if given == nil && CommandEnvironment.value(MirrorOption.variable) == nil {
            throw ValidationError("give the mirror folder with --mirror DIR, or set \(MirrorOption.variable)")
        }
    }
}

