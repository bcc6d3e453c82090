import StrataCore

/// A per-key rate limiter in one atomic script (GCRA, the generic cell rate algorithm).
///
/// `limit` requests per `period` may arrive in a burst; after that one more is allowed every
/// `period / limit`. There are no window edges to game: the state is one timestamp per key
/// (the "theoretical arrival time"), kept with a TTL no longer than the period. The answer
/// carries what a `429` needs: whether it was allowed, how many remain, and when to retry.
///
/// ```swift
/// let limiter = RateLimiter(redis: redis, limit: 100, period: .seconds(60))
/// let decision = try await limiter.check("apikey:\(keyID)")
/// if !decision.allowed { /* 429 with Retry-After: decision.retryAfter */ }
/// ```
///
/// A caller that serves many requests per key can ``reserve(_:upTo:now:)`` several cells in one
/// call and spend them itself: they are counted when reserved, so the limit still holds across
/// every server (a reserved cell left unspent is lost, never added).
public struct RateLimiter: Sendable {
    /// The outcome of one request.
    public struct Decision: Sendable, Equatable {
        public var allowed: Bool
        /// Requests that may still be made at once.
        public var remaining: Int
        /// How long to wait before a request would be allowed (zero when allowed).
        public var retryAfter: Duration

        /// Requests counted by this decision: 1 for ``RateLimiter/check(_:now:)``, up to the
        /// number asked for by ``RateLimiter/reserve(_:upTo:now:)``; 0 when not allowed.
        public var granted: Int

        public init(allowed: Bool, remaining: Int, retryAfter: Duration, granted: Int? = nil) {
            self.allowed = allowed
            self.remaining = remaining
            self.retryAfter = retryAfter
            self.granted = granted ?? (allowed ? 1 : 0)
        }
    }

    static let script = RedisScript(
        """
        local limit = tonumber(ARGV[1])
        local period = tonumber(ARGV[2])
        local now = tonumber(ARGV[3])
        local wanted = tonumber(ARGV[4])
        local own_clock = now < 0
        if own_clock then
          local t = redis.call('TIME')
          now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
        end
        local interval = period / limit
        local tat = tonumber(redis.call('GET', KEYS[1]) or now)
        if tat < now then tat = now end
        -- A cell is allowed when its arrival time, less the period, is not in the future.
        local allow_at = tat + interval - period
        if allow_at > now then
          return {0, 0, math.ceil(allow_at - now)}
        end
        local granted = math.max(1, math.min(wanted, math.floor((now + period - tat) / interval + 1e-9)))
        local new_tat = tat + interval * granted
        -- Expiry runs on Redis's clock: with a caller's clock it cannot be derived, keep an hour.
        local ttl = own_clock and math.max(1, math.ceil(new_tat - now)) or 3600000
        redis.call('SET', KEYS[1], tostring(new_tat), 'PX', ttl)
        return {granted, math.floor((period - (new_tat - now)) / interval), 0}
        """
    )

    let redis: RedisClient
    /// Requests allowed per period.
    public let limit: Int
    /// The period.
    public let period: Duration
    /// Prefix of the keys the limiter stores.
    public let keyPrefix: String

    public init(redis: RedisClient, limit: Int, period: Duration, keyPrefix: String = "strata:ratelimit:") {
        self.redis = redis
        self.limit = max(1, limit)
        self.period = period
        self.keyPrefix = keyPrefix
    }

    /// Counts one request for `key` and says whether it is allowed.
    /// - Parameter now: The time in milliseconds since 1970 (tests); Redis's clock by default,
    ///   so that every server shares one clock. With a given clock the state is kept for an
    ///   hour, since Redis expires keys by its own clock.
    public func check(_ key: String, now: Int64? = nil) async throws -> Decision {
        try await reserve(key, upTo: 1, now: now)
    }

    /// Counts up to `count` requests for `key` at once — as many as its budget allows now, at
    /// least one when it allows any — for a caller that spends them itself.
    /// - Returns: The decision; ``Decision/granted`` says how many were counted.
    public func reserve(_ key: String, upTo count: Int, now: Int64? = nil) async throws -> Decision {
        let periodMilliseconds = period.milliseconds
        let reply = try await redis.run(
            Self.script,
            keys: [keyPrefix + key],
            arguments: ["\(limit)", "\(max(1, periodMilliseconds))", "\(now ?? -1)", "\(max(1, count))"]
        )
        guard case .array(let items) = reply, items.count == 3,
            let granted = items[0].integer, let remaining = items[1].integer, let wait = items[2].integer
        else {
            throw StrataError(.redisProtocolViolation, "The rate-limit script returned an unexpected reply.")
        }
        return Decision(allowed: granted > 0, remaining: Int(remaining), retryAfter: .milliseconds(wait), granted: Int(granted))
    }
}
