import Foundation
import Testing

/// A mirror with version 1 applied and a version 2 that changes one file, in a scratch folder
/// another account can reach (mode 755), with a root-only file and a folder of root's beside it:
/// what an unprivileged user would like root's mirrorctl to truncate or empty.
final class DiskFixture {
    let s: Scratch
    let key: String, pub: String
    let mirror: String
    let first: String, second: String
    let secret: String, victim: String

    init() throws {
        s = try Scratch()
        (key, pub) = try s.key("op")
        try sh("""
            chmod 755 \(s.path) && cd \(s.path) && mkdir -p a/feed b/feed victim
            for i in 1 2 3 4; do echo "record $i" > a/feed/r$i.json; echo "record $i" > b/feed/r$i.json; done
            echo 'record 4 v2' > b/feed/r4.json
            printf 'root only\\n' > secret && chmod 600 secret
            echo 'keep me' > victim/kept && chmod 755 victim
            """)
        first = try s.build(try s.spec("a.yaml", sequence: 1, sources: [("feed", "advisories", s.at("a/feed"))]), key: key, output: "a.bundle")
        second = try s.build(try s.spec("b.yaml", sequence: 2, sources: [("feed", "advisories", s.at("b/feed"))]), key: key, output: "b.bundle")
        secret = s.at("secret")
        victim = s.at("victim")
        mirror = s.at("mirror")
    }

    func initMirror() throws {
        let r = try mirrorctl("init", "--mirror", mirror, "--trust", pub)
        #expect(r.status == 0, "\(r.text)")
    }

    /// Runs a shell script as the unprivileged account.
    func asNobody(_ script: String) throws {
        try sh("setpriv --reuid=65534 --regid=65534 --clear-groups /bin/sh -c '\(script)'")
    }

    /// The bundle of version 1 as volumes, in `vols/`.
    func volumes() throws -> String {
        let vols = s.at("vols")
        let r = try bundlectl("media", "write", first, "--to", vols, "--create", "--volume-size", "1M", "--key", key)
        #expect(r.status == 0, "\(r.text)")
        return vols
    }

    func inode(_ path: String) throws -> String { try sh("stat -c %i \(path)").trimmingCharacters(in: .whitespacesAndNewlines) }
}

@Suite("Mirror on disk: other accounts, links and modes (issue 12, items 6 and 7)", .serialized)
struct MirrorDiskAttackTests {
    init() throws {
        // The attacks need a second account to act as; this suite runs as root (the review did).
        try #require(getuid() == 0, "these attacks need root, to act as both root and nobody")
    }

    @Test("a 1777 mirror root owned by another user: its links for .lock and incoming are refused, not followed")
    func linksInWorldWritableRoot() throws {
        let f = try DiskFixture()
        let vols = try f.volumes()
        try f.initMirror()
        // What an init before the fix accepted: a folder the other user made, at 1777.
        try sh("chown 65534 \(f.mirror) && chmod 1777 \(f.mirror)")
        try f.asNobody("ln -s \(f.secret) \(f.mirror)/.lock && ln -s \(f.victim) \(f.mirror)/incoming")
        let r = try mirrorctl("apply", vols, "--mirror", f.mirror)
        #expect(r.status == 3, "\(r.text)")
        #expect(r.err.contains("mirror folder \(f.mirror) is writable by others (owner uid 65534, mode 1777)"), "\(r.err)")
        #expect(r.err.split(separator: "\n").count == 1, "\(r.err)")
        #expect(try sh("cat \(f.secret)") == "root only\n")
        #expect(try sh("ls -A \(f.victim)") == "kept\n")
        #expect(!FileManager.default.fileExists(atPath: f.mirror + "/current"))
        // Every command that opens the mirror says the same.
        for args in [["status"], ["verify"], ["rollback"], ["apply", f.first]] {
            let o = try mirrorctl(args + ["--mirror", f.mirror])
            #expect(o.status == 3 && o.err.contains("is writable by others (owner uid 65534, mode 1777)"), "\(args): \(o.text)")
        }
        #expect(try sh("cat \(f.secret)") == "root only\n")
    }

    @Test("links the admin's mirror would otherwise follow are refused even in a folder nobody else can write")
    func linksWhereTheMirrorKeepsItsOwn() throws {
        let f = try DiskFixture()
        try f.initMirror()
        // Left behind while the folder was open to others, then the mode was fixed.
        try sh("ln -s \(f.secret) \(f.mirror)/.lock && ln -s \(f.victim) \(f.mirror)/incoming")
        let r = try mirrorctl("apply", try f.volumes(), "--mirror", f.mirror)
        #expect(r.status == 3, "\(r.text)")
        #expect(r.err.contains("\(f.mirror)/.lock is a symbolic link") || r.err.contains("\(f.mirror)/incoming is a symbolic link"), "\(r.err)")
        #expect(try sh("cat \(f.secret)") == "root only\n")
        #expect(try sh("ls -A \(f.victim)") == "kept\n")
        try sh("rm \(f.mirror)/.lock")
        let s = try mirrorctl("status", "--mirror", f.mirror)
        #expect(s.status == 3 && s.err.contains("\(f.mirror)/incoming is a symbolic link where the mirror keeps its own folder"), "\(s.text)")
        try sh("rm \(f.mirror)/incoming && ln -s \(f.victim) \(f.mirror)/versions/1-000000000000")
        let v = try mirrorctl("verify", "--mirror", f.mirror)
        #expect(v.status == 3 && v.err.contains("versions/1-000000000000 is a symbolic link"), "\(v.text)")
        #expect(try sh("ls -A \(f.victim)") == "kept\n")
    }

    @Test("init refuses a folder another account could write", arguments: [
        ("65534", "755", "owner uid 65534, mode 755"), ("0", "777", "owner uid 0, mode 777"),
        ("0", "1777", "owner uid 0, mode 1777"), ("0", "775", "owner uid 0, mode 775"),
    ])
    func initRefusesOpenFolder(_ owner: String, _ mode: String, _ shown: String) throws {
        let f = try DiskFixture()
        try sh("mkdir \(f.mirror) && chown \(owner) \(f.mirror) && chmod \(mode) \(f.mirror)")
        let r = try mirrorctl("init", "--mirror", f.mirror, "--trust", f.pub)
        #expect(r.status == 3, "\(r.text)")
        #expect(r.err.contains("mirror folder \(f.mirror) is writable by others (\(shown))"), "\(r.err)")
        #expect(try sh("ls -A \(f.mirror)") == "")
    }

    @Test("a folder inside the mirror that others can write is refused by every command")
    func openFolderInside() throws {
        let f = try DiskFixture()
        try f.initMirror()
        #expect(try mirrorctl("apply", f.first, "--mirror", f.mirror).status == 0)
        let before = try MirrorSnapshot(f.mirror)
        let id = try sh("ls \(f.mirror)/versions").trimmingCharacters(in: .whitespacesAndNewlines)
        for folder in ["versions", "versions/\(id)", "versions/\(id)/tree"] {
            try sh("chmod 777 \(f.mirror)/\(folder)")
            let r = try mirrorctl("apply", f.second, "--mirror", f.mirror)
            #expect(r.status == 3 && r.err.contains("mirror folder \(f.mirror)/\(folder) is writable by others (owner uid 0, mode 777)"), "\(r.text)")
            try sh("chmod 755 \(f.mirror)/\(folder)")
        }
        #expect(try MirrorSnapshot(f.mirror) == before)
    }

    @Test("chmod 0666, chmod 6644 and a link in the tree fail verify, and the next apply shares none of those inodes")
    func modesAndLinks() throws {
        let f = try DiskFixture()
        try f.initMirror()
        #expect(try mirrorctl("apply", f.first, "--mirror", f.mirror).status == 0)
        let old = try sh("readlink \(f.mirror)/current").trimmingCharacters(in: .whitespacesAndNewlines)
        let tree = f.mirror + "/" + old + "/advisories/feed"
        try sh("cp \(tree)/r3.json \(f.s.at("r3-copy")) && chmod 6644 \(f.s.at("r3-copy"))")
        try sh("chmod 0666 \(tree)/r1.json && chmod 6644 \(tree)/r2.json && rm \(tree)/r3.json && ln -s \(f.s.at("r3-copy")) \(tree)/r3.json")
        let v = try mirrorctl("verify", "--mirror", f.mirror)
        #expect(v.status == 1, "\(v.text)")
        #expect(v.text.contains("mode changed: advisories/feed/r1.json (mode 666, listed 644)"), "\(v.text)")
        #expect(v.text.contains("mode changed: advisories/feed/r2.json (mode 6644, listed 644)"), "\(v.text)")
        #expect(v.text.contains("not a plain file: advisories/feed/r3.json (a symbolic link)"), "\(v.text)")

        // The bytes are still the signed ones: the next version is built with its own copies.
        let r = try mirrorctl("apply", f.second, "--mirror", f.mirror)
        #expect(r.status == 0, "\(r.text)")
        let new = f.mirror + "/current/advisories/feed"
        for name in ["r1.json", "r2.json", "r3.json"] {
            #expect(try f.inode(new + "/" + name) != f.inode(tree + "/" + name), "\(name) is shared")
            #expect(try sh("stat -c '%a %F' \(new)/\(name)") == "444 regular file\n", "stored without write bits")
        }
        #expect(try sh("stat -c %a \(f.s.at("r3-copy"))") == "6644\n")
        #expect(try mirrorctl("verify", "--mirror", f.mirror).status == 0)
    }

    @Test("folders get their exact modes whatever the umask", arguments: ["077", "000"])
    func exactFolderModes(_ umask: String) throws {
        let f = try DiskFixture()
        let tool = Env.mirrorctl
        try sh("""
            umask \(umask)
            \(tool) init --mirror \(f.mirror) --trust \(f.pub)
            \(tool) apply \(f.first) --mirror \(f.mirror)
            \(tool) apply \(f.second) --mirror \(f.mirror)
            """)
        let modes = try sh("cd \(f.mirror) && find . -type d ! -path ./staging -printf '%m %p\\n' | sort")
        for line in modes.split(separator: "\n") { #expect(line.hasPrefix("755 "), "\(modes)") }
        #expect(try sh("stat -c %a \(f.mirror)/staging") == "700\n")
        #expect(try mirrorctl("verify", "--mirror", f.mirror).status == 0)
    }
}
