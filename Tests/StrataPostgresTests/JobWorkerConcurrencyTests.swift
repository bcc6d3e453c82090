import Foundation
import Logging
import PostgresNIO
import ServiceLifecycle
import StrataCore
import StrataPostgres
import StrataTestSupport
import Synchronization
import Testing

/// Many workers, lost connections, batches and shutdown: what a queue must survive.
@Suite struct JobWorkerConcurrencyTests {
    static let widePool = PostgresPool.Configuration(
        poolSize: 4,
        maxOverflow: 28,
        acquireTimeout: .seconds(30),
        statementTimeout: .seconds(60),
        searchPath: ""
    )

    func count(_ pool: PostgresPool, _ condition: String) async throws -> Int {
        let sql = "SELECT count(*) FROM strata.jobs WHERE \(condition)"
        return Int(try await pool.query(PostgresQuery(unsafeSQL: sql)).first?.decode(Int64.self) ?? 0)
    }

    func waitUntil(_ what: Comment, timeout: Duration = .seconds(20), _ condition: () async throws -> Bool) async throws {
        if try await !eventually(within: timeout, condition) { Issue.record("timed out waiting: \(what)") }
    }

    @Test(.timeLimit(.minutes(1)))
    func aBatchEnqueuesInOrderOrNotAtAllAndKeepsUniqueKeys() async throws {
        try await withTestDatabase { database in
            let pool = database.pool
            let queue = JobQueue()
            let live = try await pool.withConnection {
                try await queue.enqueue(NewJob(kind: "report", uniqueKey: "daily"), on: $0, logger: pool.statementLogger)
            }
            let batch = [
                NewJob(kind: "mail", argsJSON: #"{"n":1}"#),
                NewJob(kind: "report", uniqueKey: "weekly"),
                NewJob(kind: "mail", argsJSON: #"{"n":2}"#, priority: 0, runAt: Date().addingTimeInterval(-60)),
                NewJob(kind: "report", uniqueKey: "weekly"),
                NewJob(kind: "report", uniqueKey: "daily"),
            ]
            let ids = try await pool.withTransaction { try await queue.enqueue(batch, on: $0, logger: pool.statementLogger) }
            #expect(ids.count == 5)
            #expect(ids[0] < ids[1] && ids[1] < ids[2], "new jobs get ids in order")
            #expect(ids[3] == ids[1], "a key repeated in the batch is one job")
            #expect(ids[4] == live, "a key already live answers the live job")
            let args = try await pool.query("SELECT args->>'n' FROM strata.jobs WHERE id = \(ids[2])").first?.decode(String.self)
            #expect(args == "2")
            #expect(try await count(pool, "true") == 4)

            struct Abandon: Error {}
            await #expect(throws: Abandon.self) {
                try await pool.withTransaction { connection in
                    try await queue.enqueue((0..<50).map { _ in NewJob(kind: "mail") }, on: connection, logger: pool.statementLogger)
                    throw Abandon()
                }
            }
            #expect(try await count(pool, "true") == 4, "a rolled-back batch leaves no job")
            await #expect(throws: StrataError.self) {
                try await pool.withConnection {
                    try await queue.enqueue([NewJob(kind: "mail"), NewJob(kind: "mail", maxAttempts: 0)], on: $0, logger: pool.statementLogger)
                }
            }
            #expect(try await count(pool, "true") == 4, "one invalid job refuses the whole batch")
        }
    }

    @Test(.timeLimit(.minutes(2)))
    func sixteenWorkersNeverRunAJobTwice() async throws {
        try await withTestDatabase(poolConfiguration: Self.widePool) { database in
            let pool = database.pool
            let ledger = Mutex<[Int64: Int]>([:])
            let handler: JobHandler = { context in
                ledger.withLock { $0[context.job.id, default: 0] += 1 }
                try await Task.sleep(for: .milliseconds(Int.random(in: 0...3)))
                return nil
            }
            let workers = (0..<16).map { index in
                JobWorker(
                    pool: pool,
                    handlers: ["work": handler],
                    configuration: .init(concurrency: 2, prefetch: 2, pollInterval: .milliseconds(200), name: "w\(index)"),
                    logger: TestPostgres.logger
                )
            }
            let total = 800
            let running = workers.map { worker in Task { try await worker.run() } }
            defer { for task in running { task.cancel() } }
            for _ in 0..<(total / 100) {
                try await pool.withTransaction { connection in
                    try await JobQueue().enqueue((0..<100).map { _ in NewJob(kind: "work") }, on: connection, logger: pool.statementLogger)
                }
            }
            try await waitUntil("every job completed") { try await count(pool, "state = 'completed'") == total }
            let runs = ledger.withLock { $0 }
            #expect(runs.count == total, "every job ran")
            #expect(runs.values.allSatisfy { $0 == 1 }, "no job ran twice")
            #expect(try await count(pool, "attempt <> 1") == 0, "no job was claimed twice")
            let claimedBy = try await pool.query("SELECT count(DISTINCT attempted_by) FROM strata.jobs").first?.decode(Int64.self)
            #expect((claimedBy ?? 0) > 1, "the work was shared")
        }
    }

    @Test(.timeLimit(.minutes(1)))
    func aWorkerWhoseListenConnectionDiesStillRunsJobsAndListensAgain() async throws {
        try await withTestDatabase { database in
            let pool = database.pool
            let done = TestCounter()
            let worker = JobWorker(
                pool: pool,
                handlers: [
                    "work": { _ in
                        done.increment()
                        return nil
                    }
                ],
                configuration: .init(pollInterval: .milliseconds(300)),
                logger: TestPostgres.logger
            )
            let running = Task { try await worker.run() }
            defer { running.cancel() }
            let listeners = "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND application_name LIKE '%-listener'"
            try await waitUntil("the worker listens") {
                try await pool.query(PostgresQuery(unsafeSQL: listeners)).first?.decode(Int64.self) == 1
            }
            try await pool.query(
                """
                SELECT pg_terminate_backend(pid) FROM pg_stat_activity
                WHERE datname = current_database() AND application_name LIKE '%-listener'
                """
            )
            _ = try await pool.withConnection { try await JobQueue().enqueue(NewJob(kind: "work"), on: $0, logger: pool.statementLogger) }
            try await waitUntil("the job ran without a listener", timeout: .seconds(5)) { done.value == 1 }
            try await waitUntil("the worker listens again") {
                try await pool.query(PostgresQuery(unsafeSQL: listeners)).first?.decode(Int64.self) == 1
            }
        }
    }

    @Test(.timeLimit(.minutes(1)))
    func aStoppingWorkerFinishesItsJobAndGivesBackWhatItPrefetched() async throws {
        try await withTestDatabase { database in
            let pool = database.pool
            let release = Latch()
            let started = TestCounter()
            let worker = JobWorker(
                pool: pool,
                handlers: [
                    "work": { _ in
                        started.increment()
                        while !release.isSet { try await Task.sleep(for: .milliseconds(10)) }
                        return nil
                    }
                ],
                configuration: .init(concurrency: 1, prefetch: 3, pollInterval: .milliseconds(100), drainTimeout: .seconds(10)),
                logger: TestPostgres.logger
            )
            let group = ServiceGroup(services: [worker], gracefulShutdownSignals: [], cancellationSignals: [], logger: TestPostgres.logger)
            let running = Task { try await group.run() }
            try await pool.withConnection { connection in
                try await JobQueue().enqueue((0..<5).map { _ in NewJob(kind: "work") }, on: connection, logger: pool.statementLogger)
            }
            try await waitUntil("one runs and three wait, leased") { try await count(pool, "state = 'running'") == 4 && started.value == 1 }
            await group.triggerGracefulShutdown()
            try await waitUntil("the prefetched jobs are given back") { try await count(pool, "state = 'available'") == 4 }
            #expect(try await count(pool, "state = 'available' AND attempt = 0 AND attempted_by IS NULL") == 4, "as if never claimed")
            release.set()
            try await running.value
            #expect(started.value == 1)
            #expect(try await count(pool, "state = 'completed'") == 1, "the running job finished during the drain")
        }
    }
}
