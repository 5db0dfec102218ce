import Foundation
import Testing

/// Issue 13: what the operator, the media officer and the enclave admin hit following README.
@Suite("The users' day: the tools keep what a user would not want lost")
struct UserDayTests {
    @Test("build --output never replaces an existing bundle unless --force (last month's is next month's --base)")
    func buildKeepsExistingOutput() throws {
        let s = try Scratch()
        let (key, _) = try s.key("k")
        let spec = try s.spec(sequence: 1, sources: [("feed", "advisories", try s.kev("2025-06-01"))])
        let out = s.at("feeds.bundle")
        try Data("last month's bundle".utf8).write(to: URL(fileURLWithPath: out))

        let r = try bundlectl("build", spec, "--key", key, "--output", out)
        #expect(r.status == 2, "\(r.text)")
        #expect(r.err == "bundlectl: '\(out)' exists; pass --force to replace it (an earlier bundle is what a later --base needs)\n")
        #expect(try String(contentsOfFile: out, encoding: .utf8) == "last month's bundle")
        #expect(try sh("ls -A \(s.path)").split(separator: "\n").allSatisfy { !$0.contains(".tmp-") }, "no scratch is left")

        let forced = try bundlectl("build", spec, "--key", key, "--output", out, "--force")
        #expect(forced.status == 0, "\(forced.text)")
        #expect(try bundlectl("verify", out, "--trust", s.at("k.pub")).status == 0)
    }

    @Test("media write --to a missing folder is refused unless --create (an unmounted stick is not a folder on the system disk)")
    func mediaWriteNeedsTheFolder() throws {
        let s = try Scratch()
        let (key, _) = try s.key("k")
        let spec = try s.spec(sequence: 1, sources: [("feed", "advisories", try s.kev("2025-06-01"))])
        let bundle = try s.build(spec, key: key, output: "feeds.bundle")
        let stick = s.at("media/stick")

        let r = try bundlectl("media", "write", bundle, "--to", stick, "--volume-size", "1M", "--key", key)
        #expect(r.status == 2, "\(r.text)")
        #expect(r.err == "bundlectl: '\(stick)' does not exist; mount the medium there, or pass --create to make the folder\n")
        #expect(!FileManager.default.fileExists(atPath: s.at("media")), "nothing is created")

        let made = try bundlectl("media", "write", bundle, "--to", stick, "--create", "--volume-size", "1M", "--key", key)
        #expect(made.status == 0, "\(made.text)")
        #expect(try sh("ls \(stick)").contains(".vol"), "the volumes are written")
    }

    @Test("a spec whose expiry is not after the build's time is refused (exit 2): every mirror would refuse it")
    func buildRefusesExpired() throws {
        let s = try Scratch()
        let (key, _) = try s.key("k")
        let spec = try s.spec(sequence: 1, extra: "expires: 2020-01-01T00:00:00Z\n", sources: [("feed", "advisories", try s.kev("2025-06-01"))])
        let r = try bundlectl("build", spec, "--key", key, "--output", s.at("x.bundle"))
        #expect(r.status == 2, "\(r.text)")
        #expect(r.err.hasPrefix("bundlectl: \(spec):4: \"expires\" (2020-01-01T00:00:00Z) is not after the bundle's creation time ("), "\(r.err)")
        #expect(r.err.hasSuffix("); every mirror would refuse it as expired\n"), "\(r.err)")
        #expect(!FileManager.default.fileExists(atPath: s.at("x.bundle")))
        // The same spec rebuilt as of a time before its expiry (SOURCE_DATE_EPOCH) still builds.
        let old = try bundlectl("build", spec, "--key", key, "--output", s.at("x.bundle"), env: ["SOURCE_DATE_EPOCH": "1500000000"])
        #expect(old.status == 0, "\(old.text)")
    }

    @Test("a swapped key pair and a missing source path say what to fix")
    func messagesSayWhatToFix() throws {
        let s = try Scratch()
        let (key, pub) = try s.key("k")
        let spec = try s.spec(sequence: 1, sources: [("feed", "advisories", "nowhere")])
        let r = try bundlectl("build", spec, "--key", key, "--output", s.at("x.bundle"))
        #expect(r.status == 2, "\(r.text)")
        #expect(r.err == "bundlectl: \(spec):5: source 'feed': 'nowhere' does not exist (paths in a spec are relative to its folder, \(s.path))\n", "\(r.err)")

        let swapped = try bundlectl("build", spec, "--key", pub, "--output", s.at("x.bundle"))
        #expect(swapped.status == 2 && swapped.err.contains("secret key '\(pub)' is a public key; signing needs the secret key"), "\(swapped.err)")
        let trusted = try mirrorctl("init", "--mirror", s.at("m"), "--trust", key)
        #expect(trusted.status == 2 && trusted.err.contains("is a secret key; give the public key (.pub)"), "\(trusted.err)")
        #expect(!FileManager.default.fileExists(atPath: s.at("m/mirror.json")))
    }
}
