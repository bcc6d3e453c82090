public import Foundation
public import Logging
public import PostgresNIO
import StrataCore

/// The platform queue's SQL: enqueue in the caller's transaction, claim with `SKIP LOCKED`,
/// and lease-guarded transitions (`WHERE id = $1 AND state = 'running' AND lease_token = $2`).
public struct JobQueue: Sendable {
    /// The LISTEN/NOTIFY channel enqueues notify (payload: the queue).
    public static let channel = "strata_jobs"

    public init() {}

    /// Enqueues a job on the caller's connection (inside its transaction: the job exists if and
    /// only if the transaction commits).
    /// - Returns: The job's id — or, for a unique job that is already live, that job's id.
    /// - Throws: `invalid_value` naming the field.
    @discardableResult
    public func enqueue(_ job: NewJob, on connection: PostgresConnection, logger: Logger) async throws -> Int64 {
        try Self.validate(job)
        // One row binds plain values, prepared once per connection: cheaper than the batch's arrays.
        if let id = try await connection.rows(EnqueueJob(job: job), logger: logger).first { return id }
        guard let key = job.uniqueKey else { throw StrataError(.internalError, "The job's insert returned no id.") }
        return try await liveJobID(job, key: key, on: connection, logger: logger)
    }

    /// Enqueues jobs in one statement on the caller's connection (all of them exist if and only
    /// if its transaction commits), and wakes the workers of their queues once.
    /// - Returns: Each job's id, in order — for a unique job that is already live (or repeated
    ///   in `jobs`), the live job's id.
    /// - Throws: `invalid_value` naming the field of the first invalid job; nothing is enqueued.
    @discardableResult
    public func enqueue(_ jobs: [NewJob], on connection: PostgresConnection, logger: Logger) async throws -> [Int64] {
        guard !jobs.isEmpty else { return [] }
        for job in jobs { try Self.validate(job) }
        let rows = try await connection.rows(EnqueueJobs(jobs: jobs), logger: logger)
        // Identities are drawn in insertion order (ORDER BY n): the plain jobs' ids, ascending,
        // are theirs in order; a unique job is found by its key.
        var plainIDs: [Int64] = []
        var keyedIDs: [String: Int64] = [:]
        for (id, queue, kind, key) in rows {
            if let key { keyedIDs[Self.uniqueIdentity(queue, kind, key)] = id } else { plainIDs.append(id) }
        }
        plainIDs.sort()
        var ids: [Int64] = []
        ids.reserveCapacity(jobs.count)
        var nextPlain = 0
        for job in jobs {
            guard let key = job.uniqueKey else {
                ids.append(plainIDs[nextPlain])
                nextPlain += 1
                continue
            }
            if let id = keyedIDs[Self.uniqueIdentity(job.queue, job.kind, key)] {
                ids.append(id)  // inserted now (a repeat in this batch gets the same id)
            } else {
                ids.append(try await liveJobID(job, key: key, on: connection, logger: logger))
            }
        }
        return ids
    }

    private static func uniqueIdentity(_ queue: String, _ kind: String, _ key: String) -> String {
        "\(queue)\u{0}\(kind)\u{0}\(key)"
    }

    /// The live job a unique job's enqueue conflicted with.
    private func liveJobID(_ job: NewJob, key: String, on connection: PostgresConnection, logger: Logger) async throws -> Int64 {
        let existing = try await connection.run(
            """
            SELECT id FROM strata.jobs
            WHERE queue = \(job.queue) AND kind = \(job.kind) AND unique_key = \(key) AND state IN ('available', 'running')
            """,
            logger: logger
        ).collect()
        guard let id = try existing.first?.decode(Int64.self) else {
            throw StrataError(.concurrentUpdate, "A unique job changed state while enqueuing; retry.")
        }
        return id
    }

    static func validate(_ job: NewJob) throws {
        func fail(_ field: String, _ rule: String) -> StrataError {
            StrataError(.invalidValue, "The job's \(field) \(rule).", details: ["field": field])
        }
        let queueOK =
            job.queue.utf8.count <= 63 && job.queue.utf8.first.map { $0 >= 0x61 && $0 <= 0x7A } == true
            && job.queue.utf8.allSatisfy { ($0 >= 0x61 && $0 <= 0x7A) || ($0 >= 0x30 && $0 <= 0x39) || $0 == 0x5F || $0 == 0x2E || $0 == 0x2D }
        guard queueOK else { throw fail("queue", "must be a lowercase name ([a-z][a-z0-9_.-]*)") }
        guard (1...200).contains(job.kind.count) else { throw fail("kind", "must be 1 to 200 characters") }
        guard (0...3).contains(job.priority) else { throw fail("priority", "must be 0 (critical) to 3 (low)") }
        guard (1...1000).contains(job.maxAttempts) else { throw fail("max_attempts", "must be 1 to 1000") }
        if let key = job.uniqueKey, !(1...500).contains(key.count) { throw fail("unique_key", "must be 1 to 500 characters") }
    }

    /// Claims up to `limit` available jobs of a queue, most urgent first, leasing each.
    public func claim(
        queue: String,
        limit: Int,
        worker: String,
        lease: Duration,
        on connection: PostgresConnection,
        logger: Logger
    )
        async throws -> [ClaimedJob]
    {
        let statement = ClaimJobs(queue: queue, limit: limit, worker: worker, leaseMilliseconds: lease.milliseconds)
        let jobs = try await connection.rows(statement, logger: logger)
        return jobs.sorted { ($0.priority, $0.id) < ($1.priority, $1.id) }
    }

    /// Extends a lease.
    /// - Returns: `nil` when the lease is lost (rescued, cancelled-and-finalized …); else whether
    ///   cancellation was requested (the handler should stop).
    public func heartbeat(_ job: ClaimedJob, lease: Duration, on connection: PostgresConnection, logger: Logger) async throws -> Bool? {
        try await heartbeat([job], lease: lease, on: connection, logger: logger)[job.id]
    }

    /// Extends the leases of several jobs in one statement.
    /// - Returns: For each job whose lease is still held, whether cancellation was requested; a
    ///   job missing from the answer lost its lease.
    public func heartbeat(_ jobs: [ClaimedJob], lease: Duration, on connection: PostgresConnection, logger: Logger) async throws -> [Int64: Bool] {
        guard !jobs.isEmpty else { return [:] }
        let rows = try await connection.run(
            """
            UPDATE strata.jobs AS j SET lease_expires_at = now() + \(lease.milliseconds) * interval '1 millisecond'
            FROM unnest(\(jobs.map(\.id))::bigint[], \(jobs.map(\.leaseToken))::uuid[]) AS held(id, token)
            WHERE j.id = held.id AND j.state = 'running' AND j.lease_token = held.token
            RETURNING j.id, j.cancel_requested_at IS NOT NULL
            """,
            logger: logger
        )
        var held: [Int64: Bool] = [:]
        for try await (id, cancelRequested) in rows.decode((Int64, Bool).self) { held[id] = cancelRequested }
        return held
    }

    /// Completes a job. - Returns: `false` when the lease was lost (another worker owns it now).
    @discardableResult
    public func complete(_ job: ClaimedJob, resultJSON: String? = nil, on connection: PostgresConnection, logger: Logger) async throws -> Bool {
        try await complete([(job, resultJSON)], on: connection, logger: logger).contains(job.id)
    }

    /// Completes several jobs in one statement, each under its lease token.
    /// - Returns: The ids completed; a job missing from it had lost its lease.
    public func complete(
        _ jobs: [(job: ClaimedJob, resultJSON: String?)],
        on connection: PostgresConnection,
        logger: Logger
    ) async throws -> Set<Int64> {
        guard !jobs.isEmpty else { return [] }
        let statement = CompleteJobs(ids: jobs.map(\.job.id), tokens: jobs.map(\.job.leaseToken), results: jobs.map { $0.resultJSON ?? "" })
        return Set(try await connection.rows(statement, logger: logger))
    }

    /// Records a failed attempt: the job is retried at `retryAt`, or discarded when it has used
    /// every attempt or the failure is `final`. - Returns: the new state, or `nil` when the lease
    /// was lost.
    @discardableResult
    public func fail(
        _ job: ClaimedJob,
        error: String,
        retryAt: Date,
        final: Bool = false,
        on connection: PostgresConnection,
        logger: Logger
    ) async throws -> JobState? {
        let entry = #"{"attempt":\#(job.attempt),"error":\#(JSONText.quoted(String(error.prefix(2000)))),"at":"\#(Date().formatted(.iso8601))"}"#
        let rows = try await connection.run(
            """
            UPDATE strata.jobs
            SET state = CASE WHEN attempt >= max_attempts OR \(final) OR cancel_requested_at IS NOT NULL
                             THEN (CASE WHEN cancel_requested_at IS NOT NULL THEN 'cancelled' ELSE 'discarded' END)
                             ELSE 'available' END,
                finalized_at = CASE WHEN attempt >= max_attempts OR \(final) OR cancel_requested_at IS NOT NULL THEN now() END,
                run_at = \(retryAt), lease_token = NULL, lease_expires_at = NULL,
                errors = errors || jsonb_build_array(\(entry)::jsonb)
            WHERE id = \(job.id) AND state = 'running' AND lease_token = \(job.leaseToken)
            RETURNING state
            """,
            logger: logger
        ).collect()
        return try rows.first.map { JobState(rawValue: try $0.decode(String.self)) ?? .available }
    }

    /// Marks a running job cancelled at its worker's request (it stopped cooperatively).
    @discardableResult
    public func finishCancelled(_ job: ClaimedJob, on connection: PostgresConnection, logger: Logger) async throws -> Bool {
        try await !connection.run(
            """
            UPDATE strata.jobs SET state = 'cancelled', finalized_at = now(), lease_token = NULL, lease_expires_at = NULL
            WHERE id = \(job.id) AND state = 'running' AND lease_token = \(job.leaseToken)
            RETURNING 1
            """,
            logger: logger
        ).collect().isEmpty
    }

    /// Gives leased jobs that never started back to the queue, as if never claimed (their
    /// attempt is not counted).
    @discardableResult
    public func release(_ jobs: [ClaimedJob], on connection: PostgresConnection, logger: Logger) async throws -> Int {
        guard !jobs.isEmpty else { return 0 }
        let rows = try await connection.run(
            """
            UPDATE strata.jobs AS j
            SET state = 'available', attempt = j.attempt - 1, lease_token = NULL, lease_expires_at = NULL,
                attempted_at = NULL, attempted_by = NULL
            FROM unnest(\(jobs.map(\.id))::bigint[], \(jobs.map(\.leaseToken))::uuid[]) AS held(id, token)
            WHERE j.id = held.id AND j.state = 'running' AND j.lease_token = held.token
            RETURNING j.id
            """,
            logger: logger
        ).collect()
        return rows.count
    }

    /// Cancels a job: an available one at once; a running one cooperatively (its worker sees it
    /// at the next heartbeat).
    /// - Returns: The job's state afterwards, or `nil` when there is no such job.
    public func cancel(id: Int64, on connection: PostgresConnection, logger: Logger) async throws -> JobState? {
        let rows = try await connection.run(
            """
            UPDATE strata.jobs
            SET state = CASE WHEN state = 'available' THEN 'cancelled' ELSE state END,
                finalized_at = CASE WHEN state = 'available' THEN now() ELSE finalized_at END,
                cancel_requested_at = CASE WHEN state IN ('available', 'running') THEN coalesce(cancel_requested_at, now()) ELSE cancel_requested_at END
            WHERE id = \(id)
            RETURNING state
            """,
            logger: logger
        ).collect()
        return try rows.first.map { JobState(rawValue: try $0.decode(String.self)) ?? .available }
    }

    /// Returns jobs whose lease expired (their worker died or hung) to the queue, or discards
    /// them when they used every attempt.
    /// - Parameter queues: The queues to look at (default: all).
    /// - Returns: The rescued jobs with their new state.
    @discardableResult
    public func rescueExpired(queues: [String]? = nil, on connection: PostgresConnection, logger: Logger) async throws -> [RescuedJob] {
        let rows = try await connection.run(
            """
            WITH expired AS (
                SELECT id FROM strata.jobs
                WHERE state = 'running' AND lease_expires_at < now() AND (\(queues)::text[] IS NULL OR queue = ANY(\(queues)::text[]))
                FOR UPDATE SKIP LOCKED
            )
            UPDATE strata.jobs AS j
            SET state = CASE WHEN j.attempt >= j.max_attempts THEN 'discarded' ELSE 'available' END,
                finalized_at = CASE WHEN j.attempt >= j.max_attempts THEN now() END,
                lease_token = NULL, lease_expires_at = NULL, run_at = now(),
                errors = j.errors || jsonb_build_array(jsonb_build_object('attempt', j.attempt, 'error', 'lease expired', 'at', now()))
            FROM expired WHERE j.id = expired.id
            RETURNING j.id, j.queue, j.kind, j.args::text, j.state
            """,
            logger: logger
        )
        var rescued: [RescuedJob] = []
        for try await (id, queue, kind, args, state) in rows.decode((Int64, String, String, String, String).self) {
            rescued.append(RescuedJob(id: id, queue: queue, kind: kind, argsJSON: args, state: JobState(rawValue: state) ?? .available))
        }
        return rescued
    }

    /// Job counts by queue and state (the queue's depth).
    public func depth(on connection: PostgresConnection, logger: Logger) async throws -> [(queue: String, state: JobState, count: Int)] {
        let rows = try await connection.run("SELECT queue, state, count(*) FROM strata.jobs GROUP BY queue, state", logger: logger)
        var result: [(String, JobState, Int)] = []
        for try await (queue, state, count) in rows.decode((String, String, Int64).self) {
            if let state = JobState(rawValue: state) { result.append((queue, state, Int(count))) }
        }
        return result
    }
}
