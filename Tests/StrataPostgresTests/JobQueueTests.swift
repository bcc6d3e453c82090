import Foundation
import PostgresNIO
import StrataCore
import StrataPostgres
import StrataTestSupport
import Testing

@Suite struct JobQueueTests {
    let queue = JobQueue()

    func enqueue(_ pool: PostgresPool, _ job: NewJob) async throws -> Int64 {
        try await pool.withTransaction { connection in try await queue.enqueue(job, on: connection, logger: pool.statementLogger) }
    }

    func claim(_ pool: PostgresPool, limit: Int = 10, worker: String = "w", lease: Duration = .seconds(30)) async throws -> [ClaimedJob] {
        try await pool.withTransaction { connection in
            try await queue.claim(queue: "default", limit: limit, worker: worker, lease: lease, on: connection, logger: pool.statementLogger)
        }
    }

    func state(_ pool: PostgresPool, _ id: Int64) async throws -> String? {
        try await pool.query("SELECT state FROM strata.jobs WHERE id = \(id)").first?.decode(String.self)
    }

    @Test(.timeLimit(.minutes(1)))
    func aJobExistsOnlyIfItsTransactionCommits() async throws {
        try await withTestDatabase { database in
            struct Abandon: Error {}
            await #expect(throws: Abandon.self) {
                try await database.pool.withTransaction { connection in
                    try await queue.enqueue(NewJob(kind: "mail"), on: connection, logger: database.pool.statementLogger)
                    throw Abandon()
                }
            }
            #expect(try await database.pool.query("SELECT count(*) FROM strata.jobs").first?.decode(Int64.self) == 0)
            let id = try await enqueue(database.pool, NewJob(kind: "mail"))
            #expect(try await state(database.pool, id) == "available")
            await #expect(throws: StrataError.self) { _ = try await enqueue(database.pool, NewJob(kind: "mail", priority: 7)) }
        }
    }

    @Test(.timeLimit(.minutes(1)))
    func claimsTakePriorityThenAgeAndNeverTheSameJobTwice() async throws {
        try await withTestDatabase { database in
            let low = try await enqueue(database.pool, NewJob(kind: "k", priority: 3))
            let critical = try await enqueue(database.pool, NewJob(kind: "k", priority: 0))
            let normalOld = try await enqueue(database.pool, NewJob(kind: "k", priority: 2, runAt: Date().addingTimeInterval(-60)))
            let normalNew = try await enqueue(database.pool, NewJob(kind: "k", priority: 2))
            _ = try await enqueue(database.pool, NewJob(kind: "k", priority: 0, runAt: Date().addingTimeInterval(3600)))  // not yet
            #expect(try await claim(database.pool).map(\.id) == [critical, normalOld, normalNew, low])

            for n in 0..<100 { _ = try await enqueue(database.pool, NewJob(kind: "bulk", argsJSON: #"{"n":\#(n)}"#)) }
            let claimed = try await withThrowingTaskGroup(of: [Int64].self) { group in
                for worker in 0..<6 {
                    group.addTask {
                        var mine: [Int64] = []
                        while true {
                            let batch = try await claim(database.pool, limit: 7, worker: "w\(worker)")
                            if batch.isEmpty { return mine }
                            mine += batch.map(\.id)
                        }
                    }
                }
                return try await group.reduce(into: [Int64]()) { $0 += $1 }
            }
            #expect(claimed.count == 100 && Set(claimed).count == 100, "each job claimed exactly once")
        }
    }

    @Test(.timeLimit(.minutes(1)))
    func aRescuedJobCannotBeFinishedByItsOldWorker() async throws {
        try await withTestDatabase { database in
            let pool = database.pool
            let id = try await enqueue(pool, NewJob(kind: "slow", maxAttempts: 3))
            let first = try #require(try await claim(pool, lease: .milliseconds(1)).first)
            try await Task.sleep(for: .milliseconds(20))
            let rescued = try await pool.withConnection { try await queue.rescueExpired(on: $0, logger: pool.statementLogger).count }
            #expect(rescued == 1)
            let second = try #require(try await claim(pool).first)
            #expect(second.id == id && second.attempt == 2 && second.leaseToken != first.leaseToken)
            let staleCompleted = try await pool.withConnection { try await queue.complete(first, on: $0, logger: pool.statementLogger) }
            #expect(staleCompleted == false, "the old lease no longer counts")
            #expect(
                try await pool.withConnection { try await queue.heartbeat(first, lease: .seconds(30), on: $0, logger: pool.statementLogger) } == nil
            )
            let completed = try await pool.withConnection {
                try await queue.complete(second, resultJSON: #"{"ok":true}"#, on: $0, logger: pool.statementLogger)
            }
            let finalState = try await state(pool, id)
            #expect(completed && finalState == "completed")
        }
    }

    @Test(.timeLimit(.minutes(1)))
    func failedAttemptsRetryLaterThenTheJobIsDiscardedAndKept() async throws {
        try await withTestDatabase { database in
            let pool = database.pool
            let id = try await enqueue(pool, NewJob(kind: "flaky", maxAttempts: 2))
            let first = try #require(try await claim(pool).first)
            let later = Date().addingTimeInterval(3600)
            #expect(
                try await pool.withConnection { try await queue.fail(first, error: "boom", retryAt: later, on: $0, logger: pool.statementLogger) }
                    == .available
            )
            #expect(try await claim(pool).isEmpty, "not before its retry time")
            try await pool.query("UPDATE strata.jobs SET run_at = now() WHERE id = \(id)")
            let second = try #require(try await claim(pool).first)
            #expect(
                try await pool.withConnection {
                    try await queue.fail(second, error: "boom again", retryAt: Date(), on: $0, logger: pool.statementLogger)
                } == .discarded
            )
            let errors = try #require(try await pool.query("SELECT jsonb_array_length(errors) FROM strata.jobs WHERE id = \(id)").first)
            #expect(try errors.decode(Int.self) == 2)
        }
    }

    @Test(.timeLimit(.minutes(1)))
    func uniqueJobsAndCancellation() async throws {
        try await withTestDatabase { database in
            let pool = database.pool
            let first = try await enqueue(pool, NewJob(kind: "report", uniqueKey: "daily"))
            #expect(try await enqueue(pool, NewJob(kind: "report", uniqueKey: "daily")) == first, "one live job per key")
            #expect(try await pool.withConnection { try await queue.cancel(id: first, on: $0, logger: pool.statementLogger) } == .cancelled)
            let next = try await enqueue(pool, NewJob(kind: "report", uniqueKey: "daily"))
            #expect(next != first, "a finished job frees its key")
            let running = try #require(try await claim(pool).first)
            #expect(try await pool.withConnection { try await queue.cancel(id: next, on: $0, logger: pool.statementLogger) } == .running)
            #expect(
                try await pool.withConnection { try await queue.heartbeat(running, lease: .seconds(30), on: $0, logger: pool.statementLogger) }
                    == true
            )
            #expect(try await pool.withConnection { try await queue.cancel(id: 999_999, on: $0, logger: pool.statementLogger) } == nil)
        }
    }

    @Test(.timeLimit(.minutes(1)))
    func aScheduleFiresOncePerSlotAcrossServers() async throws {
        try await withTestDatabase { database in
            let pool = database.pool
            let schedule = JobSchedule(name: "cleanup", every: .seconds(300), job: NewJob(kind: "cleanup"))
            let now = Date()
            let fired = try await withThrowingTaskGroup(of: Int64?.self) { group in
                for _ in 0..<5 {
                    group.addTask {
                        try await pool.withTransaction { try await schedule.fireIfDue(now: now, on: $0, logger: pool.statementLogger) }
                    }
                }
                return try await group.reduce(into: [Int64]()) { if let id = $1 { $0.append(id) } }
            }
            #expect(fired.count == 1)
            let nextSlot = now.addingTimeInterval(300)
            #expect(try await pool.withTransaction { try await schedule.fireIfDue(now: nextSlot, on: $0, logger: pool.statementLogger) } != nil)
            #expect(try await pool.query("SELECT count(*) FROM strata.jobs WHERE kind = 'cleanup'").first?.decode(Int64.self) == 2)

            // Cron: 02:30 UTC daily fires once for the day's slot however often it is checked.
            let nightly = try JobSchedule(name: "nightly", cron: "30 2 * * *", job: NewJob(kind: "nightly"))
            let morning = try Date("2026-11-22T08:00:00Z", strategy: .iso8601)
            for minutes in [0.0, 10, 600] {
                _ = try await pool.withTransaction {
                    try await nightly.fireIfDue(now: morning.addingTimeInterval(minutes * 60), on: $0, logger: pool.statementLogger)
                }
            }
            #expect(try await pool.query("SELECT count(*) FROM strata.jobs WHERE kind = 'nightly'").first?.decode(Int64.self) == 1)
            let nextDay = morning.addingTimeInterval(86_400)
            #expect(try await pool.withTransaction { try await nightly.fireIfDue(now: nextDay, on: $0, logger: pool.statementLogger) } != nil)
        }
    }
}

@Suite struct JobWorkerTests {
    @Test(.timeLimit(.minutes(1)))
    func aWorkerRunsEveryJobRetriesFailuresAndHonoursCancellation() async throws {
        try await withTestDatabase { database in
            let pool = database.pool
            let done = TestCounter()
            let failuresLeft = TestCounter(2)
            let worker = JobWorker(
                pool: pool,
                handlers: [
                    "count": { _ in
                        done.increment()
                        return nil
                    },
                    "flaky": { _ in
                        if failuresLeft.value > 0 {
                            failuresLeft.decrement()
                            throw StrataError(.internalError, "transient")
                        }
                        return #"{"ok":true}"#
                    },
                    "endless": { context in
                        while !context.isCancellationRequested { try await Task.sleep(for: .milliseconds(10)) }
                        throw JobCancelled()
                    },
                ],
                configuration: .init(
                    concurrency: 4,
                    heartbeatInterval: .milliseconds(50),
                    pollInterval: .milliseconds(100),
                    baseDelay: .milliseconds(10),
                    maximumDelay: .milliseconds(50)
                ),
                logger: TestPostgres.logger
            )
            let running = Task { try await worker.run() }
            try await pool.withTransaction { connection in
                for _ in 0..<40 { try await JobQueue().enqueue(NewJob(kind: "count"), on: connection, logger: pool.statementLogger) }
            }
            let flaky = try await pool.withTransaction {
                try await JobQueue().enqueue(NewJob(kind: "flaky", maxAttempts: 5), on: $0, logger: pool.statementLogger)
            }
            let endless = try await pool.withTransaction {
                try await JobQueue().enqueue(NewJob(kind: "endless"), on: $0, logger: pool.statementLogger)
            }
            func state(_ id: Int64) async throws -> String? {
                try await pool.query("SELECT state FROM strata.jobs WHERE id = \(id)").first?.decode(String.self)
            }
            #expect(try await eventually { try await state(endless) == "running" })
            _ = try await pool.withConnection { try await JobQueue().cancel(id: endless, on: $0, logger: pool.statementLogger) }
            let allFinished = try await eventually {
                try await pool.query("SELECT count(*) FROM strata.jobs WHERE finalized_at IS NOT NULL").first?.decode(Int64.self) == 42
            }
            running.cancel()
            #expect(allFinished)
            #expect(done.value == 40)
            #expect(try await state(flaky) == "completed")
            #expect(try await state(endless) == "cancelled")
            let attempts = try await pool.query("SELECT attempt FROM strata.jobs WHERE id = \(flaky)").first?.decode(Int32.self)
            #expect(attempts == 3, "two failures, then success")
        }
    }

    /// A worker that has found jobs keeps polling at a short interval for a while: a job that
    /// no notification announces (here one that becomes due later; likewise an enqueue the
    /// wake-up throttle left silent) is claimed within that interval, not at the next regular
    /// poll.
    @Test(.timeLimit(.minutes(1)))
    func aWorkerThatFoundJobsClaimsTheNextOnesWithoutANotification() async throws {
        try await withTestDatabase { database in
            let pool = database.pool
            let queue = "busy-\(UInt32.random(in: 0...UInt32.max))"
            let release = Latch()
            let quickRan = Latch()
            try await pool.withTransaction { connection in
                _ = try await JobQueue().enqueue(NewJob(queue: queue, kind: "hold"), on: connection, logger: pool.statementLogger)
            }
            let dueAt = Date().addingTimeInterval(0.5)
            try await pool.withTransaction { connection in
                _ = try await JobQueue().enqueue(NewJob(queue: queue, kind: "quick", runAt: dueAt), on: connection, logger: pool.statementLogger)
            }
            let worker = JobWorker(
                pool: pool,
                handlers: [
                    "hold": { _ in
                        while !release.isSet { try await Task.sleep(for: .milliseconds(10)) }
                        return nil
                    },
                    "quick": { _ in
                        quickRan.set()
                        return nil
                    },
                ],
                // The regular poll is far away, and the hold job keeps its slot (no slot frees to
                // ring the worker): only the active polling can claim the quick job in time.
                configuration: .init(queues: [queue], concurrency: 2, pollInterval: .seconds(30)),
                logger: TestPostgres.logger
            )
            let running = Task { try await worker.run() }
            let claimedSoon = try await eventually(within: .seconds(3)) { quickRan.isSet }
            release.set()
            running.cancel()
            #expect(claimedSoon, "the job due 0.5 s after the worker found work was claimed within 3 s")
        }
    }

    @Test func retryDelaysGrowExponentiallyWithJitterAndACap() throws {
        let worker = JobWorker(
            pool: PostgresPool(url: try DatabaseURL(parsing: "postgres://x@127.0.0.1:1/x"), logger: TestPostgres.logger),
            handlers: [:],
            configuration: .init(baseDelay: .seconds(1), maximumDelay: .seconds(60)),
            logger: TestPostgres.logger
        )
        for (attempt, expected) in [(1, 1.0), (2, 2.0), (3, 4.0), (10, 60.0)] {
            let delay = worker.retryDelay(afterAttempt: attempt).secondsDouble
            #expect(delay >= expected * 0.75 && delay <= expected * 1.25)
        }
    }
}

@Suite struct PlatformJobsTests {
    @Test(.timeLimit(.minutes(1)))
    func expirySweepsRemoveOnlyWhatExpired() async throws {
        try await withTestDatabase { database in
            let pool = database.pool
            try await pool.query(
                """
                INSERT INTO strata.revoked_tokens (token_id, expires_at) VALUES ('old', now() - interval '1 hour'), ('live', now() + interval '1 hour')
                """
            )
            try await pool.query(
                """
                INSERT INTO strata.idempotency_keys (principal, route, key, fingerprint, status, headers, body, expires_at)
                VALUES ('p', 'POST /x', 'old', decode(repeat('00', 32), 'hex'), 201, '{}', '', now() - interval '1 minute'),
                       ('p', 'POST /x', 'live', decode(repeat('00', 32), 'hex'), 201, '{}', '', now() + interval '1 hour')
                """
            )
            let handlers = PlatformJobs.handlers(pool: pool, logger: TestPostgres.logger)
            #expect(PlatformJobs.schedules().count == 2 && handlers.count == 2)
            // Run them the way the worker does: through the queue.
            try await pool.withTransaction { connection in
                for schedule in PlatformJobs.schedules() { try await schedule.fireIfDue(on: connection, logger: pool.statementLogger) }
            }
            let worker = JobWorker(
                pool: pool,
                handlers: handlers,
                configuration: .init(queues: ["strata"], pollInterval: .milliseconds(50)),
                logger: TestPostgres.logger
            )
            let running = Task { try await worker.run() }
            let bothDone = try await eventually {
                try await pool.query("SELECT count(*) FROM strata.jobs WHERE state = 'completed'").first?.decode(Int64.self) == 2
            }
            running.cancel()
            #expect(bothDone)
            #expect(try await pool.query("SELECT token_id FROM strata.revoked_tokens").map { try $0.decode(String.self) } == ["live"])
            #expect(try await pool.query("SELECT key FROM strata.idempotency_keys").map { try $0.decode(String.self) } == ["live"])
        }
    }
}
