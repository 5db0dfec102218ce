import BundleFormat
import Support
import SystemIO

/// The settings an admin changes without a bundle: the maximum age of the current data and the
/// hooks (`mirrorctl init`, `mirrorctl config`). Each field left nil is left as it is.
public struct SettingsChange: Equatable, Sendable {
    /// .some(nil) removes the limit.
    public var maxAge: Int64??
    /// .some(nil) removes the hook.
    public var postApply: String??
    public var hookTimeout: Int64?

    public init(maxAge: Int64?? = nil, postApply: String?? = nil, hookTimeout: Int64? = nil) {
        (self.maxAge, self.postApply, self.hookTimeout) = (maxAge, postApply, hookTimeout)
    }

    public var isEmpty: Bool { self == SettingsChange() }

    /// `config` with the change made.
    func applied(to config: MirrorConfig) -> MirrorConfig {
        var next = config
        if let maxAge { next.maxAge = maxAge }
        if let postApply { next.hooks.postApply = postApply }
        if let hookTimeout { next.hooks.timeout = hookTimeout }
        return next
    }

    /// The journal's fields for the settings of `config`.
    static func fields(_ config: MirrorConfig) -> [String: JSON] {
        ["maxAge": config.maxAge.map { .string(DurationText.format($0)) } ?? .null,
         "postApply": config.hooks.postApply.map { .string($0) } ?? .null,
         "hookTimeout": .string(DurationText.format(config.hooks.timeout))]
    }
}

extension OfflineMirror {
    /// Changes the settings under the lock, after recovery (mirror.json is then the one in
    /// force), and journals the settings before and after. Returns the configuration now.
    public func configure(_ change: SettingsChange) throws -> MirrorConfig {
        guard !change.isEmpty else { throw ToolError.usage("nothing to change: give --max-age, --hook, --no-hook or --hook-timeout") }
        let lock = try MirrorLock(paths)
        defer { _ = lock }
        _ = try recovery.run()
        let config = try Adoption.readConfig(paths)
        let next = change.applied(to: config)
        guard next != config else { return config }
        try FS.writeAtomically(paths.config, next.json.canonicalBytes)
        try journal.append("config", ["before": .object(SettingsChange.fields(config)), "after": .object(SettingsChange.fields(next))])
        return next
    }
}
