import Foundation
import PostgresNIO
import StrataCore
import StrataPostgres
import StrataSecurity
import StrataTestSupport
import Testing

@testable import SimJobs

/// How many round trips a task submission takes on one warm connection (its statements
/// prepared): `BEGIN`, the task's job, the task's row, the change's record, `COMMIT` — five
/// with or without a callback, whose webhook delivery is enqueued with the change's record.
@Suite(.serialized)
struct TaskSubmissionRoundTripsTests {
    @Test func aSubmissionTakesAtMostFiveRoundTrips() async throws {
        try await withTestDatabase(lines: [try SimJobsModule().migrationLine()]) { database in
            let counter = RoundTripCounter()
            let pool = PostgresPool(url: database.url, configuration: .init(poolSize: 1, maxOverflow: 0), logger: counter.logger)
            try await pool.withRunning {
                let service = TaskService(pool: pool, secrets: .ephemeral())
                let caller = Caller(actor: "api_key:ops", name: "ops", requestID: "req-1")
                let plain = TaskService.Submission(modelName: "mace-mp-0-medium", structureName: "MOF-5")
                var withCallback = plain
                withCallback.callbackURL = "https://example.test/hook"
                withCallback.callbackSecret = String(repeating: "s", count: 24)
                // The first of each prepares its statements on the connection.
                for submission in [plain, withCallback] { _ = try await service.submit([submission], type: .optimization, by: caller) }

                let (plainTrips, plainTasks) = try await counter.counting {
                    try await service.submit([plain], type: .optimization, by: caller)
                }
                let (callbackTrips, callbackTasks) = try await counter.counting {
                    try await service.submit([withCallback], type: .optimization, by: caller)
                }
                print("task submission round trips: \(plainTrips) (plain), \(callbackTrips) (with a callback)")
                #expect(plainTrips <= 5 && callbackTrips <= 5)
                #expect(plainTrips >= 3, "the counter sees the transaction's statements")
                #expect(plainTasks[0].status == .queued && callbackTasks[0].status == .queued)

                // Everything the change records is there: the job, the event, the audit entry
                // (with the caller's facts), and the callback's delivery.
                let id = callbackTasks[0].id
                let recorded = try await database.pool.query(
                    """
                    SELECT (SELECT count(*) FROM strata.jobs j JOIN simjobs.tasks t ON t.job_id = j.id WHERE t.id = \(id)),
                           (SELECT count(*) FROM strata.outbox WHERE aggregate_id = \(id.uuidString) AND kind = 'task.created'
                                                                AND actor = 'api_key:ops' AND request_id = 'req-1'),
                           (SELECT count(*) FROM strata.audit_log WHERE resource_id = \(id.uuidString) AND actor = 'api_key:ops'
                                                                   AND request_id = 'req-1'),
                           (SELECT count(*) FROM strata.jobs WHERE kind = 'strata.webhook' AND args ->> 'url' = 'https://example.test/hook'),
                           (SELECT count(*) FROM simjobs.task_callbacks WHERE task_id = \(id))
                    """
                )
                let (jobs, events, audits, deliveries, callbacks) = try recorded[0].decode((Int64, Int64, Int64, Int64, Int64).self)
                #expect(jobs == 1 && events == 1 && audits == 1 && callbacks == 1)
                #expect(deliveries == 2, "one delivery per submission with a callback")
            }
        }
    }

    @Test func aRefusedSubmissionLeavesNothingBehind() async throws {
        try await withTestDatabase(lines: [try SimJobsModule().migrationLine()]) { database in
            let service = TaskService(pool: database.pool)
            let missingStructure = TaskService.Submission(modelName: "mace-mp-0-medium", structureID: UUID())
            await #expect(throws: StrataError(.invalidReference, "")) {
                try await service.submit([missingStructure], type: .optimization, by: .job("tester"))
            }
            await #expect(throws: StrataError(.invalidReference, "")) {
                try await service.submit([.init(modelName: "no-such-model", structureName: "MOF-5")], type: .optimization, by: .job("tester"))
            }
            let left = try await database.pool.query(
                "SELECT (SELECT count(*) FROM simjobs.tasks) + (SELECT count(*) FROM strata.jobs) + (SELECT count(*) FROM strata.outbox)"
            )
            #expect(try left[0].decode(Int64.self) == 0)
        }
    }
}
