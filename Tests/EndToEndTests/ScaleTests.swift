import Foundation
import Testing

/// Issue 15, in CI-sized form: a tree of 100,000 files goes through build, apply and verify
/// byte for byte. Speed and memory at scale are `scripts/bench-scale`'s to measure.
@Suite("Scale: a tree of 100,000 files round-trips byte for byte")
struct ScaleTests {
    /// 100,000 small records in 200 folders: mostly distinct, some duplicated (shared objects),
    /// a few empty, and names with spaces and non-ASCII letters, as real feeds have.
    static func makeTree(_ dir: String, month: Int) throws {
        try sh("""
            python3 - '\(dir)' \(month) <<'EOF'
            import os, sys
            root, month = sys.argv[1], int(sys.argv[2])
            for d in range(200):
                folder = os.path.join(root, f"eco-{d:03d}")
                os.makedirs(folder, exist_ok=True)
                for i in range(500):
                    n = d * 500 + i
                    name = f"REC-{n:06d}.json" if n % 997 else f"réc {n:06d}.json"
                    # A month's update changes 1 record in 100; 1 in 50 is a copy of another.
                    rev = month if n % 100 == 0 else 1
                    body = "" if n % 5003 == 0 else (f'{{"id":"REC-{n % 50 if n % 50 == 7 else n}","modified":"2024-{rev:02d}-01","summary":"record {n % 50 if n % 50 == 7 else n}"}}\\n')
                    with open(os.path.join(folder, name), "w") as f:
                        f.write(body)
            EOF
            """)
    }

    @Test("100,000 files: build, apply and verify, the mirror's tree equal to the source")
    func hundredThousandFiles() throws {
        let s = try Scratch()
        let (key, pub) = try s.key("ops")
        try ScaleTests.makeTree(s.at("m1"), month: 1)
        #expect(try sh("find \(s.at("m1")) -type f | wc -l").trimmingCharacters(in: .whitespacesAndNewlines) == "100000")
        // Level 1: what is at stake here is the bookkeeping of many files, not the compressor.
        // Deltas at this size are the benchmark's (scripts/bench-scale); DeltaTests covers them.
        let spec = try s.spec("1.yaml", sequence: 1, sources: [("osv", "advisories", s.at("m1"))])
        let built = try bundlectl("build", spec, "--key", key, "--output", s.at("1.bundle"), "--level", "1")
        #expect(built.status == 0, "\(built.text)")
        let mirror = s.at("mirror")
        #expect(try mirrorctl("init", "--mirror", mirror, "--trust", pub).status == 0)
        let applied = try mirrorctl("apply", s.at("1.bundle"), "--mirror", mirror)
        #expect(applied.status == 0, "\(applied.text)")
        #expect(try sameTree(mirror + "/current/advisories/osv", s.at("m1")))
        let verified = try mirrorctl("verify", "--mirror", mirror)
        #expect(verified.status == 0, "\(verified.text)")
    }
}
