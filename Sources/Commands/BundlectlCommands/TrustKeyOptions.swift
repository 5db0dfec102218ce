import ArgumentParser
import BundleFormat
import CommandSupport

/// `--trust` and `--threshold`, for every command that verifies bundles against keys given on
/// the command line (`verify`, `diff`): an ad-hoc policy, version 0, never stored.
struct TrustKeyOptions: ParsableArguments {
    @Option(name: .customLong("trust"), help: "A public key whose signature is accepted (repeatable).")
    var trust: [String] = []
    @Option(help: "How many of the --trust keys must have signed (default 1).")
    var threshold: Int = 1

    func validate() throws {
        if trust.isEmpty { throw ValidationError("give at least one --trust public key") }
        if threshold < 1 || threshold > trust.count { throw ValidationError("--threshold must be between 1 and the number of --trust keys") }
    }

    func policy() throws -> TrustPolicy { try TrustPolicy(version: 0, threshold: threshold, keys: try loadPublicKeys(trust), created: 0) }
}
