import Foundation
import StrataCore
import StrataHTTP
import StrataRedis
import StrataTestSupport
import Testing

@Suite struct RequestLimiterTests {
    /// A large budget is reserved from Redis in batches: the requests this process lets through
    /// still never exceed the budget (plus what refills while the test runs), and requests
    /// beyond it are refused with a wait.
    @Test(.timeLimit(.minutes(1)))
    func reservedBatchesKeepTheBudget() async throws {
        try await withTestRedis { redis, prefix in
            let limiter = RequestLimiter(redis: redis)
            let perMinute = 1_200  // a burst of 1,200, then 20 a second; reserved 2 at a time
            let started = ContinuousClock.now
            var allowed = 0
            var refused: RateLimiter.Decision?
            var remaining: [Int] = []
            for _ in 0..<1_500 {
                let decision = await limiter.check(prefix + "key", perMinute: perMinute)
                if decision.allowed {
                    allowed += 1
                    remaining.append(decision.remaining)
                } else if refused == nil {
                    refused = decision
                }
            }
            let refill = Int((started.duration(to: .now).secondsDouble * 20).rounded(.up)) + 2
            #expect(allowed >= perMinute && allowed <= perMinute + refill, "\(allowed) allowed")
            #expect(refused.map { $0.retryAfter > .zero } == true, "the budget ran out")
            #expect(remaining.first.map { $0 >= perMinute - 2 } == true && remaining.last.map { $0 <= refill } == true, "remaining counts down")
            // Another server (another limiter) sees the same, spent budget: at most what has
            // refilled since is left.
            let other = await RequestLimiter(redis: redis).check(prefix + "key", perMinute: perMinute)
            let refilled = Int((started.duration(to: .now).secondsDouble * 20).rounded(.up)) + 2
            #expect(!other.allowed || other.remaining <= refilled, "\(other)")
        }
    }
}
