import Foundation
import StrataCore
public import StrataRedis
import Synchronization

/// Per-minute request budgets, shared by every server through Redis (``RateLimiter``'s GCRA
/// script), or kept in this process while the hot layer is disabled or unreachable.
///
/// A key with a large budget is not sent to Redis with every request: one call reserves up to
/// a tenth of a second's worth of its budget (at most 100 requests), which this process then
/// spends within a second. Reserved requests are counted in Redis when reserved, so the
/// budget holds across servers; budgets under 1,200 a minute are checked request by request.
public final class RequestLimiter: Sendable {
    /// Requests reserved in Redis for a key and not yet spent here.
    private struct Reserved {
        var count: Int
        /// What `X-RateLimit-Remaining` says with all of them still unspent.
        var remaining: Int
        var expires: ContinuousClock.Instant
    }

    let redis: RedisClient?
    private let local = Mutex<[String: Double]>([:])  // key → theoretical arrival time (ms)
    private let reserved = Mutex<[String: Reserved]>([:])

    public init(redis: RedisClient?) {
        self.redis = redis
    }

    /// How many requests one Redis call reserves for a budget of `perMinute`.
    static func reservation(perMinute: Int) -> Int {
        min(100, max(1, perMinute / 600))
    }

    /// Counts one request against `key`'s budget of `perMinute`.
    public func check(_ key: String, perMinute: Int) async -> RateLimiter.Decision {
        if let redis {
            if let decision = spendReserved(key) { return decision }
            let wanted = Self.reservation(perMinute: perMinute)
            if let decision = try? await RateLimiter(redis: redis, limit: perMinute, period: .seconds(60)).reserve(key, upTo: wanted) {
                guard decision.granted > 1 else { return decision }
                // This request takes one; the rest are kept for the next ones.
                let left = decision.granted - 1
                let kept = Reserved(count: left, remaining: decision.remaining + left, expires: .now + .seconds(1))
                reserved.withLock { reserved in
                    if reserved.count > 10_000 {
                        let now = ContinuousClock.now
                        reserved = reserved.filter { $0.value.expires > now }
                    }
                    if let held = reserved[key], held.expires > .now {
                        reserved[key] = Reserved(count: held.count + left, remaining: kept.remaining + held.count, expires: kept.expires)
                    } else {
                        reserved[key] = kept
                    }
                }
                return RateLimiter.Decision(allowed: true, remaining: kept.remaining, retryAfter: .zero)
            }
        }
        return checkLocally(key, perMinute: perMinute)
    }

    /// One of the requests reserved for `key`, if any are left and fresh.
    private func spendReserved(_ key: String) -> RateLimiter.Decision? {
        reserved.withLock { reserved in
            guard var held = reserved[key] else { return nil }
            guard held.expires > .now, held.count > 0 else {
                reserved[key] = nil
                return nil
            }
            held.count -= 1
            held.remaining = max(0, held.remaining - 1)
            reserved[key] = held.count > 0 ? held : nil
            return RateLimiter.Decision(allowed: true, remaining: held.remaining, retryAfter: .zero)
        }
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
