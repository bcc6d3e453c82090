import Foundation
import StrataCore
public import StrataRedis
import Synchronization

/// Per-minute request budgets, shared by every server through Redis (``RateLimiter``'s GCRA
/// script), or kept in this process while the hot layer is disabled or unreachable.
public final class RequestLimiter: Sendable {
    let redis: RedisClient?
    private let local = Mutex<[String: Double]>([:])  // key → theoretical arrival time (ms)

    public init(redis: RedisClient?) {
        self.redis = redis
    }

    /// Counts one request against `key`'s budget of `perMinute`.
    public func check(_ key: String, perMinute: Int) async -> RateLimiter.Decision {
        if let redis {
            if let decision = try? await RateLimiter(redis: redis, limit: perMinute, period: .seconds(60)).check(key) {
                return decision
            }
        }
        return checkLocally(key, perMinute: perMinute)
    }

    /// Counts one request against `key`'s budget and refuses it when the budget is spent.
    /// - Parameter what: What is counted, for the message ("requests", "sign-in attempts").
    /// - Returns: The decision (for `X-RateLimit-Remaining`).
    /// - Throws: `rate_limited` (429) with `retry_after_s` (→ `Retry-After`) and the limit.
    @discardableResult
    public func spend(_ key: String, perMinute: Int, what: String = "requests") async throws -> RateLimiter.Decision {
        let decision = await check(key, perMinute: perMinute)
        guard decision.allowed else {
            let seconds = max(1, Int(decision.retryAfter.secondsDouble.rounded(.up)))
            throw StrataError(
                .rateLimited,
                "Too many \(what): the limit is \(perMinute) per minute; retry in \(seconds) s.",
                details: ["retry_after_s": "\(seconds)", "limit_per_minute": "\(perMinute)"]
            )
        }
        return decision
    }

    /// The same cell rate algorithm as the Redis script, in memory.
    func checkLocally(_ key: String, perMinute: Int, now: Double = Date().timeIntervalSince1970 * 1000) -> RateLimiter.Decision {
        let interval = 60_000.0 / Double(max(1, perMinute))
        let burst = 60_000.0
        return local.withLock { cells in
            if cells.count > 100_000 { cells = cells.filter { $0.value > now } }
            let arrival = max(cells[key] ?? now, now)
            let next = arrival + interval
            if next - now > burst {
                let wait = next - now - burst
                return RateLimiter.Decision(allowed: false, remaining: 0, retryAfter: .milliseconds(Int64(wait.rounded(.up))))
            }
            cells[key] = next
            let remaining = Int(((burst - (next - now)) / interval).rounded(.down))
            return RateLimiter.Decision(allowed: true, remaining: max(0, remaining), retryAfter: .zero)
        }
    }
}
