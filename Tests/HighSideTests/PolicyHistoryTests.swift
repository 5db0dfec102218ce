@testable import Apply
import BundleFormat
@testable import BundleVerify
import Support
import SystemIO
import Testing

@Suite("The chain of trust policies a mirror pins (issue 12, item 1)")
struct PolicyHistoryTests {
    static func key(_ n: UInt8) -> PublicKey { PublicKey(keyId: [UInt8](repeating: n, count: 8), key: [UInt8](repeating: n, count: 32)) }
    static func policy(_ version: Int64, _ keys: [UInt8]) throws -> TrustPolicy {
        try TrustPolicy(version: version, threshold: 1, keys: keys.map(key), created: 1_700_000_000)
    }
    static func pin(_ version: Int64, _ sequence: Int64) -> PolicyHistory.Pin {
        PolicyHistory.Pin(version: version, sha256: Fixture.digest("policy \(version)"), sequence: sequence)
    }

    func config(origin: TrustPolicy, pinned: TrustPolicy, adopted: [PolicyHistory.Pin]) -> MirrorConfig {
        var c = MirrorConfig(id: "m", created: 1_700_000_000, policy: origin)
        c.policy = pinned
        c.history.adopted = adopted
        return c
    }

    @Test("mirror.json keeps the history: written and read back the same; a mirror without one starts its chain at the pinned policy")
    func roundTrip() throws {
        let c = config(origin: try Self.policy(1, [1, 2]), pinned: try Self.policy(3, [3]), adopted: [Self.pin(2, 5), Self.pin(3, 9)])
        #expect(try MirrorConfig(bytes: c.json.canonicalBytes, path: "mirror.json") == c)
        guard case .object(var members) = c.json else { Issue.record("not an object"); return }
        members["history"] = nil
        let legacy = try MirrorConfig(bytes: JSON.object(members).canonicalBytes, path: "mirror.json")
        #expect(legacy.history == PolicyHistory(origin: c.policy, adopted: []))
    }

    @Test("a history out of order, or not ending in the pinned policy, is refused", arguments: [
        [pin(3, 5), pin(2, 9)], [pin(2, 9), pin(3, 5)], [pin(1, 5)], [pin(2, 5)], [pin(2, 5), pin(4, 9)],
    ])
    func badHistory(_ adopted: [PolicyHistory.Pin]) throws {
        let c = config(origin: try Self.policy(1, [1]), pinned: try Self.policy(3, [3]), adopted: adopted)
        let message = Fixture.refusal { _ = try MirrorConfig(bytes: c.json.canonicalBytes, path: "mirror.json") }
        #expect(message?.contains("trust history") == true, "\(message ?? "accepted")")
    }

    @Test("a version is judged by the policy of its era: the origin before the first adoption, the pinned one from the last on")
    func eras() throws {
        let root = try Fixture.folder()
        defer { try? FS.removeTree(root) }
        let paths = MirrorPaths(root: root)
        let origin = try Self.policy(1, [1]), pinned = try Self.policy(3, [3])
        let history = PolicyHistory(origin: origin, adopted: [Self.pin(2, 5), Self.pin(3, 9)])
        for s: Int64 in [0, 1, 4] { #expect(try history.policy(atSequence: s, pinned: pinned, paths: paths) == origin) }
        for s: Int64 in [9, 10, 1 << 40] { #expect(try history.policy(atSequence: s, pinned: pinned, paths: paths) == pinned) }
        // Between: policy 2 must be read back from policies/2, which is missing.
        let missing = Fixture.refusal { _ = try history.policy(atSequence: 7, pinned: pinned, paths: paths) }
        #expect(missing?.contains("policies/2/TRUST") == true && missing?.contains("missing") == true, "\(missing ?? "accepted")")
        // One that does not match its pin is refused before its signatures are read.
        try FS.makeDirectories(paths.policies + "/2")
        try FS.writeAtomically(paths.policies + "/2/TRUST", try Self.policy(2, [9]).canonicalBytes)
        let altered = Fixture.refusal { _ = try history.policy(atSequence: 7, pinned: pinned, paths: paths) }
        #expect(altered?.contains("does not match the SHA-256 mirror.json pins") == true, "\(altered ?? "accepted")")
    }

    @Test("adopting appends a pin with the TRUST bytes' digest and the sequence of the bundle that carried it")
    func adopting() throws {
        let origin = try Self.policy(1, [1]), next = try Self.policy(2, [2])
        let c = MirrorConfig(id: "m", created: 0, policy: origin)
        let bytes = next.canonicalBytes
        let adopted = c.adopting(TrustUpdate(policy: next, bytes: bytes, signatures: [], approvedBy: []), sequence: 7)
        #expect(adopted.policy == next && adopted.history.origin == origin)
        #expect(adopted.history.adopted == [PolicyHistory.Pin(version: 2, sha256: SHA256Digest.of(bytes), sequence: 7)])
    }
}
