import Foundation
import PostgresNIO
import StrataCore
import StrataEvents
import StrataPostgres
import StrataRedis
import StrataTestSupport
import Testing

@testable import WorkOrders

/// The Redis half: order details cache-aside, unread counters rebuilt from PostgreSQL.
@Suite struct WorkOrdersHotLayerTests {
    @Test(.timeLimit(.minutes(1)))
    func detailsAreServedFromRedisAndNeverStaleAfterAChange() async throws {
        try await withTestRedis { redis, _ in
            try await withTestDatabase(lines: [try WorkOrdersModule().migrationLine()]) { database in
                let service = service(PostgresWorkOrdersRepository(pool: database.pool), redis: redis)
                let order = try await service.create(weldingDraft(), by: manager)
                #expect(try await service.order(order.id) == order)
                let cached = try await service.cache.storedVersion(order.id.uuidString)
                #expect(cached?.version == 1 && cached?.isTombstone == false, "backfilled on the first read")

                // Served from Redis: a change made behind the service's back is not seen…
                _ = try await database.pool.query("UPDATE workorders.work_orders SET title = 'behind' WHERE id = \(order.id)")
                #expect(try await service.order(order.id).title == order.title)
                // …but every change through the service replaces the entry: a progress report by the
                // order it committed, exactly as a load would read it…
                let (progressed, _) = try await service.recordProgress(order.id, step: "step-1", report(2), by: manager)
                let stored = try await service.cache.storedVersion(order.id.uuidString)
                #expect(stored?.version == progressed.version && stored?.isTombstone == false, "a report caches what it committed")
                let committed = try #require(try await PostgresWorkOrdersRepository(pool: database.pool).order(order.id))
                #expect(try await service.orderJSON(order.id).json == committed.jsonBytes)
                let read = try await service.order(order.id)
                #expect(read.version == progressed.version && read.completedQuantity == 2 && read.title == "behind")
                // …other changes by a tombstone of their version.
                var patch = WorkOrderPatch()
                patch.title = "renamed"
                let renamed = try await service.update(order.id, patch, ifVersion: read.version, by: manager)
                #expect(
                    try await service.cache.storedVersion(order.id.uuidString).map { ($0.version, $0.isTombstone) } ?? (0, false) == (
                        renamed.version, true
                    )
                )
                #expect(try await service.order(order.id).title == "renamed")
                try await service.delete(order.id, ifVersion: renamed.version, by: manager)
                await #expect(throws: StrataError.code(.notFound)) { try await service.order(order.id) }
            }
        }
    }

    @Test(.timeLimit(.minutes(1)))
    func unreadCountersLiveInRedisAndAreRebuiltWhenLost() async throws {
        try await withTestRedis { redis, _ in
            try await withTestDatabase(lines: [try WorkOrdersModule().migrationLine()]) { database in
                let service = service(PostgresWorkOrdersRepository(pool: database.pool), redis: redis)
                let order = try await service.create(weldingDraft(), by: manager)
                let reader = "Zhao Peng \(UUID().uuidString.prefix(6))"
                var patch = WorkOrderPatch()
                patch.watchers = [reader]
                _ = try await service.update(order.id, patch, ifVersion: 1, by: manager)
                let author = Caller(actor: "user:Wang Qiang", name: "Wang Qiang")
                _ = try await service.post(.init(body: "one"), to: order.id, by: author)
                #expect(try await service.unreadCounts(for: reader) == [order.id: 1], "built from PostgreSQL on first read")
                #expect(try await redis.hashGetAll(UnreadCounters.key(reader))[order.id.uuidString] == "1")
                let second = try await service.post(.init(body: "two"), to: order.id, by: author)
                #expect(try await redis.hashGetAll(UnreadCounters.key(reader))[order.id.uuidString] == "2", "incremented in Redis")
                #expect(try await service.unreadCounts(for: reader) == [order.id: 2])

                _ = try await redis.delete(UnreadCounters.key(reader))  // lost (flush, restart)
                #expect(try await service.unreadCounts(for: reader) == [order.id: 2], "rebuilt from PostgreSQL")
                try await service.markRead(order.id, reader: reader, lastReadID: second.id, by: manager)
                #expect(try await service.unreadCounts(for: reader).isEmpty)
            }
        }
    }

    @Test(.timeLimit(.minutes(1)))
    func theRelayReplacesADetailAChangeCouldNotInvalidate() async throws {
        try await withTestRedis { redis, prefix in
            try await withTestDatabase(lines: [try WorkOrdersModule().migrationLine()]) { database in
                let repository = PostgresWorkOrdersRepository(pool: database.pool)
                let cached = service(repository, redis: redis)
                // A writer that cannot reach Redis (or stopped right after its commit).
                let blind = service(repository, redis: nil)
                let order = try await cached.create(weldingDraft(), by: manager)
                #expect(try await cached.order(order.id).version == 1)
                _ = try await blind.recordProgress(order.id, step: "step-1", report(3), by: manager)
                #expect(try await cached.order(order.id).version == 1, "stale until the event is relayed")

                let relay = OutboxRelay(
                    pool: database.pool,
                    redis: redis,
                    configuration: .init(streams: EventStreams(prefix: prefix + "events:")),
                    logger: TestPostgres.logger
                )
                try await relay.relayWaitingEvents()
                #expect(try await cached.cache.storedVersion(order.id.uuidString)?.isTombstone == true)
                let read = try await cached.order(order.id)
                #expect(read.version == 2 && read.completedQuantity == 3)

                // The relay's tombstone of a version leaves the value of that version alone.
                let (progressed, _) = try await cached.recordProgress(order.id, step: "step-1", report(1), by: manager)
                try await relay.relayWaitingEvents()
                let stored = try await cached.cache.storedVersion(order.id.uuidString)
                #expect(stored?.version == progressed.version && stored?.isTombstone == false)
            }
        }
    }
}
