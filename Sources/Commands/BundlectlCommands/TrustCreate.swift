import ArgumentParser
import Build
import CommandSupport

extension Bundlectl.Trust {
    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Write a new trust policy file (unsigned).")
        @Option(name: .customLong("trust"), help: "A public key of the new policy (repeatable).")
        var trust: [String] = []
        @Option(help: "How many of the keys must sign a bundle.")
        var threshold: Int
        @Option(help: "The policy's version: higher than the mirror's current one (init pins 1).")
        var version: Int64
        @Option(help: "Where to write the policy.")
        var output: String

        func run() async throws {
            let p = try TrustFiles.create(keys: try loadPublicKeys(trust), threshold: threshold, version: version, created: try signingTime(), output: output)
            var s = Summary()
            s.add("policy", "\(output): \(p.summary)")
            s.add("next", "each officer of the current policy and of the new one runs `bundlectl trust sign \(output) --key KEY`")
            s.print()
        }
    }
}
