import Foundation
import Hummingbird
import HummingbirdTesting
import StrataCore
import StrataEvents
import StrataHTTP
import StrataPostgres
import StrataTestSupport
import Testing

@testable import WorkOrders

@Suite struct WorkOrdersEventsTests {
    @Test(.timeLimit(.minutes(1)))
    func anOrdersChangesReachItsEventStreamInOrder() async throws {
        try await withTestRedis { redis, prefix in
            let streams = EventStreams(prefix: prefix + "events:")
            try await withTestModule(WorkOrdersModule(), live: true) { database in
                ModuleEnvironment(pool: database.pool, redis: redis, streams: streams, logger: TestPostgres.logger)
            } _: { database, client, environment in
                let pool = database.pool
                let relay = OutboxRelay(
                    pool: pool,
                    redis: redis,
                    configuration: .init(streams: streams),
                    hub: environment.hub,
                    logger: TestPostgres.logger
                )
                let (_, key) = try await APIKeyStore(pool: pool).create(.init(name: "listener", permissions: ["workorders.read"]))
                let service = service(PostgresWorkOrdersRepository(pool: pool), redis: redis)
                let order = try await service.create(weldingDraft(), by: manager)
                let other = try await service.create(weldingDraft(), by: manager)
                _ = try await service.recordProgress(order.id, step: "step-1", report(2), by: manager)
                _ = try await service.recordProgress(other.id, step: "step-1", report(2), by: manager)
                try await relay.relayWaitingEvents()

                let port = try #require(client.port)
                async let received = readEventStream(
                    port: port,
                    path: "/api/workorders/orders/\(order.id.uuidString)/events?after=0",
                    headers: ["X-API-Key": key],
                    seconds: 20,
                    until: "event: message.created"
                )
                try await Task.sleep(for: .milliseconds(700))
                _ = try await service.post(.init(body: "live"), to: order.id, by: manager)
                try await relay.relayWaitingEvents()
                let text = try await received
                let kinds = text.split(separator: "\n").filter { $0.hasPrefix("event: ") }.map { String($0.dropFirst(7)) }
                #expect(
                    kinds == ["work_order.created", "work_order.progress_recorded", "work_order.status_changed", "message.created"],
                    "got: \(text)"
                )
                #expect(!text.contains(other.id.uuidString), "only this order's events")
            }
        }
    }
}
