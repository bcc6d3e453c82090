import Foundation
import StrataCore
import StrataHTTP
import StrataRedis
import StrataTestSupport
import Synchronization
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
            let spent = Spending()
            await withTaskGroup(of: Void.self) { group in
                for _ in 0..<8 {
                    group.addTask {
                        // Until this caller is refused: then no request reserved here is left
                        // unspent once all eight are (each looked for one before asking Redis).
                        while spent.checks < 100_000 {
                            let decision = await limiter.check(prefix + "key", perMinute: perMinute)
                            spent.record(decision)
                            if !decision.allowed { break }
                        }
                    }
                }
            }
            let refill = Int((started.duration(to: .now).secondsDouble * 20).rounded(.up)) + 2
            let (allowed, refused, remaining) = spent.told
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

/// What the callers of ``RequestLimiterTests/reservedBatchesKeepTheBudget()`` were told.
private final class Spending: Sendable {
    private struct Told {
        var checks = 0
        var allowed = 0
        var remaining: [Int] = []
        var refused: RateLimiter.Decision?
    }

    private let state = Mutex(Told())

    /// How many checks the callers made.
    var checks: Int { state.withLock { $0.checks } }

    /// The requests let through, the first refusal and the `remaining` of each request let through.
    var told: (allowed: Int, refused: RateLimiter.Decision?, remaining: [Int]) {
        state.withLock { ($0.allowed, $0.refused, $0.remaining) }
    }

    func record(_ decision: RateLimiter.Decision) {
        state.withLock { told in
            told.checks += 1
            if decision.allowed {
                told.allowed += 1
                told.remaining.append(decision.remaining)
            } else if told.refused == nil {
                told.refused = decision
            }
        }
    }
}
