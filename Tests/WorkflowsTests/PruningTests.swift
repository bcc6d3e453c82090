import Foundation
import PostgresNIO
import StrataCore
import StrataPostgres
import StrataTestSupport
import Testing

@testable import Workflows

@Suite struct PruningTests {
    @Test(.timeLimit(.minutes(1)))
    func oldAndSurplusEndedExecutionsGoInTwoStepsWhileUnfinishedAndPinnedOnesStayAndTotalsHold() async throws {
        try await withTestDatabase(lines: [try WorkflowsModule().migrationLine()]) { database in
            let pool = database.pool
            let service = ExecutionService(pool: pool)
            let workflow = try await ExecutionTests.workflow(pool)
            var ended: [UUID] = []
            for _ in 0..<6 {
                let execution = try await service.start(workflow: workflow.id, .init(), by: .job("tester")).execution
                let claim = try #require(try await service.claim(worker: "w", limit: 1, lease: .seconds(30), by: .job("w", kind: "worker")).first)
                _ = try await service.finish(execution.id, lease: claim.lease, .init(status: .success), by: .job("w", kind: "worker"))
                ended.append(execution.id)
            }
            let running = try await service.start(workflow: workflow.id, .init(), by: .job("tester")).execution
            _ = try await service.claim(worker: "w", limit: 1, lease: .seconds(30), by: .job("w", kind: "worker"))
            let waitingToStart = try await service.start(workflow: workflow.id, .init(), by: .job("tester")).execution
            // Two ended long ago, one of them pinned.
            try await pool.query(
                """
                UPDATE workflows.execution_entity SET started_at = now() - interval '30 days', finished_at = now() - interval '30 days'
                WHERE id = ANY(\([ended[0], ended[1]])::uuid[])
                """
            )
            #expect(try await service.setPinned(ended[1], true, by: .job("tester")).pinned)
            // Also past a running one's age: it is never touched.
            try await pool.query("UPDATE workflows.execution_entity SET started_at = now() - interval '30 days' WHERE id = \(running.id)")
            let statsBefore = try await service.stats(workflow: workflow.id, days: 60)

            // Age 14 days and at most 3 kept (pinned ones aside): ended[0] by age, ended[2] by count
            // (the newest three unpinned are ended[5], [4] and [3]).
            let pruning = ExecutionPruning(pool: pool, policy: .init(maxAge: .seconds(14 * 86_400), maxCount: 3, hardDeleteBuffer: .seconds(3_600)))
            let preview = try await pruning.dryRun()
            #expect(preview == .init(softDeleted: 2, hardDeleted: 0))
            let untouched = try await pool.query("SELECT count(*) FROM workflows.execution_entity WHERE logical_deletion IS NOT NULL").first?.decode(
                Int64.self
            )
            #expect(untouched == 0, "a dry run writes nothing")

            #expect(try await pruning.prune() == .init(softDeleted: 2, hardDeleted: 0))
            await #expect(throws: StrataError.self) { try await service.execution(ended[0]) }
            #expect(try await service.execution(ended[1]).pinned)
            #expect(try await service.execution(running.id).status == .running)
            #expect(try await service.execution(waitingToStart.id).status == .new)
            #expect(try await service.stats(workflow: workflow.id, days: 60) == statsBefore, "pruning never changes a past total")

            // Past the buffer they go for good, with their data.
            try await pool.query(
                "UPDATE workflows.execution_entity SET logical_deletion = now() - interval '2 hours' WHERE logical_deletion IS NOT NULL"
            )
            #expect(try await pruning.prune() == .init(softDeleted: 0, hardDeleted: 2))
            let left = try await pool.query("SELECT count(*) FROM workflows.execution_data WHERE execution_id = ANY(\([ended[0], ended[2]])::uuid[])")
                .first?.decode(Int64.self)
            #expect(left == 0)
            #expect(try await service.stats(workflow: workflow.id, days: 60) == statsBefore)
        }
    }
}
