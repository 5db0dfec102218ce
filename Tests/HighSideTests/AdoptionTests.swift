@testable import Apply
import BundleFormat
import Foundation
import Support
import SystemIO
import Testing

/// The pending trust rotation (issue 12, item 3): in force exactly when `current` names its
/// version, completed or discarded by `settle` accordingly, and idempotent when interrupted.
@Suite("A trust rotation is adopted exactly when current moves")
struct AdoptionTests {
    static func key(_ n: UInt8) -> PublicKey { PublicKey(keyId: [UInt8](repeating: n, count: 8), key: [UInt8](repeating: n, count: 32)) }
    static func policy(_ version: Int64, _ keys: [UInt8]) throws -> TrustPolicy {
        try TrustPolicy(version: version, threshold: 1, keys: keys.map(key), created: 1_700_000_000)
    }

    let v1 = try! policy(1, [1, 2])
    let v2 = try! policy(2, [2, 3])
    var config: MirrorConfig { MirrorConfig(id: "m", created: 1_700_000_000, policy: v1) }
    let old = VersionID.make(sequence: 1, manifest: Fixture.digest("old"))
    let new = VersionID.make(sequence: 2, manifest: Fixture.digest("new"))
    func pending(_ p: TrustPolicy) -> Adoption {
        Adoption(version: new, policy: p, trust: Fixture.digest("trust"), sequence: 2, entry: ["manifest": .string("sha256:" + Fixture.digest("new").hex), "versionId": .string(new)])
    }

    @Test("the pending policy counts only while current names its version, and never lowers or replaces the pinned one")
    func effective() throws {
        #expect(Adoption.effective(config, pending(v2), current: new).policy == v2)
        #expect(Adoption.effective(config, pending(v2), current: old).policy == v1)
        #expect(Adoption.effective(config, pending(v2), current: nil).policy == v1)
        #expect(Adoption.effective(config, nil, current: new).policy == v1)
        // Adopted already (mirror.json written, the record not yet removed): the same policy.
        let adopted = MirrorConfig(id: "m", created: 1_700_000_000, policy: v2)
        #expect(Adoption.effective(adopted, pending(v2), current: new) == adopted)
        // An older policy, or another of the same version, is never what the record makes count.
        #expect(Adoption.effective(adopted, pending(v1), current: new) == adopted)
        #expect(Adoption.effective(adopted, pending(try Self.policy(2, [4])), current: new) == adopted)
    }

    @Test("the record reads back as written; a damaged one is an environment error naming it")
    func record() throws {
        let a = pending(v2)
        #expect(try Adoption(bytes: a.json.canonicalBytes, path: "adopting.json") == a)
        for bad in [#"{"format":"airgap-adoption/1"}"#, "[]", #"{"format":"x","journal":{},"policy":{},"versionId":"1-000000000000"}"#] {
            let e = Fixture.refusal { _ = try Adoption(bytes: Array(bad.utf8), path: "m/adopting.json") }
            #expect(e?.hasPrefix("m/adopting.json is damaged") == true, "\(e ?? "accepted")")
        }
    }

    /// A mirror folder with mirror.json (policy 1), journal, policies/2 and the pending record.
    func mirror() throws -> MirrorPaths {
        let paths = MirrorPaths(root: try Fixture.folder())
        try FS.writeAtomically(paths.config, config.json.canonicalBytes)
        try Journal(path: paths.journal).append("init", [:])
        try FS.makeDirectories(paths.policies + "/2")
        try FS.writeAtomically(paths.policies + "/2/TRUST", v2.canonicalBytes)
        try FS.writeAtomically(paths.adoption, pending(v2).json.canonicalBytes)
        return paths
    }

    func trustLines(_ paths: MirrorPaths) throws -> Int {
        var count = 0
        try Journal(path: paths.journal).scanBackward { raw in
            if case .object(let e)? = try? JSON.parse(raw, what: "journal"), e["event"] == .string("trust") { count += 1 }
            return true
        }
        return count
    }

    @Test("settled while current names another version: the record and the policy go, mirror.json stays")
    func discard() throws {
        let paths = try mirror()
        defer { try? FS.removeTree(paths.root) }
        let before = try FS.readFile(paths.config)
        #expect(try Adoption.settle(paths, current: old) == ["adopting.json", "policies/2"])
        #expect(try FS.readFile(paths.config) == before)
        #expect(try FS.info(paths.adoption) == nil && FS.list(paths.policies).isEmpty && trustLines(paths) == 0)
        #expect(try Adoption.settle(paths, current: old).isEmpty)
    }

    @Test("settled while current names its version: mirror.json pins it, journaled once, even when interrupted and settled again")
    func complete() throws {
        let paths = try mirror()
        defer { try? FS.removeTree(paths.root) }
        #expect(try Adoption.settle(paths, current: new).isEmpty)
        #expect(try Adoption.readConfig(paths).policy == v2 && FS.info(paths.adoption) == nil && trustLines(paths) == 1)
        #expect(try FS.list(paths.policies) == ["2"])
        // Killed after journaling, before the record was removed: the next settle journals nothing more.
        try FS.writeAtomically(paths.adoption, pending(v2).json.canonicalBytes)
        #expect(try Adoption.settle(paths, current: new).isEmpty)
        #expect(try trustLines(paths) == 1 && FS.info(paths.adoption) == nil)
        // Once current moves on, a leftover record is thrown away and the adopted policy stays.
        try FS.writeAtomically(paths.adoption, pending(v2).json.canonicalBytes)
        #expect(try Adoption.settle(paths, current: old) == ["adopting.json"])
        #expect(try Adoption.readConfig(paths).policy == v2 && FS.list(paths.policies) == ["2"])
    }
}
