import Foundation
import PostgresNIO
import StrataCore
import StrataPostgres
import StrataRedis
import StrataTestSupport
import Testing

@testable import StrataEvents

@Suite struct OutboxRelayTests {
    /// Reads every entry of a stream, oldest first.
    func entries(of stream: String, redis: RedisClient) async throws -> [StreamEntry] {
        var all: [StreamEntry] = []
        var start = "-"
        while true {
            let page = try await redis.streamRange(stream, from: start, to: "+", count: 1000)
            all += page
            guard let last = page.last, page.count == 1000 else { return all }
            start = "(" + last.id
        }
    }

    func append(_ events: [OutboxEvent], pool: PostgresPool, sleepBeforeCommit: Double = 0) async throws -> [Int64] {
        try await pool.withTransaction { connection in
            let ids = try await OutboxWriter().append(events, on: connection, logger: pool.statementLogger)
            if sleepBeforeCommit > 0 { try await connection.run("SELECT pg_sleep(\(sleepBeforeCommit))", logger: pool.statementLogger) }
            return ids
        }
    }

    func event(_ app: String = "orders", aggregate: String, kind: String = "order.updated", cacheKeys: [String] = []) -> OutboxEvent {
        OutboxEvent(
            app: app,
            aggregateType: "order",
            aggregateID: aggregate,
            kind: kind,
            payloadJSON: #"{"n": 1}"#,
            actor: "tester",
            cacheKeys: cacheKeys
        )
    }

    @Test(.timeLimit(.minutes(2)))
    func concurrentTransactionsWithRandomCommitDelaysLoseNothingAndKeepAggregateOrder() async throws {
        try await withTestDatabase { database in
            try await withTestRedis { redis, prefix in
                let streams = EventStreams(prefix: prefix + "events:")
                let relay = OutboxRelay(
                    pool: database.pool,
                    redis: redis,
                    configuration: .init(streams: streams, batchSize: 7, pollInterval: .milliseconds(20)),
                    logger: TestPostgres.logger
                )
                let running = Task { try await relay.run() }
                // 32 transactions, 4 events each on 6 aggregates, each sleeping 0-150 ms before commit.
                let appended = try await withThrowingTaskGroup(of: [Int64].self) { group in
                    for writer in 0..<32 {
                        group.addTask {
                            let events = (0..<4).map { n in self.event(aggregate: "a\((writer + n) % 6)", kind: "w\(writer).e\(n)") }
                            return try await self.append(events, pool: database.pool, sleepBeforeCommit: Double.random(in: 0...0.15))
                        }
                    }
                    return try await group.reduce(into: [Int64]()) { $0 += $1 }
                }
                #expect(appended.count == 128)
                // Wait until the relay has published everything (no event waits unsequenced).
                var progress = try await OutboxStore(pool: database.pool).progress()
                for await round in relay.rounds where round.publishedThrough >= 128 {
                    progress = try await OutboxStore(pool: database.pool).progress()
                    break
                }
                running.cancel()
                #expect(progress.unsequenced == 0)
                #expect(progress.publishedSequence == 128)

                let published = try await entries(of: streams.key(for: "orders"), redis: redis)
                let outboxIDs = published.compactMap { $0["id"].flatMap { Int64($0) } }
                #expect(Set(outboxIDs) == Set(appended), "every committed event is in the stream")
                #expect(outboxIDs.count - Set(outboxIDs).count <= 7, "duplicates bounded by one batch")
                // Per aggregate, stream order is outbox-id order (= commit order, see OutboxWriter).
                var lastIDByAggregate: [String: Int64] = [:]
                for entry in published {
                    let aggregate = try #require(entry["aggregate_id"])
                    let id = try #require(entry["id"].flatMap { Int64($0) })
                    #expect(id > lastIDByAggregate[aggregate, default: 0], "aggregate \(aggregate) out of order")
                    lastIDByAggregate[aggregate] = id
                }
                // Stream entry ids are the relay positions, 1...128.
                #expect(published.map(\.id) == (1...128).map { EventStreams.entryID(of: Int64($0)) })
            }
        }
    }

    /// The batch goes to Redis as JSON the script decodes: awkward text must arrive unchanged.
    @Test(.timeLimit(.minutes(1)))
    func awkwardTextReachesTheStreamUnchanged() async throws {
        try await withTestDatabase { database in
            try await withTestRedis { redis, prefix in
                let streams = EventStreams(prefix: prefix + "events:")
                let awkward = "q\"uote \\ back/slash \u{1}\u{1f}\n\t 工单 😀 e\u{301} \u{2028}"
                var odd = event(aggregate: "agg \"\\ 工单", kind: "order.noted", cacheKeys: [prefix + "cache:\"key\" 工单"])
                odd.payloadJSON = #"{"note":\#(JSONText.quoted(awkward))}"#
                odd.actor = awkward
                _ = try await append([odd], pool: database.pool)
                _ = try await redis.set(prefix + "cache:\"key\" 工单", to: "cached")
                let relay = OutboxRelay(pool: database.pool, redis: redis, configuration: .init(streams: streams), logger: TestPostgres.logger)
                #expect(try await relay.relayWaitingEvents() == 1)
                let entry = try #require(try await entries(of: streams.key(for: "orders"), redis: redis).first)
                #expect(entry["aggregate_id"] == "agg \"\\ 工单")
                #expect(entry["actor"] == awkward)
                let payload = try #require(entry["payload"])
                #expect(try JSONDecoder().decode([String: String].self, from: Data(payload.utf8)) == ["note": awkward])
                #expect(try await redis.get(prefix + "cache:\"key\" 工单") == nil, "the named cache key is deleted")
            }
        }
    }

    @Test(.timeLimit(.minutes(1)))
    func aRolledBackTransactionPublishesNothing() async throws {
        try await withTestDatabase { database in
            try await withTestRedis { redis, prefix in
                let streams = EventStreams(prefix: prefix + "events:")
                struct Abandon: Error {}
                await #expect(throws: Abandon.self) {
                    try await database.pool.withTransaction { connection in
                        try await OutboxWriter().append(self.event(aggregate: "x"), on: connection, logger: database.pool.statementLogger)
                        throw Abandon()
                    }
                }
                let kept = try await append([event(aggregate: "y")], pool: database.pool)
                let relay = OutboxRelay(pool: database.pool, redis: redis, configuration: .init(streams: streams), logger: TestPostgres.logger)
                #expect(try await relay.relayWaitingEvents() == 1)
                let published = try await entries(of: streams.key(for: "orders"), redis: redis)
                #expect(published.compactMap { $0["id"].flatMap { Int64($0) } } == kept)
                #expect(published.first?["aggregate_id"] == "y")
            }
        }
    }

    @Test(.timeLimit(.minutes(1)))
    func aRelayStoppedMidBatchIsFinishedByTheNextWithoutLossOrDuplicates() async throws {
        try await withTestDatabase { database in
            try await withTestRedis { redis, prefix in
                let streams = EventStreams(prefix: prefix + "events:")
                let store = OutboxStore(pool: database.pool)
                let ids = try await append((0..<10).map { event(aggregate: "a\($0 % 3)", kind: "e\($0)") }, pool: database.pool)

                // A relay numbered a batch of 4 and died before publishing it.
                let numbered = try #require(try await store.nextBatch(limit: 4))
                #expect(numbered.records.map(\.id) == Array(ids.prefix(4)))
                // Another published the next 3 into Redis and died before recording that.
                let second = try #require(try await store.nextBatch(limit: 3))
                #expect(second.isRetry && second.records.map(\.id) == Array(ids.prefix(3)))
                let publisher = StreamPublisher(redis: redis, streams: streams, maximumLength: 1000)
                let events = second.records.compactMap(LiveEvent.init(record:))
                #expect(try await publisher.publish(events) == 3)
                #expect(try await publisher.publish(events) == 0, "publishing a batch twice adds nothing")

                // A fresh relay finishes: every event once, in position order.
                let relay = OutboxRelay(
                    pool: database.pool,
                    redis: redis,
                    configuration: .init(streams: streams, batchSize: 4),
                    logger: TestPostgres.logger
                )
                #expect(try await relay.relayWaitingEvents() == 10)
                let published = try await entries(of: streams.key(for: "orders"), redis: redis)
                #expect(published.map(\.id) == (1...10).map { EventStreams.entryID(of: Int64($0)) })
                #expect(published.compactMap { $0["id"].flatMap { Int64($0) } } == ids)
                #expect(try await store.progress().publishedSequence == 10)
            }
        }
    }

    @Test(.timeLimit(.minutes(2)))
    func eventsWaitWhileRedisIsDownThenArriveAndDeleteTheirCacheKeys() async throws {
        try await withTestDatabase { database in
            let directory = NSTemporaryDirectory() + "strata-relay-redis-\(UUID().uuidString.prefix(8))"
            defer { try? FileManager.default.removeItem(atPath: directory) }
            let first = try await EmbeddedRedis.start(.init(directory: directory), logger: TestPostgres.logger)
            let redis = RedisClient(
                configuration: .init(url: first.url, commandTimeout: .seconds(5), connectTimeout: .seconds(5), openDuration: .milliseconds(200)),
                logger: TestPostgres.logger
            )
            let streams = EventStreams(prefix: "relay-test:")
            for n in 0..<5 { try await redis.set("cache:order:\(n)", to: "stale") }
            try await redis.send("BGREWRITEAOF")
            try await Task.sleep(for: .milliseconds(300))
            await first.stop()

            let relay = OutboxRelay(
                pool: database.pool,
                redis: redis,
                configuration: .init(
                    streams: streams,
                    pollInterval: .milliseconds(50),
                    initialBackoff: .milliseconds(50),
                    maximumBackoff: .milliseconds(400)
                ),
                logger: TestPostgres.logger
            )
            let running = Task { try await relay.run() }
            var ids: [Int64] = []
            for n in 0..<5 { ids += try await append([event(aggregate: "o\(n)", cacheKeys: ["cache:order:\(n)"])], pool: database.pool) }
            try await Task.sleep(for: .milliseconds(500))
            #expect(try await OutboxStore(pool: database.pool).progress().publishedSequence == 0, "nothing published while Redis is down")

            let second = try await EmbeddedRedis.start(.init(directory: directory), logger: TestPostgres.logger)
            #expect(second.url == first.url)
            for await round in relay.rounds where round.publishedThrough >= 5 { break }
            running.cancel()
            let published = try await entries(of: streams.key(for: "orders"), redis: redis)
            #expect(published.compactMap { $0["id"].flatMap { Int64($0) } } == ids)
            for n in 0..<5 { #expect(try await redis.getString("cache:order:\(n)") == nil) }
            await redis.close()
            await second.stop()
        }
    }

    @Test(.timeLimit(.minutes(1)))
    func versionedCacheKeysGetTombstonesThatNeverGoBackAndPlainKeysAreDeleted() async throws {
        try await withTestDatabase { database in
            try await withTestRedis { redis, prefix in
                let streams = EventStreams(prefix: prefix + "events:")
                let relay = OutboxRelay(pool: database.pool, redis: redis, configuration: .init(streams: streams), logger: TestPostgres.logger)
                let (older, newer, plain) = (prefix + "cache:older", prefix + "cache:newer", prefix + "cache:plain")
                try await redis.set(older, to: #"3:{"title":"old"}"#)
                try await redis.set(newer, to: #"7:{"title":"newest"}"#)
                try await redis.set(plain, to: "anything")
                let keys = [OutboxEvent.versionedCacheKey(older, version: 5), OutboxEvent.versionedCacheKey(newer, version: 5), plain]
                _ = try await append([event(aggregate: "o1", cacheKeys: keys)], pool: database.pool)
                try await relay.relayWaitingEvents()
                #expect(try await redis.getString(older) == "5:", "an older value becomes the event's tombstone")
                #expect(try await redis.getString(newer) == #"7:{"title":"newest"}"#, "a newer value stays")
                #expect(try await redis.getString(plain) == nil)
                let lifetime = try #require(try await redis.timeToLive(older))
                #expect(lifetime > .seconds(60), "the tombstone outlives loads in flight")
                let parsed = OutboxEvent.parseCacheKey(keys[0])
                #expect(parsed.key == older && parsed.version == 5 && OutboxEvent.parseCacheKey(plain).version == nil)
            }
        }
    }

    @Test(.timeLimit(.minutes(1)))
    func replayPublishesAgainAndExpiredEventsAreRemoved() async throws {
        try await withTestDatabase { database in
            try await withTestRedis { redis, prefix in
                let streams = EventStreams(prefix: prefix + "events:")
                let store = OutboxStore(pool: database.pool)
                let ids = try await append((0..<4).map { event(aggregate: "r\($0)") }, pool: database.pool)
                let relay = OutboxRelay(pool: database.pool, redis: redis, configuration: .init(streams: streams), logger: TestPostgres.logger)
                #expect(try await relay.relayWaitingEvents() == 4)
                #expect(try await store.replay(app: "orders", fromID: ids[2]) == 2)
                #expect(try await relay.relayWaitingEvents() == 2)
                let published = try await entries(of: streams.key(for: "orders"), redis: redis)
                #expect(published.compactMap { $0["id"].flatMap { Int64($0) } } == ids + ids.suffix(2))
                await #expect(throws: StrataError.self) { try await store.replay(app: "Bad App", fromID: 1) }

                // Only published events past the window go.
                _ = try await append([event(aggregate: "late")], pool: database.pool)
                #expect(try await store.deletePublished(before: Date().addingTimeInterval(60), limit: 3) == 3)
                #expect(try await store.deletePublished(before: Date().addingTimeInterval(60), limit: 3) == 1)
                #expect(try await store.deletePublished(before: Date().addingTimeInterval(60), limit: 3) == 0)
                #expect(try await store.progress().unsequenced == 1)
            }
        }
    }
}
