import ArgumentParser
import Build
import BundleFormat
import BundleVerify
import Changes
import CommandSupport
import Support
import SystemIO

extension Bundlectl.Trust {
    struct VerifyPolicy: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "verify",
            abstract: "Check, before it leaves, that mirrors trusting the current policy would adopt a new one.",
            discussion: """
                The rule is the mirror's own, from the same code: the new policy must be signed by the threshold of the \
                current policy (the current officers consent) and by the threshold of its own keys (the new officers \
                hold them), and its version must be above the current one. Every check that fails is named; exit 1.
                """)

        @Argument(help: "The new policy file (from `bundlectl trust create`), with its FILE.sig.<KEYID> signatures beside it.")
        var policy: String
        @Option(help: ArgumentHelp("The policy mirrors trust now: its policy file (an earlier rotation's), or the public keys `mirrorctl init --trust` pinned (repeatable; that policy is version 1).", valueName: "file"))
        var current: [String] = []
        @Option(help: "With --current public keys: how many of them must sign, as `mirrorctl init --threshold` set it (default 1).")
        var currentThreshold: Int?
        @Flag(help: "Print one JSON object instead of text.")
        var json = false

        func validate() throws {
            if current.isEmpty { throw ValidationError("give --current: the policy file mirrors trust now, or the public keys `mirrorctl init --trust` pinned") }
            if let currentThreshold, currentThreshold < 1 { throw ValidationError("--current-threshold must be at least 1") }
        }

        func run() async throws {
            let old = try currentPolicy()
            let (bytes, _, signatures) = try TrustFiles.read(policy)
            let check = try RotationCheck(policy: bytes, signatures: signatures, current: old, path: policy)
            if json { printJSON(report(check)) } else { text(check).print() }
            guard check.holds else {
                throw ToolError.refused("'\(policy)' would be refused by a mirror trusting policy \(old.summary): \(check.problems.joined(separator: "; "))")
            }
        }

        /// --current as a policy file (JSON), or as the public keys of the policy `init` pinned.
        private func currentPolicy() throws -> TrustPolicy {
            let first = try FS.info(current[0]) == nil ? [] : try FS.readFile(current[0], limit: TrustPolicy.maxBytes)
            guard first.first == UInt8(ascii: "{") else {
                let keys = try loadPublicKeys(current)
                return try TrustPolicy(version: 1, threshold: currentThreshold ?? 1, keys: keys, created: 0)
            }
            guard current.count == 1, currentThreshold == nil else {
                throw ToolError.usage("--current '\(current[0])' is a policy file: give it alone, without --current-threshold (the policy names its threshold)")
            }
            do { return try TrustPolicy(canonical: first, what: "'\(current[0])'") } catch let e as ToolError { throw ToolError.usage(e.message) }
        }

        private func signed(_ c: Trust.Count?, _ p: TrustPolicy?) -> String {
            guard let c, let p else { return "not checked" }
            let ids = c.counted.map(\.idText)
            return "signed by \(ids.isEmpty ? "none of its keys" : ids.joined(separator: ", ")); \(p.threshold) of \(p.keys.count) needed"
        }

        private func text(_ check: RotationCheck) -> Summary {
            var s = Summary()
            s.add("policy", "\(policy): " + (check.policy?.summary ?? "not read"))
            s.add("current", check.current.summary)
            s.add("consent", check.consent.map { "NOT MET: \($0)" } ?? "ok: " + signed(check.byCurrent, check.current))
            if let new = check.policy {
                s.add("version", check.newer.map { "NOT MET: \($0)" } ?? "ok: \(new.version) is above \(check.current.version)")
                s.add("own keys", check.ownThreshold.map { "NOT MET: \($0)" } ?? "ok: " + signed(check.byItself, new))
                s.add("changes", PolicyChange(from: check.current, to: new).text)
            }
            s.add("result", check.holds ? "a mirror trusting the current policy adopts it from a bundle built with --trust-policy \(policy)"
                                        : "a mirror would refuse it: \(check.problems.count) check(s) not met")
            return s
        }

        private func report(_ check: RotationCheck) -> JSON {
            func counted(_ c: Trust.Count?) -> JSON { c.map { Fields.keys($0.counted.map(\.idText)) } ?? .null }
            return .object([
                "policy": .string(policy), "holds": .bool(check.holds),
                "trustPolicy": Fields.policy(check.policy), "current": Fields.policy(check.current),
                "approvedBy": counted(check.byCurrent), "signedByOwn": counted(check.byItself),
                "problems": .array(check.problems.map { .string($0) }),
                "trustChange": check.policy.map { PolicyChange(from: check.current, to: $0).json } ?? .null,
            ])
        }
    }
}
