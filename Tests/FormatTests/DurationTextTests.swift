import Support
import Testing

@Suite("Spans of time as admins type them")
struct DurationTextTests {
    @Test("units and bare seconds", arguments: [("35d", Int64(3_024_000)), ("36h", 129_600), ("90m", 5400), ("45s", 45), ("45", 45), ("2w", 1_209_600)])
    func parses(_ text: String, _ seconds: Int64) {
        #expect(DurationText.seconds(text) == seconds)
    }

    @Test("anything else is refused: signs, fractions, two units, empty, overflow, more than ten years",
          arguments: ["", "d", "-1d", "+1d", "1.5d", "1d2h", "35x", " 35d", "35 d", "99999999999999d", "9223372036854775807", "3661d"])
    func refuses(_ text: String) {
        #expect(DurationText.seconds(text) == nil)
    }

    @Test("formatted with the largest unit that divides it, and ages for people")
    func formats() {
        #expect(DurationText.format(3_024_000) == "35d" && DurationText.format(129_600) == "36h" && DurationText.format(5400) == "90m")
        #expect(DurationText.format(45) == "45s" && DurationText.format(0) == "0s")
        #expect(DurationText.age(40 * 86_400 + 3 * 3600 + 59) == "40 days 3 hours")
        #expect(DurationText.age(86_400) == "1 day" && DurationText.age(3660) == "1 hour 1 minute" && DurationText.age(-5) == "0 seconds")
    }
}
