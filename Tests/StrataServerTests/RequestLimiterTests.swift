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
    ///
    /// Eight callers spend until each is refused, as requests arrive on a server: a fixed number
    /// of sequential checks can be outpaced by the refill when the machine is busy.
    @Test(.timeLimit(.minutes(1)))
    func reservedBatchesKeepTheBudget() async throws {
        try await withTestRedis { redis, prefix in
            let limiter = RequestLimiter(redis: redis)
            let perMinute = 1_200  // a burst of 1,200, then 20 a second; reserved 2 at a time
            let started = ContinuousClock.now
            let told = await withTaskGroup(of: [RateLimiter.Decision].self) { group in
                for _ in 0..<8 {
                    group.addTask {
                        // Until this caller is refused: then no request reserved here is left
                        // unspent once all eight are (each looked for one before asking Redis).
                        var told: [RateLimiter.Decision] = []
                        while told.count < 20_000 {
                            let decision = await limiter.check(prefix + "key", perMinute: perMinute)
                            told.append(decision)
                            if !decision.allowed { break }
                        }
                        return told
                    }
                }
                return await group.reduce(into: []) { $0 += $1 }
            }
            let refill = Int((started.duration(to: .now).secondsDouble * 20).rounded(.up)) + 2
            let remaining = told.filter(\.allowed).map(\.remaining)
            let allowed = remaining.count
            let refused = told.first { !$0.allowed }
            #expect(allowed >= perMinute && allowed <= perMinute + refill, "\(allowed) allowed")
            #expect(refused.map { $0.retryAfter > .zero } == true, "the budget ran out")
            // The first reservation saw the whole burst; the last ones, what had refilled.
            #expect(remaining.max().map { $0 >= perMinute - 2 } == true && remaining.min().map { $0 <= refill } == true, "remaining counts down")
            // Another server (another limiter) sees the same, spent budget: at most what has
            // refilled since is left.
            let other = await RequestLimiter(redis: redis).check(prefix + "key", perMinute: perMinute)
            let refilled = Int((started.duration(to: .now).secondsDouble * 20).rounded(.up)) + 2
            #expect(!other.allowed || other.remaining <= refilled, "\(other)")
        }
    }
}
