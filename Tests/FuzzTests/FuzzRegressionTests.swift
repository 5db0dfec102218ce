import Foundation
import FuzzHarness
import Testing

/// Every input kept under Fixtures/<target>/ (what `scripts/fuzz` found, and hand-made cases of
/// bugs found otherwise), replayed through the same code the fuzz target runs. A regression
/// traps and takes the test process down, after the file's name is printed.
@Suite("Inputs the fuzzers found, replayed")
struct FuzzRegressionTests {
    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures").path

    @Test("every kept input is refused cleanly or accepted", arguments: FuzzHarness.Target.allCases)
    func replay(_ target: FuzzHarness.Target) throws {
        let dir = Self.fixtures + "/" + target.rawValue
        let names = try FileManager.default.contentsOfDirectory(atPath: dir).filter { !$0.hasPrefix(".") }.sorted()
        #expect(!names.isEmpty, "no inputs kept for \(target.rawValue)")
        for name in names {
            print("fuzz regression: \(target.rawValue)/\(name)")
            FuzzHarness.run(target, Array(try Data(contentsOf: URL(fileURLWithPath: dir + "/" + name))))
        }
    }
}
