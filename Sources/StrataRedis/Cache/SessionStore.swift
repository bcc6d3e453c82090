import Foundation
import StrataCore

/// Sessions kept in Redis only (seed 001's active sessions): a JSON value per id with a
/// sliding time to live, 24 hours by default. Every read refreshes the TTL in the same command
/// (`GETEX … PX`), so an active session never expires and an idle one goes away by itself.
///
/// Closed sessions that must outlive Redis are archived to PostgreSQL by their app; this store
/// is never the only copy of anything the apps call persistent.
public struct SessionStore<Value: Codable & Sendable>: Sendable {
    let redis: RedisClient
    let keyPrefix: String
    /// The sliding time to live.
    public let ttl: Duration

    public init(redis: RedisClient, name: String, ttl: Duration = .seconds(86_400)) {
        self.redis = redis
        self.keyPrefix = "strata:session:\(name):"
        self.ttl = ttl
    }

    private var ttlMilliseconds: String {
        "\(max(1, ttl.milliseconds))"
    }

    /// Stores (or replaces) a session and starts its TTL.
    public func put(_ id: String, _ value: Value) async throws {
        let data = try JSONEncoder.api().encode(value)
        try await redis.send([Array("SET".utf8), Array((keyPrefix + id).utf8), Array(data), Array("PX".utf8), Array(ttlMilliseconds.utf8)])
    }

    /// The session, refreshing its TTL; `nil` when absent or expired.
    /// - Throws: `invalid_value` when the stored JSON no longer decodes as `Value`.
    public func get(_ id: String) async throws -> Value? {
        let reply = try await redis.send([Array("GETEX".utf8), Array((keyPrefix + id).utf8), Array("PX".utf8), Array(ttlMilliseconds.utf8)])
        guard case .bulkString(let bytes) = reply else { return nil }
        do {
            return try JSONDecoder.api().decode(Value.self, from: Data(bytes))
        } catch {
            throw StrataError(.invalidValue, "The stored session does not match the expected shape.", underlying: error)
        }
    }

    /// Removes a session (on logout or when it is archived); whether it existed.
    @discardableResult
    public func remove(_ id: String) async throws -> Bool {
        try await redis.delete(keyPrefix + id) == 1
    }

    /// How long the session has left, `nil` when absent.
    public func timeToLive(_ id: String) async throws -> Duration? {
        try await redis.timeToLive(keyPrefix + id)
    }
}
