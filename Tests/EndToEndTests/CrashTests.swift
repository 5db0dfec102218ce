import Foundation
import Testing

@Suite("Crashes: an apply killed at any moment leaves the old or the new version")
struct CrashTests {
    /// Mode and SHA-256 of every file of `current` but BUNDLE.json (which records when it was
    /// applied), as one digest.
    static func tree(_ mirror: String) throws -> String {
        try sh("""
            cd \(mirror)/current && { find . -type f ! -path ./BUNDLE.json -printf '%P %m\\n' | sort
              find . -type f ! -path ./BUNDLE.json -print0 | sort -z | xargs -0 sha256sum; } | sha256sum
            """)
    }

    /// Runs an apply to its end; returns its duration and when `current` changed, in seconds.
    static func timeApply(_ bundle: String, _ mirror: String) throws -> (Double, Double) {
        let before = try FileManager.default.destinationOfSymbolicLink(atPath: mirror + "/current")
        let p = Process()
        p.executableURL = URL(fileURLWithPath: Env.mirrorctl)
        p.arguments = ["apply", bundle, "--mirror", mirror]
        p.environment = ProcessInfo.processInfo.environment.merging(["NO_PROGRESS": "1"]) { $1 }
        p.standardOutput = FileHandle.nullDevice
        let started = Date()
        try p.run()
        var swap: Double?
        while p.isRunning {
            if swap == nil, (try? FileManager.default.destinationOfSymbolicLink(atPath: mirror + "/current")) != before {
                swap = Date().timeIntervalSince(started)
            }
            usleep(500)
        }
        p.waitUntilExit()
        let total = Date().timeIntervalSince(started)
        #expect(p.terminationStatus == 0)
        return (total, swap ?? total)
    }

    /// When to send SIGKILL: after a delay, or as soon as the file system shows that the apply
    /// reached a step (polled every 0.1 ms; no tracing needed).
    enum Moment {
        case after(Double)
        case when(String, () -> Bool)
    }

    /// Starts `mirrorctl apply`, sends SIGKILL at `moment`, and says whether the kill landed
    /// (false: the apply had already finished) and the exit status.
    static func applyKilled(at moment: Moment, _ bundle: String, _ mirror: String) throws -> (killed: Bool, status: Int32) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: Env.mirrorctl)
        p.arguments = ["apply", bundle, "--mirror", mirror]
        p.environment = ProcessInfo.processInfo.environment.merging(["NO_PROGRESS": "1"]) { $1 }
        p.standardOutput = FileHandle.nullDevice
        p.standardError = FileHandle.nullDevice
        try p.run()
        switch moment {
        case .after(let delay): usleep(useconds_t(delay * 1_000_000))
        case .when(_, let reached): while p.isRunning && !reached() { usleep(100) }
        }
        kill(p.processIdentifier, SIGKILL)
        p.waitUntilExit()
        return (p.terminationReason == .uncaughtSignal, p.terminationStatus)
    }

    /// The mirror lives on tmpfs (/dev/shm) where there is one: SIGKILL leaves the page cache
    /// intact, so a disk adds nothing to what this proves, and on this VM's ext4 the 50 resets
    /// (removing and copying 2,600 files) took minutes instead of seconds. A run is the apply
    /// (~0.4 s uninterrupted), a verify of what the kill left, the next apply, a reset: the
    /// next apply's own tree is `verify`'s to check in the tests about applies, not here. The seed is printed; AIRGAP_KILL_SEED replays a run.
    @Test("50 applies killed by SIGKILL at random moments: current is exactly old or new, verify passes, the next apply succeeds")
    func killedAtRandomMoments() throws {
        let s = try Scratch(under: FileManager.default.isWritableFile(atPath: "/dev/shm") ? "/dev/shm" : "/tmp")
        let (key, pub) = try s.key("op")
        let old = try s.build(try s.spec("1.yaml", sequence: 1, sources: [("pypa", "advisories", try s.pypa("2024-08-01"))]), key: key, output: "1.bundle")
        let new = try s.build(try s.spec("2.yaml", sequence: 2, sources: [("pypa", "advisories", try s.pypa("2024-09-01")),
                                                                        ("kev", "advisories", try s.kev("2025-06-01"))]), key: key, output: "2.bundle")
        let after = try s.build(try s.spec("3.yaml", sequence: 3, sources: [("kev", "advisories", try s.kev("2025-07-01"))]), key: key, output: "3.bundle")
        let m = s.at("mirror"), pristine = s.at("pristine")
        try sh("\(Env.mirrorctl) init --mirror \(m) --trust \(pub) && \(Env.mirrorctl) apply \(old) --mirror \(m) && cp -a \(m) \(pristine)")
        let reset = "rm -rf \(m) && cp -a \(pristine) \(m)"
        let oldTree = try Self.tree(m)

        // How long an uninterrupted apply takes here and now, and when it swaps `current` (seen
        // by polling the link): kills are spread over the whole apply, and some are aimed at
        // the commit, from just before the swap to the end, where the order of steps matters.
        var span = 0.0, swapAt = 0.0
        for _ in 0..<2 {
            try sh(reset)
            let (total, swap) = try Self.timeApply(new, m)
            span = max(span, total)
            swapAt = max(swapAt, swap)
        }
        let newTree = try Self.tree(m)
        let newID = try sh("readlink \(m)/current").split(separator: "/")[1]
        #expect(newTree != oldTree)

        let seed = UInt64(ProcessInfo.processInfo.environment["AIRGAP_KILL_SEED"] ?? "") ?? UInt64(Date().timeIntervalSince1970 * 1000)
        var random = SeededRandom(state: seed)
        let fm = FileManager.default
        let journalSize = try fm.attributesOfItem(atPath: "\(pristine)/journal.jsonl")[.size] as? Int ?? 0
        var leftOld = 0, swapped = 0, finished = 0
        for run in 0..<50 {
            try sh(reset)
            let moment: Moment
            switch run % 10 {
            case 6: moment = .when("the new version is renamed out of staging", { fm.fileExists(atPath: "\(m)/versions/\(newID)") })
            case 7: moment = .when("current is swapped", { (try? fm.destinationOfSymbolicLink(atPath: "\(m)/current"))?.contains(newID) == true })
            case 8: moment = .when("the apply is journaled", { ((try? fm.attributesOfItem(atPath: "\(m)/journal.jsonl"))?[.size] as? Int ?? 0) > journalSize })
            case 9: moment = .after(Double.random(in: max(0, swapAt - 0.05)...swapAt, using: &random))
            default: moment = .after(Double.random(in: 0...span, using: &random))
            }
            let (killed, status) = try Self.applyKilled(at: moment, new, m)
            let when: String
            switch moment {
            case .after(let d): when = "after \(Int(d * 1000)) of \(Int(span * 1000)) ms"
            case .when(let step, _): when = "when \(step)"
            }
            let label = "seed \(seed) run \(run): SIGKILL \(when)"
            let tree = try Self.tree(m)
            #expect(tree == oldTree || tree == newTree, "\(label): current is neither the old nor the new tree")
            if !killed { #expect(status == 0 && tree == newTree, "\(label): finished with \(status)") }
            if case .when(let step, _) = moment, step != "the new version is renamed out of staging" {
                #expect(tree == newTree, "\(label): the swap had happened, yet current is the old tree")
            }
            if tree == oldTree { leftOld += 1 } else if killed { swapped += 1 } else { finished += 1 }

            let v = try mirrorctl("verify", "--mirror", m)
            #expect(v.status == 0, "\(label): \(v.text)")
            let next = try mirrorctl("apply", after, "--mirror", m)
            #expect(next.status == 0, "\(label): the next apply failed: \(next.text)")
            // Nothing of the interrupted apply is left, and the journal says what became current.
            #expect(try sh("ls -A \(m)/staging; ls -A \(m) | grep -e '\\.tmp-' -e '\\.current\\.new' || true") == "", "\(label)")
            let state = try JSONSerialization.jsonObject(with: Data(sh("cat \(m)/state.json").utf8)) as? [String: Any]
            #expect(Set(state?["versions"] as? [String] ?? []) == Set(try sh("ls \(m)/versions").split(separator: "\n").map(String.init)), "\(label)")
            if tree == newTree {
                let log = try mirrorctl("log", "--mirror", m, "--json").out
                #expect(log.contains("\"versionId\":\"\(newID)\""), "\(label): the journal does not record \(newID)")
            }
        }
        print("SIGKILL runs (seed \(seed), apply \(Int(span * 1000)) ms, swap at \(Int(swapAt * 1000)) ms): \(leftOld) left the old version, \(swapped) the new one, \(finished) finished first")
        #expect(leftOld > 0 && swapped + finished > 0)
    }
}

/// A bundle carrying a TRUST rotation, interrupted (SIGKILL) or stopped (no inode left) at each
/// step of its commit: the policy and `current` move together or not at all (issue 12, item 3).
@Suite("Crashes during a rotation: the new policy is pinned exactly when current moves")
struct RotationCommitTests {
    /// A mirror trusting A (version 1) with bundle 1 applied; `rotation` (sequence 2) carries policy
    /// version 2, which trusts only D and is signed by A and D; `next` (sequence 3) is signed by D alone.
    struct Fixture {
        let o: Officers
        let m: String
        let rotation: String
        let next: String

        init(mirror: String? = nil) throws {
            o = try Officers()
            m = mirror ?? o.s.at("mirror")
            let one = try o.bundle("1.bundle", seq: 1, signers: ["A"])
            let v2 = try o.policy("v2.json", version: 2, threshold: 1, keys: ["D"], signers: ["A", "D"])
            rotation = try o.bundle("2.bundle", seq: 2, signers: ["D"], policy: v2)
            next = try o.bundle("3.bundle", seq: 3, signers: ["D"])
            try sh("\(Env.mirrorctl) init --mirror \(m) --trust \(o.pub("A")) && \(Env.mirrorctl) apply \(one) --mirror \(m)")
        }

        /// The policy version `status` says is in force.
        func policyVersion() throws -> Int {
            let st = try JSONSerialization.jsonObject(with: Data(try mirrorctl("status", "--mirror", m, "--json").out.utf8)) as? [String: Any]
            return (st?["trust"] as? [String: Any])?["version"] as? Int ?? -1
        }

        /// The policy version mirror.json itself pins.
        func pinnedInFile() throws -> Int {
            let c = try JSONSerialization.jsonObject(with: Data(try sh("cat \(m)/mirror.json").utf8)) as? [String: Any]
            return (c?["trust"] as? [String: Any])?["version"] as? Int ?? -1
        }

        func currentID() -> String {
            ((try? FileManager.default.destinationOfSymbolicLink(atPath: m + "/current")) ?? "").split(separator: "/").dropFirst().first.map(String.init) ?? ""
        }

        /// After an interrupted or failed rotation: both moved or neither, verify passes, the bundle
        /// applies again (or is refused as applied, when it had committed), and D's next bundle applies.
        func expectWhole(_ label: String, newID: String) throws {
            let moved = currentID() == newID
            #expect(try policyVersion() == (moved ? 2 : 1), "\(label): current \(moved ? "moved" : "stayed") but the policy did not follow")
            let v = try mirrorctl("verify", "--mirror", m)
            #expect(v.status == 0, "\(label): \(v.text)")
            let again = try mirrorctl("apply", rotation, "--mirror", m)
            if moved {
                // Refused as applied: by its sequence, or first by its policy, which is the pinned one now.
                #expect(again.status == 1 && (again.err.contains("already applied sequence 2") || again.err.contains("the pinned policy is version 2: an older or replayed policy")),
                        "\(label): \(again.text)")
            } else {
                #expect(again.status == 0 && again.out.contains("adopted policy version 2"), "\(label): re-applying failed: \(again.text)")
            }
            #expect(try currentID() == newID && pinnedInFile() == 2 && policyVersion() == 2, "\(label)")
            let n = try mirrorctl("apply", next, "--mirror", m)
            #expect(n.status == 0, "\(label): the next bundle, signed by D, failed: \(n.text)")
            // Nothing of the interrupted commit is left, and the rotation is journaled once.
            #expect(try sh("ls -A \(m)/staging; ls -A \(m) | grep -e '\\.tmp-' -e '\\.current\\.new' -e adopting || true") == "", "\(label)")
            #expect(try sh("ls \(m)/policies") == "2\n", "\(label)")
            #expect(try sh("grep -c '\"event\":\"trust\"' \(m)/journal.jsonl") == "1\n", "\(label)")
            let after = try mirrorctl("verify", "--mirror", m)
            #expect(after.status == 0, "\(label): \(after.text)")
        }
    }

    @Test("rotation bundles killed at each step of the commit and at random moments: policy and current move together; verify passes; the bundle applies again or is refused as applied")
    func killedAtEachStep() throws {
        let f = try Fixture()
        let m = f.m, pristine = f.o.s.at("pristine")
        try sh("cp -a \(m) \(pristine)")
        let reset = "rm -rf \(m) && cp -a \(pristine) \(m)"
        let (span, swapAt) = try CrashTests.timeApply(f.rotation, m)
        let newID = f.currentID()
        let fm = FileManager.default
        // More entries of `event` than the mirror had before (bundle 1's apply is journaled already).
        func count(_ event: String, _ path: String) -> Int {
            ((try? String(contentsOfFile: path, encoding: .utf8)) ?? "").components(separatedBy: "\"event\":\"\(event)\"").count - 1
        }
        let before = (trust: count("trust", "\(pristine)/journal.jsonl"), apply: count("apply", "\(pristine)/journal.jsonl"))
        func journaled(_ event: String) -> Bool { count(event, "\(m)/journal.jsonl") > (event == "trust" ? before.trust : before.apply) }
        let pinnedV2 = { ((try? String(contentsOfFile: "\(m)/mirror.json", encoding: .utf8)) ?? "").contains("\"version\":2") }
        let swapped = { (try? fm.destinationOfSymbolicLink(atPath: "\(m)/current"))?.contains(newID) == true }
        let steps: [(String, () -> Bool)] = [
            ("the new version is renamed out of staging", { fm.fileExists(atPath: "\(m)/versions/\(newID)") }),
            ("the new policy is written", { fm.fileExists(atPath: "\(m)/policies/2/TRUST") }),
            ("the adoption is recorded", { fm.fileExists(atPath: "\(m)/adopting.json") }),
            ("mirror.json is replaced", pinnedV2),
            ("current is swapped", swapped),
            ("the rotation is journaled", { journaled("trust") }),
            ("the apply is journaled", { journaled("apply") }),
        ]
        let seed = UInt64(ProcessInfo.processInfo.environment["AIRGAP_KILL_SEED"] ?? "") ?? UInt64(Date().timeIntervalSince1970 * 1000)
        var random = SeededRandom(state: seed)
        var leftOld = 0, moved = 0, outcomes: [String] = []
        // Each step once, then a few moments from just before the swap to the end (the steps
        // that matter here are a few milliseconds apart), about 0.5 s a run.
        for run in 0..<(steps.count + 5) {
            try sh(reset)
            let moment: CrashTests.Moment = run < steps.count
                ? .when(steps[run].0, steps[run].1) : .after(Double.random(in: max(0, swapAt - 0.03)...span, using: &random))
            let (killed, status) = try CrashTests.applyKilled(at: moment, f.rotation, m)
            let when: String
            switch moment {
            case .after(let d): when = "after \(Int(d * 1000)) of \(Int(span * 1000)) ms"
            case .when(let step, _): when = "when \(step)"
            }
            let label = "seed \(seed) run \(run): SIGKILL \(when)"
            if !killed { #expect(status == 0 && f.currentID() == newID, "\(label): finished with \(status)") }
            if f.currentID() == newID { moved += 1 } else { leftOld += 1 }
            outcomes.append("\(when): \(killed ? "" : "finished, ")\(f.currentID() == newID ? "new" : "old")")
            try f.expectWhole(label, newID: newID)
        }
        print("rotation SIGKILL runs (seed \(seed), apply \(Int(span * 1000)) ms): \(leftOld) left the old version and policy, \(moved) the new ones; \(outcomes.joined(separator: "; "))")
        #expect(leftOld > 0 && moved > 0)
    }

    /// The swap made to fail for real: the mirror lives on a tmpfs with few inodes, filled so
    /// that 0, 1, 2... are free when the rotation is applied. Each run fails where the inodes run
    /// out (staging, the policy, the record, the `current` link itself) until there is room.
    @Test("a rotation that runs out of inodes at each step, the symlink of the swap included: refused cleanly, policy and current unchanged, then applied",
          .enabled(if: getuid() == 0, "needs root to mount a small tmpfs"))
    func outOfInodes() throws {
        let scratch = try Scratch()
        let mnt = scratch.at("small-fs")
        try sh("mkdir \(mnt) && mount -t tmpfs -o size=16m,nr_inodes=1024 tmpfs \(mnt)")
        defer { _ = try? sh("umount \(mnt)") }
        let f = try Fixture(mirror: mnt + "/mirror")
        let m = f.m
        let fill = """
            python3 -c 'import os, sys
            d, room = sys.argv[1], int(sys.argv[2])
            os.makedirs(d, exist_ok=True)
            n = os.statvfs(d).f_ffree - room
            for i in range(max(n, 0)): open(os.path.join(d, str(i)), "w").close()
            ' \(mnt)/filler
            """
        var sawSwapFail = false, failures = 0
        var committed: Outcome?
        for room in 0...80 {
            let before = try MirrorSnapshot(m), config = try sh("cat \(m)/mirror.json"), policies = try sh("ls -A \(m)/policies 2>/dev/null || true")
            try sh("\(fill) \(room)")
            let r = try mirrorctl("apply", f.rotation, "--mirror", m)
            try sh("rm -rf \(mnt)/filler")
            if r.status == 0 { committed = r; break }
            failures += 1
            let label = "\(room) inodes free"
            if r.err.contains(".current.new") { sawSwapFail = true }
            #expect(r.status == 3 && r.err.contains("no space left on device") && r.err.split(separator: "\n").count == 1, "\(label): \(r.text)")
            #expect(try MirrorSnapshot(m) == before, "\(label): the mirror changed")
            #expect(try sh("cat \(m)/mirror.json") == config, "\(label): mirror.json changed")
            #expect(try sh("ls -A \(m)/policies 2>/dev/null || true") == policies, "\(label): policies/ changed")
            #expect(try f.policyVersion() == 1, "\(label)")
            let v = try mirrorctl("verify", "--mirror", m)
            #expect(v.status == 0, "\(label): \(v.text)")
        }
        print("out of inodes: \(failures) clean failures, then applied\(committed?.err.isEmpty == false ? " with a warning: \(committed!.err)" : "")")
        #expect(sawSwapFail, "no run failed at the swap's symbolic link")
        #expect(committed?.out.contains("adopted policy version 2") == true, "\(committed?.text ?? "never applied")")
        try f.expectWhole("after the inodes ran out", newID: f.currentID())
    }
}
