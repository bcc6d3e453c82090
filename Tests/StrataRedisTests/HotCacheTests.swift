import Foundation
import PostgresNIO
import StrataCore
import StrataPostgres
import StrataRedis
import StrataTestSupport
import Testing

@Suite struct HotCacheTests {
    struct Item: Codable, Sendable, Equatable {
        var value: String
    }

    static let keys = 100

    /// A table of 100 rows with a version bumped by every write.
    func makeTable(_ pool: PostgresPool) async throws {
        try await pool.query("CREATE TABLE public.items (id int PRIMARY KEY, value text NOT NULL, version bigint NOT NULL)")
        try await pool.query("INSERT INTO public.items SELECT i, 'initial', 1 FROM generate_series(0, \(Self.keys - 1)) AS i")
    }

    func read(_ pool: PostgresPool, _ id: Int) async throws -> (String, Int64) {
        let rows = try await pool.query("SELECT value, version FROM public.items WHERE id = \(id)")
        return try rows[0].decode((String, Int64).self)
    }

    func write(_ pool: PostgresPool, _ id: Int, _ value: String) async throws -> Int64 {
        let rows = try await pool.query("UPDATE public.items SET value = \(value), version = version + 1 WHERE id = \(id) RETURNING version")
        return try rows[0].decode(Int64.self)
    }

    /// 32 writers and 256 readers on 100 keys; `reader` and `writer` are the cache under test.
    /// Readers keep reading until every writer is done, so that reads overlap each key's last
    /// write (only a race around the last write leaves a key stale).
    func race(
        pool: PostgresPool,
        reader: @escaping @Sendable (Int) async throws -> Void,
        writer: @escaping @Sendable (Int, Int64) async throws -> Void
    ) async throws {
        let writersLeft = TestCounter(32)
        try await withThrowingTaskGroup(of: Void.self) { group in
            for w in 0..<32 {
                group.addTask {
                    defer { writersLeft.decrement() }
                    for round in 0..<20 {
                        let id = Int.random(in: 0..<Self.keys)
                        let version = try await write(pool, id, "w\(w)-\(round)")
                        try await writer(id, version)
                    }
                }
            }
            for _ in 0..<256 {
                group.addTask {
                    while writersLeft.value > 0 { try await reader(Int.random(in: 0..<Self.keys)) }
                }
            }
            try await group.waitForAll()
        }
    }

    @Test(.timeLimit(.minutes(2)))
    func aSlowBackfillNeverLeavesAStaleValueBehind() async throws {
        try await withTestDatabase(poolConfiguration: .init(poolSize: 4, maxOverflow: 12, searchPath: "")) { database in
            try await withTestRedis(connections: 4) { redis, prefix in
                let pool = database.pool
                try await makeTable(pool)
                let cache = HotCache<Item>(redis: redis, name: prefix + "items", ttl: .seconds(300), logger: TestPostgres.logger)
                try await race(pool: pool) { id in
                    _ = try await cache.get("\(id)") {
                        let (value, version) = try await read(pool, id)
                        try await Task.sleep(for: .microseconds(Int.random(in: 0...20000)))  // the injected delay
                        return .init(value: Item(value: value), version: version)
                    }
                } writer: { id, version in
                    try await cache.invalidate("\(id)", version: version)
                }
                var stale = 0
                var cached = 0
                for id in 0..<Self.keys {
                    let (value, version) = try await read(pool, id)
                    guard let stored = try await cache.storedVersion("\(id)"), !stored.isTombstone else { continue }
                    cached += 1
                    let hit = try await cache.get("\(id)") { nil }
                    if stored.version != version || hit != Item(value: value) { stale += 1 }
                }
                #expect(stale == 0, "\(stale) of \(cached) cached keys differ from the database")
            }
        }
    }

    /// The interleaving the race above aims at, forced step by step: a reader loads version 1, a
    /// writer commits version 2 and invalidates, then the reader's backfill lands. Plain
    /// cache-aside (SET after the load, DEL after the write) keeps the old row; `HotCache` must
    /// not. This is the control that shows the race test's zero could have been otherwise.
    @Test(.timeLimit(.minutes(1)))
    func aBackfillLandingAfterTheWritersInvalidationStalesPlainCacheAsideButNotHotCache() async throws {
        try await withTestDatabase(poolConfiguration: .init(poolSize: 4, maxOverflow: 4, searchPath: "")) { database in
            try await withTestRedis(connections: 2) { redis, prefix in
                let pool = database.pool
                try await makeTable(pool)

                /// Runs `load` in a reader task, then the write and `invalidate` once the load has
                /// read, then lets the reader's backfill go on.
                func interleave(
                    reader: @escaping @Sendable (_ loaded: @escaping @Sendable () async -> Void) async throws -> Void,
                    invalidate: @escaping @Sendable (Int64) async throws -> Void
                ) async throws {
                    let (readDone, readSignal) = AsyncStream<Void>.makeStream()
                    let (writeDone, writeSignal) = AsyncStream<Void>.makeStream()
                    async let backfill: Void = reader {
                        readSignal.yield()
                        for await _ in writeDone { break }
                    }
                    for await _ in readDone { break }
                    let version = try await write(pool, 0, "written")
                    try await invalidate(version)
                    writeSignal.yield()
                    try await backfill
                }

                let plainKey = prefix + "plain:0"
                try await interleave { loaded in
                    let (value, _) = try await read(pool, 0)
                    await loaded()
                    try await redis.set(plainKey, to: value, expiration: .seconds(300))
                } invalidate: { _ in
                    try await redis.delete(plainKey)
                }
                #expect(try await redis.getString(plainKey) == "initial", "plain cache-aside keeps the row the writer replaced")

                let cache = HotCache<Item>(redis: redis, name: prefix + "items", ttl: .seconds(300), logger: TestPostgres.logger)
                try await interleave { loaded in
                    _ = try await cache.get("0") {
                        let (value, version) = try await read(pool, 0)
                        await loaded()
                        return .init(value: Item(value: value), version: version)
                    }
                } invalidate: { version in
                    try await cache.invalidate("0", version: version)
                }
                let stored = try await cache.storedVersion("0")
                #expect(stored.map { $0.version == 3 && $0.isTombstone } == true, "the writer's tombstone stays over the older row")
                let fresh = try await cache.get("0") {
                    let (value, version) = try await read(pool, 0)
                    return .init(value: Item(value: value), version: version)
                }
                #expect(fresh == Item(value: "written"), "the next read loads the committed row")
            }
        }
    }

    /// `readers` concurrent reads of one missing key, spread over `caches`, each miss loading
    /// slowly (200 ms): how many loads ran, and what every reader got.
    func stampede(_ caches: [HotCache<Item>], readers: Int) async throws -> (loads: Int, values: [Item?]) {
        let loads = TestCounter()
        let values = try await withThrowingTaskGroup(of: Item?.self) { group in
            for reader in 0..<readers {
                group.addTask {
                    try await caches[reader % caches.count].get("front-page") {
                        loads.increment()
                        try await Task.sleep(for: .milliseconds(200))
                        return .init(value: Item(value: "fresh"), version: 1)
                    }
                }
            }
            return try await group.reduce(into: [Item?]()) { $0.append($1) }
        }
        return (loads.value, values)
    }

    @Test(.timeLimit(.minutes(1)))
    func aTombstoneGivesWayToItsOwnVersionButNeverToAnOlderOne() async throws {
        try await withTestRedis { redis, prefix in
            let cache = HotCache<Item>(redis: redis, name: prefix + "tomb", logger: TestPostgres.logger)
            let loads = TestCounter()
            try await cache.invalidate("k", version: 5)  // a writer committed version 5
            let old = try await cache.get("k") {
                loads.increment()
                return .init(value: Item(value: "v4"), version: 4)  // a reader that read before the commit
            }
            #expect(old == Item(value: "v4"))
            #expect(try await cache.storedVersion("k").map { $0.version == 5 && $0.isTombstone } == true, "the older row is not cached")
            let current = try await cache.get("k") {
                loads.increment()
                return .init(value: Item(value: "v5"), version: 5)
            }
            #expect(current == Item(value: "v5"))
            #expect(try await cache.storedVersion("k").map { $0.version == 5 && !$0.isTombstone } == true, "the committed row is cached")
            let hit = try await cache.get("k") {
                loads.increment()
                return .init(value: Item(value: "loaded again"), version: 5)
            }
            #expect(hit == Item(value: "v5") && loads.value == 2, "then it is a hit")
            try await cache.invalidate("k", version: 5)  // the relay's copy of the same tombstone
            #expect(try await cache.storedVersion("k").map { !$0.isTombstone } == true, "a value of that version stays")
        }
    }

    @Test(.timeLimit(.minutes(1)))
    func storedJSONIsServedAsItIsWithItsVersionAndFollowsTombstones() async throws {
        try await withTestRedis { redis, prefix in
            let encodes = TestCounter()
            let coding = HotCache<Item>.Coding(
                encode: {
                    encodes.increment()
                    return Data("{\"v\":\"\($0.value)\"}".utf8)
                },
                decode: { Item(value: String(decoding: $0.dropFirst(6).dropLast(2), as: UTF8.self)) }
            )
            let cache = HotCache<Item>(redis: redis, name: prefix + "json", coding: coding, logger: TestPostgres.logger)
            let loads = TestCounter()
            let missed = try await cache.getJSON("k") {
                loads.increment()
                return .init(value: Item(value: "one"), version: 1)
            }
            #expect(
                missed.map { String(decoding: $0.json, as: UTF8.self) } == #"{"v":"one"}"# && missed?.version == 1,
                "a miss is encoded with the cache's coding"
            )
            #expect(encodes.value == 1, "once, for the backfill and the answer")
            let hit = try await cache.getJSON("k") {
                loads.increment()
                return .init(value: Item(value: "loaded again"), version: 1)
            }
            #expect(hit?.json == missed?.json && hit?.version == 1 && loads.value == 1, "a hit is Redis's bytes")
            #expect(try await cache.get("k") { nil } == Item(value: "one"), "the typed read decodes the same entry")
            try await cache.invalidate("k", version: 2)
            let changed = try await cache.getJSON("k") {
                loads.increment()
                return .init(value: Item(value: "two"), version: 2)
            }
            #expect(changed.map { String(decoding: $0.json, as: UTF8.self) } == #"{"v":"two"}"# && changed?.version == 2, "a tombstone is a miss")
            #expect(try await cache.getJSON("absent") { nil } == nil, "absence is nil")
        }
    }

    @Test(.timeLimit(.minutes(1)))
    func fiveHundredReadersOfAMissingKeyCauseOneLoad() async throws {
        try await withTestRedis { redis, prefix in
            let cache = HotCache<Item>(redis: redis, name: prefix + "hot", logger: TestPostgres.logger)
            let (loads, values) = try await stampede([cache], readers: 500)
            #expect(loads == 1)
            #expect(values.allSatisfy { $0 == Item(value: "fresh") })
        }
    }

    @Test(.timeLimit(.minutes(1)))
    func missesInFourProcessesCauseOneLoad() async throws {
        try await withTestRedis { redis, prefix in
            let url = redis.configuration.url
            // Four caches with clients of their own stand for four server processes. (A Redis error
            // makes a process load by itself — availability first — so the clients get a timeout
            // that a loaded test machine does not hit.)
            let processes = (0..<4).map { _ in RedisClient(configuration: .init(url: url, commandTimeout: .seconds(10)), logger: TestPostgres.logger)
            }
            let caches = processes.map { HotCache<Item>(redis: $0, name: prefix + "shared", loadLease: .seconds(20), logger: TestPostgres.logger) }
            let (loads, values) = try await stampede(caches, readers: 400)
            #expect(loads == 1)
            #expect(values.allSatisfy { $0 == Item(value: "fresh") })
            for process in processes { await process.close() }
        }
    }

    @Test(.timeLimit(.minutes(1)))
    func readsFallBackToTheLoaderWhenRedisIsDown() async throws {
        let port = try FileSystem.freeLoopbackPort()
        let redis = RedisClient(
            configuration: .init(url: RedisURL(address: .tcp(host: "127.0.0.1", port: port)), commandTimeout: .milliseconds(100)),
            logger: TestPostgres.logger
        )
        let cache = HotCache<Item>(redis: redis, name: "down", logger: TestPostgres.logger)
        for _ in 0..<5 {
            let value = try await cache.get("k") { .init(value: Item(value: "from the database"), version: 1) }
            #expect(value == Item(value: "from the database"))
        }
        await redis.close()
    }
}
