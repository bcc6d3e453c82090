import StrataCore
import Testing

@Suite struct ExpiringCacheTests {
    @Test func entriesExpireUpdateInPlaceAndTheCacheStaysBounded() {
        let cache = ExpiringCache<String, Int>(limit: 2)
        let now = ContinuousClock.now
        cache.set(1, for: "a", until: now + .seconds(10))
        #expect(cache.value(for: "a", now: now) == 1)
        #expect(cache.value(for: "a", now: now + .seconds(11)) == nil, "expired")
        cache.update("a") { $0 += 1 }
        cache.update("missing") { $0 += 1 }
        #expect(cache.value(for: "a", now: now) == 2 && cache.value(for: "missing", now: now) == nil)
        cache.set(3, for: "b", until: now + .seconds(10))
        cache.set(4, for: "c", until: now + .seconds(10))  // full: starts over
        #expect(cache.value(for: "a", now: now) == nil && cache.value(for: "c", now: now) == 4)
        cache.remove("c")
        #expect(cache.value(for: "c", now: now) == nil)
    }
}
