import Foundation
import StrataCore
import StrataRedis
import StrataTestSupport
import Testing

@Suite struct RateLimiterTests {
    @Test(.timeLimit(.minutes(1)))
    func aBurstOfTheLimitThenOneRequestPerInterval() async throws {
        try await withTestRedis { redis, prefix in
            let limiter = RateLimiter(redis: redis, limit: 5, period: .seconds(1), keyPrefix: prefix)
            let start: Int64 = 1_000_000
            var remaining: [Int] = []
            for _ in 0..<5 {
                let decision = try await limiter.check("client", now: start)
                #expect(decision.allowed)
                remaining.append(decision.remaining)
            }
            #expect(remaining == [4, 3, 2, 1, 0])
            let denied = try await limiter.check("client", now: start)
            #expect(!denied.allowed)
            #expect(denied.retryAfter == .milliseconds(200))
            // One millisecond before the retry time: still denied. At it: allowed, exactly once.
            #expect(try await !limiter.check("client", now: start + 199).allowed)
            #expect(try await limiter.check("client", now: start + 200).allowed)
            #expect(try await !limiter.check("client", now: start + 200).allowed)
            // A full period of silence restores the whole burst, and keys are independent.
            #expect(try await limiter.check("client", now: start + 1_400).remaining == 4)
            #expect(try await limiter.check("other", now: start).remaining == 4)
        }
    }

    @Test(.timeLimit(.minutes(1)))
    func aReservationTakesWhatTheBudgetAllowsAndNoMore() async throws {
        try await withTestRedis { redis, prefix in
            let limiter = RateLimiter(redis: redis, limit: 10, period: .seconds(1), keyPrefix: prefix)
            let start: Int64 = 2_000_000
            let first = try await limiter.reserve("batch", upTo: 4, now: start)
            #expect(first.allowed && first.granted == 4 && first.remaining == 6)
            let rest = try await limiter.reserve("batch", upTo: 10, now: start)
            #expect(rest.allowed && rest.granted == 6 && rest.remaining == 0, "only what is left of the burst")
            let none = try await limiter.reserve("batch", upTo: 3, now: start)
            #expect(!none.allowed && none.granted == 0 && none.retryAfter == .milliseconds(100))
            // 250 ms later two cells have come back (one per 100 ms).
            #expect(try await limiter.reserve("batch", upTo: 5, now: start + 250).granted == 2)
        }
    }

    @Test(.timeLimit(.minutes(1)))
    func concurrentRequestsNeverExceedTheLimit() async throws {
        try await withTestRedis { redis, prefix in
            let limiter = RateLimiter(redis: redis, limit: 50, period: .seconds(60), keyPrefix: prefix)
            let allowed = try await withThrowingTaskGroup(of: Bool.self) { group in
                for _ in 0..<200 { group.addTask { try await limiter.check("shared", now: 5_000_000).allowed } }
                return try await group.reduce(0) { $0 + ($1 ? 1 : 0) }
            }
            #expect(allowed == 50)
        }
    }
}

@Suite struct DistributedLockTests {
    @Test(.timeLimit(.minutes(1)))
    func onlyTheHolderReleasesAndFencingTokensGrow() async throws {
        try await withTestRedis { redis, prefix in
            let locks = DistributedLock(redis: redis, keyPrefix: prefix)
            let first = try #require(try await locks.acquire("job", ttl: .seconds(30)))
            #expect(try await locks.acquire("job", ttl: .seconds(30)) == nil)
            var impostor = first
            impostor.token = "not-the-holder"
            #expect(try await !locks.release(impostor))
            #expect(try await locks.extend(first, ttl: .seconds(60)))
            #expect(try await locks.release(first))
            let second = try #require(try await locks.acquire("job", ttl: .seconds(30)))
            #expect(second.fencingToken > first.fencingToken)
            #expect(try await !locks.release(first), "a stale lease cannot release the new holder's lock")
            #expect(try await locks.release(second))
        }
    }

    @Test(.timeLimit(.minutes(1)))
    func anExpiredLockCanBeTakenAndTheOldHolderCannotExtendIt() async throws {
        try await withTestRedis { redis, prefix in
            let locks = DistributedLock(redis: redis, keyPrefix: prefix)
            let first = try #require(try await locks.acquire("job", ttl: .milliseconds(50)))
            var second: DistributedLock.Lease?
            let deadline = ContinuousClock.now + .seconds(5)
            while second == nil && ContinuousClock.now < deadline {
                second = try await locks.acquire("job", ttl: .seconds(30))
            }
            let taken = try #require(second)
            #expect(taken.fencingToken > first.fencingToken)
            #expect(try await !locks.extend(first, ttl: .seconds(30)))
        }
    }
}
