import Foundation
import PostgresNIO
import StrataCore
import StrataHTTP
import StrataPostgres
import StrataTestSupport
import Testing

@testable import Workflows

@Suite struct SeedTests {
    @Test(.timeLimit(.minutes(1)))
    func theDemoIsSeededOnceWithAHistoryThatTheStatisticsCount() async throws {
        try await withTestDatabase(lines: [try WorkflowsModule().migrationLine()]) { database in
            let module = WorkflowsModule()
            let environment = ModuleEnvironment(pool: database.pool, tokens: try TestModule.tokens(), logger: TestPostgres.logger)
            let first = try #require(try await module.seedDemoData(environment: environment))
            #expect(first.filter { $0.hasPrefix("created") }.count == 3, "\(first)")
            let again = try #require(try await module.seedDemoData(environment: environment))
            #expect(again.filter { $0.hasPrefix("exists") }.count == 3 && !again.contains { $0.hasPrefix("created") })

            let workflows = WorkflowService(pool: database.pool)
            let orders = try #require(try await workflows.list(.init(name: "Shop orders"), limit: 10, cursor: nil).items.first)
            #expect(orders.status == .active && orders.tags == ["crm", "sales"])
            let stats = try await ExecutionService(pool: database.pool).stats(workflow: orders.id, days: 7)
            #expect(stats.totalExecutions == 10 && stats.successfulExecutions == 9 && stats.failedExecutions == 1)
            let executions = try await ExecutionService(pool: database.pool).list(workflow: orders.id, status: nil, limit: 50, cursor: nil).items
            #expect(executions.count == 10 && executions.allSatisfy { $0.status.isTerminal })
            let log = try await ExecutionService(pool: database.pool).log(try #require(executions.first).id, after: 0, limit: 10)
            #expect(log.count == 4)
            let jobs = try await database.pool.query("SELECT count(*) FROM strata.jobs WHERE queue = \(ExecutionService.queue)").first?.decode(
                Int64.self
            )
            #expect(jobs == 0, "the history never passes through the queue")
        }
    }
}
