@testable import Apply
import Support
import Testing

@Suite("Freshness: age against the maximum, and expiry, from the signed MANIFEST")
struct FreshnessTests {
    let created: Int64 = 1_722_470_400  // 2024-08-01T00:00:00Z

    @Test("fresh within the maximum age and before expiry; no maximum means only expiry counts")
    func fresh() {
        let f = Freshness(created: created, expires: created + 90 * 86_400, maxAge: 35 * 86_400, now: created + 35 * 86_400)
        #expect(!f.stale && f.reasons.isEmpty && f.error(version: "1-0123456789ab") == nil && f.age == 35 * 86_400)
        #expect(!Freshness(created: created, expires: nil, maxAge: nil, now: created + 9999 * 86_400).stale)
        // A clock behind the build time is age 0, not negative.
        #expect(Freshness(created: created, expires: nil, maxAge: 60, now: created - 100).age == 0)
    }

    @Test("too old, expired, or both: each named, exit 4")
    func stale() throws {
        let old = Freshness(created: created, expires: nil, maxAge: 35 * 86_400, now: created + 40 * 86_400 + 3 * 3600)
        let e = try #require(old.error(version: "1-0123456789ab"))
        #expect(e.status == .stale)
        #expect(e.message == "the current version 1-0123456789ab is stale: it was built 40 days 3 hours ago (2024-08-01T00:00:00Z), more than the mirror's maximum age of 35d; apply a newer bundle")
        let both = Freshness(created: created, expires: created + 86_400, maxAge: 86_400, now: created + 2 * 86_400)
        #expect(both.reasons.count == 2 && both.reasons[1] == "it expired at 2024-08-02T00:00:00Z")
        #expect(Freshness(created: created, expires: created + 10, maxAge: nil, now: created + 10).expired, "expiry is inclusive, as on apply")
    }
}
