import Foundation
import StrataCore
import StrataPostgres
import StrataTestSupport
import Testing

@testable import WorkOrders

@Suite struct WorkOrdersDemoTests {
    @Test(.timeLimit(.minutes(1)))
    func seedingTwiceLoadsTheDemoOnce() async throws {
        try await withTestDatabase(lines: [try WorkOrdersModule().migrationLine()]) { database in
            let service = service(PostgresWorkOrdersRepository(pool: database.pool))
            let first = try await WorkOrdersDemo.seed(service)
            #expect(first.created.map(\.code) == ["WO-DEMO-001", "WO-DEMO-002", "WO-DEMO-003"] && first.customers.count == 1)
            let second = try await WorkOrdersDemo.seed(service)
            #expect(second.created.isEmpty && second.skipped == ["WO-DEMO-001", "WO-DEMO-002", "WO-DEMO-003"])
            let orders = try await service.orders(.init(), limit: 10, cursor: nil).items
            #expect(orders.count == 3)
            let welding = try #require(orders.first { $0.code == "WO-DEMO-001" })
            #expect(welding.status == .inProgress && welding.completedQuantity == 60 && welding.defectiveQuantity == 2)
            #expect(welding.customerAccessStatus == .active)
            #expect(try await service.order(welding.id).customerAccess?.login == first.customers[0].login)
            #expect(try await service.messages(of: welding.id, afterID: 0, limit: 10).count == 2)
            #expect(orders.first { $0.code == "WO-DEMO-003" }?.status == .completed)
        }
    }

    @Test(.timeLimit(.minutes(2)))
    func strataSeedLoadsAnAppsDemoDataByName() async throws {
        try await withTestDatabase(migrated: false) { database in
            var environment = ProcessInfo.processInfo.environment
            environment["DATABASE_URL"] = database.url.revealedURL
            environment["STRATA_HOME"] = NSTemporaryDirectory() + "strata-seed-\(UUID().uuidString.prefix(8))"
            let strata = BuiltProducts.path("strata")
            let first = try await ChildProcess.run(strata, ["seed", "workorders"], environment: environment)
            #expect(first.contains("created WO-DEMO-001") && first.contains("Seeded workorders: 3 created"), "\(first)")
            let second = try await ChildProcess.run(strata, ["seed", "workorders"], environment: environment)
            #expect(second.contains("Seeded workorders: 0 created, 3 already there."), "\(second)")
            await #expect(throws: StrataError.self) { try await ChildProcess.run(strata, ["seed", "nope"], environment: environment) }
            await #expect(throws: StrataError.self) { try await ChildProcess.run(strata, ["seed", "simjobs"], environment: environment) }
        }
    }
}
