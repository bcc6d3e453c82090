public import Foundation
public import Logging
import Metrics
import StrataCore
import Synchronization

/// Cache-aside over Redis that cannot go stale: **versioned entries**.
///
/// Every cached value carries the version of the database row it came from (a `version`
/// column bumped by each write, or any number that only grows per key). Redis holds
/// `"<version>:<json>"`, or a *tombstone* `"<version>:"`.
///
/// - **Read**: `GET`; a value is a hit. A miss or a tombstone loads from the database and
///   backfills with a script that writes only if Redis holds no newer version and no value of
///   the same version (a tombstone of the loaded version is replaced: the load read that very
///   committed row).
/// - **Stampedes** collapse to one load per key: concurrent misses in one process share one
///   load task, and across processes the loading one holds a short lease
///   (`SET <key>:loading NX PX`, ``loadLease``) while the others watch the key for the
///   backfilled value (every 10 ms), loading themselves only if the lease runs out first.
/// - **Write**: after the transaction commits, ``invalidate(_:version:)`` writes a tombstone with
///   the new version by the same rule. A reader that loaded the old row before the commit can
///   therefore never put its old value back: its backfill carries an older version than the
///   tombstone (or, if it came first, the tombstone replaces it).
/// - **Redis down**: reads go to the loader within the command timeout and skip the backfill;
///   an invalidation that cannot reach Redis is reported to the caller (the entry's TTL bounds
///   how long a stale value can live).
/// - TTLs carry ±10 % jitter so that entries written together do not expire together.
///
/// Metrics: `strata_cache_requests_total{cache,result="hit"|"miss"|"error"}`,
/// `strata_cache_loads_total{cache}`.
public final class HotCache<Value: Codable & Sendable>: Sendable {
    /// A loaded value and the version it had in the database.
    public struct Versioned: Sendable {
        public var value: Value
        public var version: Int64

        public init(value: Value, version: Int64) {
            self.value = value
            self.version = version
        }
    }

    static var backfillScript: RedisScript {
        RedisScript(
            """
            local current = redis.call('GET', KEYS[1])
            if current then
              local prefix = string.match(current, '^(%d+):')
              local stored = tonumber(prefix)
              local version = tonumber(ARGV[1])
              -- Newer: keep it. The same version: keep a value; a tombstone of that version
              -- gives way to the value of that version (the committed row), never to an older one.
              if stored and (stored > version or (stored == version and (#current > #prefix + 1 or ARGV[2] == ''))) then
                return 0
              end
            end
            redis.call('SET', KEYS[1], ARGV[1] .. ':' .. ARGV[2], 'PX', ARGV[3])
            return 1
            """
        )
    }

    /// How values are written to and read from Redis: by default the API's own JSON
    /// (``standard``), so that entries can be served as they are (``getJSON(_:load:)``).
    public struct Coding: Sendable {
        public var encode: @Sendable (Value) throws -> Data
        public var decode: @Sendable (Data) throws -> Value

        public init(encode: @escaping @Sendable (Value) throws -> Data, decode: @escaping @Sendable (Data) throws -> Value) {
            self.encode = encode
            self.decode = decode
        }

        /// The API's JSON (`JSONEncoder.api()`, `JSONDecoder.api()`), written by the value itself
        /// when it is ``JSONWritable`` (the same bytes, without the encoder's cost).
        public static var standard: Coding {
            Coding(
                encode: { value in
                    if let writable = value as? any JSONWritable { return Data(writable.jsonBytes) }
                    return try JSONEncoder.api().encode(value)
                },
                decode: { try JSONDecoder.api().decode(Value.self, from: $0) }
            )
        }
    }

    /// A value as Redis holds it: its JSON (in ``Coding``'s form) and its version.
    public struct Encoded: Sendable {
        public var json: [UInt8]
        public var version: Int64

        public init(json: [UInt8], version: Int64) {
            self.json = json
            self.version = version
        }
    }

    /// What one load gives its readers: the value, and its JSON when this process already has it
    /// (it backfilled it, or found it in Redis), so that ``getJSON(_:load:)`` does not encode again.
    private struct Loaded: Sendable {
        var value: Versioned
        var json: [UInt8]?
    }

    let redis: RedisClient?
    let name: String
    let keyPrefix: String
    let coding: Coding
    let ttl: Duration
    /// How long other processes wait for this one's load before loading themselves.
    let loadLease: Duration
    let logger: Logger
    private let inFlight = Mutex<[String: Task<Loaded?, any Error>]>([:])
    private let hits: Counter
    private let misses: Counter
    private let errors: Counter
    private let loads: Counter

    /// - Parameters:
    ///   - redis: The hot layer, or `nil` (then every read goes to the loader).
    ///   - name: The cache's name: the metrics label, and the key prefix (`strata:cache:<name>:`)
    ///     unless `keyPrefix` is given.
    ///   - keyPrefix: The keys' own prefix, for a cache whose keys are named by a spec
    ///     (`production:overview:`).
    ///   - ttl: How long an entry lives (±10 %).
    ///   - loadLease: How long other processes wait for one process's load of a key.
    ///   - coding: How values are stored.
    public init(
        redis: RedisClient?,
        name: String,
        keyPrefix: String? = nil,
        ttl: Duration = .seconds(300),
        loadLease: Duration = .seconds(2),
        coding: Coding = .standard,
        logger: Logger
    ) {
        self.redis = redis
        self.name = name
        self.keyPrefix = keyPrefix ?? "strata:cache:\(name):"
        self.coding = coding
        self.ttl = ttl
        self.loadLease = loadLease
        self.logger = logger
        hits = Counter(label: "strata_cache_requests_total", dimensions: [("cache", name), ("result", "hit")])
        misses = Counter(label: "strata_cache_requests_total", dimensions: [("cache", name), ("result", "miss")])
        errors = Counter(label: "strata_cache_requests_total", dimensions: [("cache", name), ("result", "error")])
        loads = Counter(label: "strata_cache_loads_total", dimensions: [("cache", name)])
    }

    /// The Redis key of `key`'s entry (what an outbox event names to have the relay write its
    /// tombstone too, with `OutboxEvent.versionedCacheKey`).
    public func redisKey(_ key: String) -> String { keyPrefix + key }

    /// The value for `key`: from Redis, or from `load` (which reads the database) and then
    /// cached. `load` returns `nil` for "absent"; absence is not cached.
    public func get(_ key: String, load: @escaping @Sendable () async throws -> Versioned?) async throws -> Value? {
        try await read(key, load: load, hit: { try? self.coding.decode(Data($0.json)) }, loaded: { $0.value.value })
    }

    /// The value for `key` as its stored JSON and version, for serving without decoding and
    /// encoding again: a hit is Redis's bytes as they are; a miss loads (as ``get(_:load:)``) and
    /// encodes the loaded value with ``Coding``.
    public func getJSON(_ key: String, load: @escaping @Sendable () async throws -> Versioned?) async throws -> Encoded? {
        try await read(
            key,
            load: load,
            hit: { $0 },
            loaded: { loaded in Encoded(json: try loaded.json ?? Array(self.coding.encode(loaded.value.value)), version: loaded.value.version) }
        )
    }

    /// The one read path: a Redis entry that `hit` accepts is a hit; otherwise the value is loaded
    /// (once per key, then backfilled), or loaded directly while Redis fails; `loaded` gives the
    /// caller's form of a loaded value.
    private func read<Result>(
        _ key: String,
        load: @escaping @Sendable () async throws -> Versioned?,
        hit: (Encoded) -> Result?,
        loaded: (Loaded) throws -> Result
    ) async throws -> Result? {
        if let redis {
            do {
                if let stored = try await redis.get(redisKey(key)), let entry = Self.split(stored), let result = hit(entry) {
                    hits.increment()
                    return result
                }
                misses.increment()
            } catch {
                errors.increment()
                return try await load().map { try loaded(Loaded(value: $0, json: nil)) }
            }
        }
        return try await loadOnce(key, load: load).map(loaded)
    }

    /// A stored entry's version and JSON; `nil` for a tombstone or a malformed entry.
    static func split(_ stored: [UInt8]) -> Encoded? {
        guard let colon = stored.firstIndex(of: UInt8(ascii: ":")), colon + 1 < stored.count,
            let version = Int64(String(decoding: stored[..<colon], as: UTF8.self))
        else { return nil }
        return Encoded(json: Array(stored[(colon + 1)...]), version: version)
    }

    /// Records a committed change: the cached value for `key` is replaced by a tombstone with
    /// `version`, so no older value can be cached again. Call after the commit.
    public func invalidate(_ key: String, version: Int64) async throws {
        guard let redis else { return }
        try await redis.run(Self.backfillScript, keys: [redisKey(key)], arguments: ["\(version)", "", "\(jitteredMilliseconds())"])
    }

    /// Records a committed change by caching the committed value itself, so that the next read
    /// is a hit rather than a load: the entry becomes `entry` unless Redis holds a newer version
    /// (the backfill rule; a tombstone of the same version gives way to it, and the relay's
    /// tombstone of that version leaves it). Only for a value that is exactly what the loader
    /// returns for `entry.version` — every field the committed row's — encoded with ``Coding``
    /// (the caller often has the JSON already, for the change's event); else use
    /// ``invalidate(_:version:)``. Call after the commit.
    public func store(_ key: String, _ entry: Encoded) async throws {
        try await write(key, entry)
    }

    /// Loads once per key at a time in this process and backfills.
    private func loadOnce(_ key: String, load: @escaping @Sendable () async throws -> Versioned?) async throws -> Loaded? {
        let (task, isLeader) = inFlight.withLock { flights -> (Task<Loaded?, any Error>, Bool) in
            if let running = flights[key] { return (running, false) }
            let task = Task<Loaded?, any Error> {
                guard let lease = await self.leaseLoad(key) else {
                    // Another process is loading: take its value when it lands.
                    if let landed = await self.awaitLoadElsewhere(key) { return landed }
                    return try await self.loadAndBackfill(key, load: load, lease: nil)
                }
                return try await self.loadAndBackfill(key, load: load, lease: lease)
            }
            flights[key] = task
            return (task, true)
        }
        defer {
            if isLeader { inFlight.withLock { _ = $0.removeValue(forKey: key) } }
        }
        return try await task.value
    }

    private func loadAndBackfill(_ key: String, load: @Sendable () async throws -> Versioned?, lease: String?) async throws -> Loaded? {
        defer {
            if let lease, let redis {
                Task { try? await redis.run(Self.releaseScript, keys: [redisKey(key) + ":loading"], arguments: [lease]) }
            }
        }
        // A reader that missed just before another load landed finds the value now.
        if let redis, let stored = try? await redis.get(redisKey(key)), let landed = decodeLoaded(stored) { return landed }
        loads.increment()
        guard let loaded = try await load() else { return nil }
        return Loaded(value: loaded, json: await backfill(key, loaded))
    }

    static var releaseScript: RedisScript {
        RedisScript("if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0")
    }

    /// Takes the cross-process load lease for `key`: its token, `nil` when another process
    /// holds it, or a token of our own when Redis cannot say (then we just load).
    private func leaseLoad(_ key: String) async -> String? {
        let token = "\(UInt64.random(in: 1...UInt64.max))"
        guard let redis else { return token }
        do {
            return try await redis.set(redisKey(key) + ":loading", to: token, expiration: loadLease, condition: .ifAbsent) ? token : nil
        } catch {
            return token
        }
    }

    /// Watches `key` for the value another process is loading, until its lease runs out.
    private func awaitLoadElsewhere(_ key: String) async -> Loaded? {
        guard let redis else { return nil }
        let deadline = ContinuousClock.now + loadLease
        while ContinuousClock.now < deadline {
            do {
                try await Task.sleep(for: .milliseconds(10))
                if let stored = try await redis.get(redisKey(key)), let entry = decodeLoaded(stored) { return entry }
                if try await redis.get(redisKey(key) + ":loading") == nil {
                    // The loader finished without a value (absent row) or gave up.
                    return nil
                }
            } catch {
                return nil
            }
        }
        return nil
    }

    /// Backfills a loaded value; returns the JSON it encoded (`nil` without Redis, where nothing
    /// is encoded, or when the value does not encode).
    private func backfill(_ key: String, _ loaded: Versioned) async -> [UInt8]? {
        guard redis != nil, let json = try? Array(coding.encode(loaded.value)) else { return nil }
        do {
            try await write(key, Encoded(json: json, version: loaded.version))
        } catch {
            errors.increment()
            logger.debug("cache backfill skipped", metadata: ["strata.cache": "\(name)", "strata.error": "\(error)"])
        }
        return json
    }

    /// Writes `entry` by the backfill rule (never over a newer version).
    private func write(_ key: String, _ entry: Encoded) async throws {
        guard let redis else { return }
        try await redis.run(
            Self.backfillScript,
            keys: [redisKey(key)],
            arguments: ["\(entry.version)", String(decoding: entry.json, as: UTF8.self), "\(jitteredMilliseconds())"]
        )
    }

    private func decodeLoaded(_ stored: [UInt8]) -> Loaded? {
        guard let entry = Self.split(stored), let value = try? coding.decode(Data(entry.json)) else { return nil }
        return Loaded(value: Versioned(value: value, version: entry.version), json: entry.json)
    }

    private func jitteredMilliseconds() -> Int64 {
        let milliseconds = Double(ttl.milliseconds)
        return max(1, Int64(milliseconds * Double.random(in: 0.9...1.1)))
    }

    /// The version Redis holds for `key` (value or tombstone), for tests and diagnostics.
    public func storedVersion(_ key: String) async throws -> (version: Int64, isTombstone: Bool)? {
        guard let redis, let stored = try await redis.get(redisKey(key)),
            let colon = stored.firstIndex(of: UInt8(ascii: ":")),
            let version = Int64(String(decoding: stored[..<colon], as: UTF8.self))
        else { return nil }
        return (version, colon + 1 == stored.count)
    }
}
