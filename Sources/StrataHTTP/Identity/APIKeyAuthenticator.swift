import Foundation
public import Logging
public import ServiceLifecycle
public import StrataCore
public import StrataPostgres
import Synchronization

/// Turns an API key's text into a ``Principal``, without a database round trip per request.
///
/// Keys are looked up by their public prefix and cached (``Configuration/cacheTTL``; unknown
/// prefixes for ``Configuration/negativeCacheTTL``), and checked by SHA-256 in constant time —
/// no bcrypt on the request path. A revocation through this process (admin endpoint) takes
/// effect at once; one made elsewhere (another server, the CLI) within the cache TTL.
/// `last_used_at` is written in batches every ``Configuration/usageFlushInterval`` by ``run()``,
/// never per request.
public final class APIKeyAuthenticator: Service, Sendable {
    public struct Configuration: Sendable {
        public var cacheTTL: Duration
        public var negativeCacheTTL: Duration
        public var usageFlushInterval: Duration
        /// The most cached prefixes (the cache is cleared when it is full).
        public var cacheLimit: Int

        public init(
            cacheTTL: Duration = .seconds(10),
            negativeCacheTTL: Duration = .seconds(5),
            usageFlushInterval: Duration = .seconds(30),
            cacheLimit: Int = 10_000
        ) {
            self.cacheTTL = cacheTTL
            self.negativeCacheTTL = negativeCacheTTL
            self.usageFlushInterval = usageFlushInterval
            self.cacheLimit = cacheLimit
        }
    }

    private struct Cached: Sendable {
        var key: APIKey?
        /// The key text that last matched, and the principal it stands for: a client's next
        /// requests skip the hash and the principal's construction.
        var verified: (text: String, principal: Principal)?
    }

    public let configuration: Configuration
    let store: APIKeyStore
    let logger: Logger
    private let cache: ExpiringCache<String, Cached>
    /// Keys used since the last flush of `last_used_at`.
    private let used = Mutex<Set<UUID>>([])

    public init(pool: PostgresPool, configuration: Configuration = .init(), logger: Logger) {
        self.store = APIKeyStore(pool: pool)
        self.configuration = configuration
        self.logger = logger
        self.cache = ExpiringCache(limit: configuration.cacheLimit)
    }

    /// The principal of a key, plus the key's per-minute rate limit.
    /// - Throws: `unauthenticated` for a malformed, unknown, inactive, revoked or expired key;
    ///   `database_unavailable` when the key must be looked up and the database cannot be reached.
    public func authenticate(_ text: String) async throws -> (principal: Principal, rateLimitPerMinute: Int) {
        let refused = StrataError(.unauthenticated, "The API key is not valid (unknown, revoked or expired).")
        guard let prefix = APIKey.prefix(of: text) else { throw refused }
        if let (key, principal) = Self.verified(cache.value(for: prefix), as: text) {
            guard key.isUsable() else { throw refused }
            used.withLock { _ = $0.insert(key.id) }
            return (principal, key.rateLimitPerMinute)
        }
        let key: APIKey?
        do {
            key = try await lookUp(prefix)
        } catch let error as StrataError where error.code == .databaseUnavailable {
            // While the database cannot be reached (so no key can be revoked either), a key
            // verified before keeps working from its last known state: requests the hot layer
            // can answer go on. Anything else gets the 503.
            if let (key, principal) = Self.verified(cache.lastKnownValue(for: prefix), as: text), key.isUsable() {
                return (principal, key.rateLimitPerMinute)
            }
            throw error
        }
        guard let key, key.matches(text), key.isUsable() else { throw refused }
        let principal = Principal(id: key.id.uuidString, name: key.name, kind: .apiKey, permissions: Set(key.permissions), scopes: key.scopes)
        used.withLock { _ = $0.insert(key.id) }
        cache.update(prefix) { $0.verified = (text, principal) }
        return (principal, key.rateLimitPerMinute)
    }

    /// The key and principal of a cache entry whose key was already verified as exactly `text`.
    private static func verified(_ cached: Cached?, as text: String) -> (APIKey, Principal)? {
        guard let cached, let key = cached.key, let verified = cached.verified, verified.text == text else { return nil }
        return (key, verified.principal)
    }

    /// Forgets a cached key (after this process revoked or changed it).
    public func forget(prefix: String) {
        cache.remove(prefix)
    }

    private func lookUp(_ prefix: String) async throws -> APIKey? {
        if let cached = cache.value(for: prefix) { return cached.key }
        let key = try await store.find(prefix: prefix)
        cache.set(Cached(key: key), for: prefix, until: .now + (key == nil ? configuration.negativeCacheTTL : configuration.cacheTTL))
        return key
    }

    /// Writes the batched `last_used_at` updates until shut down (and once more then).
    public func run() async throws {
        try? await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                try await Task.sleep(for: self.configuration.usageFlushInterval)
                await self.flushUsage()
            }
        }
        await flushUsage()
    }

    /// Writes the `last_used_at` of the keys used since the last flush.
    public func flushUsage() async {
        let batch = used.withLock { used -> [UUID] in
            defer { used.removeAll(keepingCapacity: true) }
            return Array(used)
        }
        guard !batch.isEmpty else { return }
        do {
            try await store.recordUse(of: batch)
        } catch {
            used.withLock { $0.formUnion(batch) }
            logger.debug("API key usage not recorded yet", metadata: ["strata.error": "\(error)"])
        }
    }
}
