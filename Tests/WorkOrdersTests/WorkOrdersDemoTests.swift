import Foundation
import StrataCore
import StrataPostgres
import StrataServer
import StrataTestSupport
import Testing

@testable import WorkOrders

@Suite struct WorkOrdersDemoTests {
    @Test(.timeLimit(.minutes(1)))
    func seedingTwiceLoadsTheDemoOnce() async throws {
        try await withTestDatabase(lines: try StrataApplication.migrationLines()) { database in
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
}
