import Apply
import CommandSupport
import Support

/// Runs the mirror's post-apply hook after a command moved `current`, for that command to
/// report; the move stands whatever the hook does.
enum HookStep {
    static func run(_ mirror: OfflineMirror, _ event: HookEvent, version: String, sequence: Int64, previous: String?) throws -> HookRun? {
        try mirror.runPostApplyHook(event, version: version, sequence: sequence, previous: previous)
    }

    static func add(_ run: HookRun?, to s: inout Summary) {
        guard let run else { return }
        s.add("post-apply", "\(run.command): \(run.result) after \(Format.duration(run.outcome.seconds))")
    }

    /// Exit 5 when the hook did not succeed: the change is made, the hook's result journaled.
    static func check(_ run: HookRun?, version: String) throws {
        guard let run, !run.succeeded else { return }
        throw ToolError(.hookFailed, "version \(version) is current, but the post-apply hook \(run.result) (its output is in `mirrorctl log`); the change stands")
    }
}
