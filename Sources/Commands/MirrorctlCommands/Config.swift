import Apply
import ArgumentParser
import BundleFormat
import CommandSupport
import Support

/// The settings `init` and `config` take: the maximum age and the hooks.
struct SettingsOptions: ParsableArguments {
    @Option(help: "The oldest the current version may be (from when its bundle was built) before status and verify exit 4: 35d, 36h, 90m; 'none' removes it.")
    var maxAge: String?
    @Option(help: "A command to run with /bin/sh -c after current moves (apply, rollback, switch): post-apply=CMD.")
    var hook: [String] = []
    @Option(help: "How long a hook may run before it is stopped (default 5m).")
    var hookTimeout: String?

    /// The change these options ask for; `noHook` names hooks to remove.
    func change(noHook: [String] = []) throws -> SettingsChange {
        var change = SettingsChange()
        if let maxAge {
            if maxAge == "none" {
                change.maxAge = .some(nil)
            } else {
                guard let s = DurationText.seconds(maxAge), s > 0 else { throw ValidationError("--max-age takes a span such as 35d, 36h or 90m, or none") }
                change.maxAge = s
            }
        }
        for h in hook {
            guard let eq = h.firstIndex(of: "="), HookSettings.names.contains(String(h[..<eq])), h.index(after: eq) < h.endIndex else {
                throw ValidationError("--hook takes post-apply=COMMAND")
            }
            change.postApply = .some(String(h[h.index(after: eq)...]))
        }
        for h in noHook {
            guard HookSettings.names.contains(h) else { throw ValidationError("--no-hook takes post-apply") }
            change.postApply = .some(nil)
        }
        if let hookTimeout {
            guard let s = DurationText.seconds(hookTimeout), s > 0 else { throw ValidationError("--hook-timeout takes a span such as 5m or 30s") }
            change.hookTimeout = s
        }
        return change
    }
}

extension Mirrorctl {
    struct Config: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Change the mirror's maximum age and hooks (journaled); trust changes only through a signed bundle.")

        @OptionGroup var options: MirrorOption
        @OptionGroup var settings: SettingsOptions
        @Option(help: "Remove a hook: post-apply.")
        var noHook: [String] = []
        @Flag(help: "Print one JSON object instead of text.")
        var json = false

        func run() async throws {
            let config = try OfflineMirror(options.mirror).configure(settings.change(noHook: noHook))
            if json {
                printJSON(.object(["maxAgeSeconds": config.maxAge.map { .int($0) } ?? .null,
                                   "hooks": .object(["post-apply": config.hooks.postApply.map { .string($0) } ?? .null,
                                                     "timeoutSeconds": .int(config.hooks.timeout)])]))
                return
            }
            Config.summary(config).print()
        }

        static func summary(_ config: MirrorConfig) -> Summary {
            var s = Summary()
            s.add("max age", config.maxAge.map { DurationText.format($0) + " (status and verify exit 4 beyond it)" } ?? "none")
            s.add("post-apply", config.hooks.postApply.map { "\($0) (time limit \(DurationText.format(config.hooks.timeout)))" } ?? "no hook")
            return s
        }
    }
}
