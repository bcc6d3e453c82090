import Foundation
import StrataCore

/// A lock held in Redis, with a fencing token.
///
/// Taking it is `SET key token NX PX ttl` with a random token; releasing and extending are
/// scripts that act only when the key still holds that token, so a holder whose lock expired
/// cannot release someone else's. Every successful acquisition also gets a **fencing token**
/// from a counter that only grows: write it with the protected change in PostgreSQL (for example
/// `UPDATE … WHERE fence < $token`) so that a holder paused past its TTL cannot overwrite the
/// work of the next one.
///
/// ```swift
/// let locks = DistributedLock(redis: redis)
/// if let lease = try await locks.acquire("job:42", ttl: .seconds(30)) {
///     defer { Task { try await locks.release(lease) } }
///     // … use lease.fencingToken in the database write …
/// }
/// ```
public struct DistributedLock: Sendable {
    /// A held lock.
    public struct Lease: Sendable, Equatable {
        public var name: String
        /// The random value that proves ownership.
        public var token: String
        /// Grows with every acquisition of this lock name.
        public var fencingToken: Int64
    }

    static let release = RedisScript(
        """
        if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
        return 0
        """
    )

    static let extend = RedisScript(
        """
        if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
        return 0
        """
    )

    let redis: RedisClient
    let keyPrefix: String

    public init(redis: RedisClient, keyPrefix: String = "strata:lock:") {
        self.redis = redis
        self.keyPrefix = keyPrefix
    }

    /// Takes the lock if it is free.
    /// - Returns: The lease, or `nil` when someone else holds the lock.
    public func acquire(_ name: String, ttl: Duration) async throws -> Lease? {
        let token = UUID().uuidString
        guard try await redis.set(keyPrefix + name, to: token, expiration: ttl, condition: .ifAbsent) else { return nil }
        let fence = try await redis.increment(keyPrefix + name + ":fence")
        return Lease(name: name, token: token, fencingToken: fence)
    }

    /// Releases the lock if this lease still holds it.
    /// - Returns: Whether it was still held (false: it had expired, maybe taken by another).
    @discardableResult
    public func release(_ lease: Lease) async throws -> Bool {
        try await redis.run(Self.release, keys: [keyPrefix + lease.name], arguments: [lease.token]).integer == 1
    }

    /// Extends the lock's time to live if this lease still holds it.
    /// - Returns: Whether it was still held.
    @discardableResult
    public func extend(_ lease: Lease, ttl: Duration) async throws -> Bool {
        let milliseconds = max(1, ttl.milliseconds)
        return try await redis.run(Self.extend, keys: [keyPrefix + lease.name], arguments: [lease.token, "\(milliseconds)"]).integer == 1
    }
}
