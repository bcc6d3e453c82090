import Foundation
import PostgresNIO
import StrataCore
import StrataEvents
import StrataPostgres
import StrataRedis
import StrataTestSupport
import Testing

@Suite struct EventFeedTests {
    func append(_ count: Int, aggregate: @escaping @Sendable (Int) -> String = { "a\($0 % 2)" }, pool: PostgresPool) async throws {
        try await pool.withTransaction { connection in
            for n in 0..<count {
                try await OutboxWriter().append(
                    OutboxEvent(
                        app: "orders",
                        aggregateType: "order",
                        aggregateID: aggregate(n),
                        kind: "order.touched",
                        payloadJSON: #"{"n":\#(n)}"#
                    ),
                    on: connection,
                    logger: pool.statementLogger
                )
            }
        }
    }

    @Test(.timeLimit(.minutes(1)))
    func aFeedCatchesUpFromTheOutboxThenFollowsTheStreamAndResumesWithoutGaps() async throws {
        try await withTestDatabase { database in
            try await withTestRedis { redis, prefix in
                let streams = EventStreams(prefix: prefix + "events:")
                let store = OutboxStore(pool: database.pool)
                let relay = OutboxRelay(pool: database.pool, redis: redis, configuration: .init(streams: streams), logger: TestPostgres.logger)
                try await append(5, pool: database.pool)
                try await relay.relayWaitingEvents()

                var feed = try await EventFeed(app: "orders", after: 0, store: store, redis: redis, streams: streams)
                #expect(try await feed.next().map(\.sequence) == [1, 2, 3, 4, 5])
                #expect(try await feed.next().isEmpty)
                try await append(3, pool: database.pool)
                try await relay.relayWaitingEvents()
                let live = try await feed.next()
                #expect(live.map(\.sequence) == [6, 7, 8])
                #expect(live.first?.event.payloadJSON == #"{"n": 0}"#)

                // A client that saw up to 6 reconnects: 7 and 8, nothing else.
                var resumed = try await EventFeed(app: "orders", after: 6, store: store, redis: redis, streams: streams)
                #expect(try await resumed.next().map(\.sequence) == [7, 8])

                // The stream lost everything (trimmed, or Redis replaced): the outbox fills the gap.
                try await redis.delete(streams.key(for: "orders"))
                var afterTrim = try await EventFeed(app: "orders", after: 2, store: store, redis: redis, streams: streams)
                #expect(try await afterTrim.next().map(\.sequence) == [3, 4, 5, 6, 7, 8])

                // One aggregate only.
                var single = try await EventFeed(app: "orders", aggregateID: "a1", after: 0, store: store, redis: redis, streams: streams)
                #expect(try await single.next().map(\.event.aggregateID) == ["a1", "a1", "a1"])

                // Without a position, a feed starts with the next event.
                var fresh = try await EventFeed(app: "orders", after: nil, store: store, redis: redis, streams: streams)
                #expect(try await fresh.next().isEmpty)
                try await append(1, pool: database.pool)
                try await relay.relayWaitingEvents()
                #expect(try await fresh.next().map(\.sequence) == [9])
            }
        }
    }

    @Test(.timeLimit(.minutes(1)))
    func withoutRedisTheRelayNumbersEventsAndFeedsReadThemFromPostgres() async throws {
        try await withTestDatabase { database in
            let store = OutboxStore(pool: database.pool)
            let hub = EventHub(redis: nil, logger: TestPostgres.logger)
            let relay = OutboxRelay(pool: database.pool, redis: nil, hub: hub, logger: TestPostgres.logger)
            let subscription = hub.subscribe(app: "orders")
            var feed = try await EventFeed(app: "orders", after: nil, store: store, redis: nil, streams: .init())
            try await append(2, pool: database.pool)
            #expect(try await relay.relayWaitingEvents() == 2)
            // The relay told the hub, which rang the subscriber.
            let clock = ContinuousClock()
            let waited = await clock.measure { await subscription.doorbell.wait(timeout: .seconds(10)) }
            #expect(waited < .seconds(5))
            #expect(try await feed.next().map(\.sequence) == [1, 2])
            hub.unsubscribe(subscription)
            #expect(hub.subscriberCount == 0)
        }
    }

    @Test(.timeLimit(.minutes(1)))
    func theHubWakesSubscribersWhenAnotherProcessPublishes() async throws {
        try await withTestDatabase { database in
            try await withTestRedis { redis, prefix in
                let streams = EventStreams(prefix: prefix + "events:")
                let hub = EventHub(redis: redis, streams: streams, block: .milliseconds(200), logger: TestPostgres.logger)
                let watching = Task { try await hub.run() }
                let subscription = hub.subscribe(app: "orders")
                // The hub rings a new app's subscribers once when its reads include the app.
                let joined = await ContinuousClock().measure { await subscription.doorbell.wait(timeout: .seconds(20)) }
                #expect(joined < .seconds(20), "the hub took the new app in")
                // A relay that knows nothing of this hub (as in another server).
                let relay = OutboxRelay(pool: database.pool, redis: redis, configuration: .init(streams: streams), logger: TestPostgres.logger)
                try await append(1, pool: database.pool)
                try await relay.relayWaitingEvents()
                let waited = await ContinuousClock().measure { await subscription.doorbell.wait(timeout: .seconds(10)) }
                #expect(waited < .seconds(5))
                watching.cancel()
            }
        }
    }
}
