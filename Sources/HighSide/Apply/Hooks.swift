import BundleFormat
import Support
import SystemIO

/// The hooks an admin configured on the mirror (`mirrorctl init --hook`, `mirrorctl config`,
/// or the `hooks` object of mirror.json). Never read from a bundle: a bundle cannot make the
/// enclave run anything.
public struct HookSettings: Equatable, Sendable {
    /// Run with `/bin/sh -c` after `current` moved: an apply, a rollback, a switch.
    public var postApply: String?
    /// Seconds a hook may run before its process group is stopped.
    public var timeout: Int64 = HookSettings.defaultTimeout
    public static let defaultTimeout: Int64 = 300
    public static let names = ["post-apply"]

    public var isEmpty: Bool { postApply == nil && timeout == HookSettings.defaultTimeout }

    public init() {}

    var json: JSON {
        var o: [String: JSON] = [:]
        if let postApply { o["post-apply"] = .string(postApply) }
        if timeout != HookSettings.defaultTimeout { o["timeout"] = .string(DurationText.format(timeout)) }
        return .object(o)
    }

    init(_ o: JSONObject, path: String) throws {
        try o.allowOnly(["post-apply", "timeout"])
        postApply = try o.optionalString("post-apply")
        if postApply?.isEmpty == true { postApply = nil }
        if o.members["timeout"] != nil {
            guard let t = DurationText.seconds(try o.string("timeout")), t > 0 else {
                throw ToolError.environment("\(path): hooks.timeout is not a span such as \"5m\"")
            }
            timeout = t
        }
    }
}

/// A hook's run, as the journal records it and the command reports it.
public struct HookRun: Sendable {
    public var hook: String
    public var command: String
    public var outcome: ChildProcess.Outcome

    public var succeeded: Bool { outcome.exitCode == 0 }

    /// "exit 3", "timed out after 300 s", "killed by signal 9".
    public var result: String {
        if outcome.timedOut { return "timed out after \(Format.duration(outcome.seconds)) and was stopped" }
        if let code = outcome.exitCode { return "exit \(code)" }
        return "killed by signal \(outcome.signal ?? 0)"
    }
}

/// What `current` moved by, for a hook's environment.
public enum HookEvent: String, Sendable { case apply, rollback, `switch` }

extension OfflineMirror {
    /// Runs the post-apply hook, if one is configured, after `current` moved to `version`, and
    /// journals its result (under the lock, taken after the hook ran: a hook may run mirrorctl).
    /// nil when no hook is configured. The move stands whatever the hook does.
    public func runPostApplyHook(_ event: HookEvent, version: String, sequence: Int64, previous: String?) throws -> HookRun? {
        let config = try pinned()
        guard let command = config.hooks.postApply else { return nil }
        var env = ["MIRRORCTL_MIRROR": paths.root, "MIRRORCTL_EVENT": event.rawValue, "MIRRORCTL_VERSION": version,
                   "MIRRORCTL_VERSION_PATH": paths.tree(version), "MIRRORCTL_SEQUENCE": String(sequence),
                   "MIRRORCTL_BUNDLE_JSON": paths.tree(version) + "/BUNDLE.json", "MIRRORCTL_PREVIOUS": previous ?? ""]
        let changes = paths.version(version) + "/CHANGES.json"
        env["MIRRORCTL_CHANGES"] = (try? FS.info(changes)) != nil ? changes : ""
        let child = ChildProcess(shell: command, environment: env, timeout: Double(config.hooks.timeout))
        // In staging: removed by the next run's `Recovery` if this one is killed; read through its descriptor.
        let scratch = paths.staging + "/hook-output-\(CurrentProcess.id)"
        let outcome = try child.run(outputFile: scratch)
        let run = HookRun(hook: "post-apply", command: command, outcome: outcome)
        let lock = try MirrorLock(paths)
        defer { _ = lock }
        try journal.append("hook", [
            "hook": .string(run.hook), "command": .string(command), "event": .string(event.rawValue), "versionId": .string(version),
            "exit": outcome.exitCode.map { .int(Int64($0)) } ?? .null, "signal": outcome.signal.map { .int(Int64($0)) } ?? .null,
            "timedOut": .bool(outcome.timedOut), "milliseconds": .int(Int64((outcome.seconds * 1000).rounded())),
            "output": .string(String(decoding: outcome.output, as: UTF8.self)), "outputTruncated": .bool(outcome.truncated),
        ])
        return run
    }
}
