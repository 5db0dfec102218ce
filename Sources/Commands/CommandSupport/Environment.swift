import SystemIO

/// Defaults from the environment for the flags typed every time (MIRRORCTL_MIRROR, BUNDLECTL_KEY).
/// An empty variable counts as unset, so `VAR= mirrorctl ...` cannot point at the working folder.
public enum CommandEnvironment {
    public static func value(_ name: String) -> String? {
        guard let v = CurrentProcess.environment(name), !v.isEmpty else { return nil }
        return v
    }
}
