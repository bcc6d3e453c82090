import Foundation
import PostgresNIO

// The statements a worker runs for every job, prepared once per connection: parsing and planning
// them anew cost more than running them.

/// Leases up to `limit` available jobs of a queue, most urgent first.
struct ClaimJobs: PostgresPreparedStatement {
    static let name = "strata.ClaimJobs"
    static let sql = """
        WITH next AS (
            SELECT id FROM strata.jobs
            WHERE queue = $1 AND state = 'available' AND run_at <= now()
            ORDER BY priority, run_at, id
            LIMIT $2
            FOR UPDATE SKIP LOCKED
        )
        UPDATE strata.jobs AS j
        SET state = 'running', attempt = j.attempt + 1, lease_token = gen_random_uuid(),
            lease_expires_at = now() + $4 * interval '1 millisecond',
            attempted_at = now(), attempted_by = $3
        FROM next WHERE j.id = next.id
        RETURNING j.id, j.queue, j.kind, j.args::text, j.priority, j.attempt, j.max_attempts, j.lease_token
        """
    typealias Row = ClaimedJob

    var queue: String
    var limit: Int
    var worker: String
    var leaseMilliseconds: Int64

    func makeBindings() throws -> PostgresBindings {
        var bindings = PostgresBindings(capacity: 4)
        bindings.append(queue)
        bindings.append(Int64(limit))
        bindings.append(worker)
        bindings.append(leaseMilliseconds)
        return bindings
    }

    func decodeRow(_ row: PostgresRow) throws -> ClaimedJob {
        let (id, queue, kind, args, priority, attempt, maxAttempts, token) = try row.decode(
            (Int64, String, String, String, Int16, Int32, Int32, UUID).self
        )
        return ClaimedJob(
            id: id,
            queue: queue,
            kind: kind,
            argsJSON: args,
            priority: Int(priority),
            attempt: Int(attempt),
            maxAttempts: Int(maxAttempts),
            leaseToken: token
        )
    }
}

/// Completes jobs, each under its lease token; returns the ids completed.
struct CompleteJobs: PostgresPreparedStatement {
    static let name = "strata.CompleteJobs"
    static let sql = """
        UPDATE strata.jobs AS j
        SET state = 'completed', finalized_at = now(), lease_token = NULL, lease_expires_at = NULL,
            result = nullif(done.result, '')::jsonb
        FROM unnest($1::bigint[], $2::uuid[], $3::text[]) AS done(id, token, result)
        WHERE j.id = done.id AND j.state = 'running' AND j.lease_token = done.token
        RETURNING j.id
        """
    typealias Row = Int64

    var ids: [Int64]
    var tokens: [UUID]
    /// "" for no result (arrays bind no NULL elements; "" is never valid JSON).
    var results: [String]

    func makeBindings() throws -> PostgresBindings {
        var bindings = PostgresBindings(capacity: 3)
        bindings.append(ids)
        bindings.append(tokens)
        bindings.append(results)
        return bindings
    }

    func decodeRow(_ row: PostgresRow) throws -> Int64 {
        try row.decode(Int64.self)
    }
}

/// Enqueues a batch of jobs in one statement, whatever their number, and wakes the workers of
/// their queues (each queue once, and not when this process woke it within
/// ``WakeThrottle/window``); embeddable, so that a change's record enqueues its jobs in its own
/// round trip. Arrays bind no NULL elements: an absent `run_at` travels as `distantPast`, an absent
/// unique key as "" (a key is 1 to 500 characters, so neither is a real value).
struct EnqueueJobs: EmbeddableStatement {
    static let name = "strata.EnqueueJobs"
    static let sql = statement(parametersFrom: 1)
    static let bindingDataTypes: [PostgresDataType] = [
        .textArray, .textArray, .textArray, .int2Array, .timestamptzArray, .int4Array, .textArray, .textArray,
    ]
    typealias Row = (Int64, String, String, String?)

    var jobs: [NewJob]
    /// The queues whose workers this enqueue wakes.
    var wake: [String]

    init(jobs: [NewJob]) {
        self.jobs = jobs
        let now = Date()
        self.wake = Set(jobs.filter { $0.isDue(at: now) }.map(\.queue)).filter { WakeThrottle.jobs.claim($0) }.sorted()
    }

    static func statement(parameters p: [String]) -> String {
        """
        WITH input AS (
            SELECT * FROM unnest(\(p[0])::text[], \(p[1])::text[], \(p[2])::text[], \(p[3])::smallint[], \(p[4])::timestamptz[],
                                 \(p[5])::integer[], \(p[6])::text[])
                     WITH ORDINALITY AS i(queue, kind, args, priority, run_at, max_attempts, unique_key, n)
        ),
        wake AS (SELECT count(pg_notify('\(JobQueue.channel)', queue)) FROM unnest(\(p[7])::text[]) AS queue)
        INSERT INTO strata.jobs (queue, kind, args, priority, run_at, max_attempts, unique_key)
        SELECT i.queue, i.kind, i.args::jsonb, i.priority,
               CASE WHEN i.run_at < '1000-01-01' THEN now() ELSE i.run_at END, i.max_attempts, nullif(i.unique_key, '')
        FROM input AS i, wake
        ORDER BY i.n
        ON CONFLICT (queue, kind, unique_key) WHERE unique_key IS NOT NULL AND state IN ('available', 'running') DO NOTHING
        RETURNING id, queue, kind, unique_key
        """
    }

    func appendBindings(to bindings: inout PostgresBindings) {
        bindings.append(jobs.map(\.queue))
        bindings.append(jobs.map(\.kind))
        bindings.append(jobs.map(\.argsJSON))
        bindings.append(jobs.map { Int16($0.priority) })
        bindings.append(jobs.map { $0.runAt ?? .distantPast })
        bindings.append(jobs.map { Int32($0.maxAttempts) })
        bindings.append(jobs.map { $0.uniqueKey ?? "" })
        bindings.append(wake)
    }

    func decodeRow(_ row: PostgresRow) throws -> (Int64, String, String, String?) {
        try row.decode((Int64, String, String, String?).self)
    }
}

/// Enqueues one job and wakes its queue's workers (unless this process woke them within
/// ``WakeThrottle/window``); returns its id, or no row when a unique job with its key is already
/// live.
struct EnqueueJob: PostgresPreparedStatement {
    static let name = "strata.EnqueueJob"
    static let sql = """
        WITH wake AS (SELECT CASE WHEN $8::boolean THEN pg_notify('\(JobQueue.channel)', $1) END)
        INSERT INTO strata.jobs (queue, kind, args, priority, run_at, max_attempts, unique_key)
        SELECT $1, $2, $3::jsonb, $4, coalesce($5::timestamptz, now()), $6, $7::text
        FROM wake
        ON CONFLICT (queue, kind, unique_key) WHERE unique_key IS NOT NULL AND state IN ('available', 'running') DO NOTHING
        RETURNING id
        """
    typealias Row = Int64

    var job: NewJob
    /// Whether this enqueue wakes the queue's workers.
    var wake: Bool

    init(job: NewJob) {
        self.job = job
        self.wake = job.isDue(at: Date()) && WakeThrottle.jobs.claim(job.queue)
    }

    func makeBindings() throws -> PostgresBindings {
        var bindings = PostgresBindings(capacity: 8)
        bindings.append(job.queue)
        bindings.append(job.kind)
        bindings.append(job.argsJSON)
        bindings.append(Int16(job.priority))
        if let runAt = job.runAt { bindings.append(runAt) } else { bindings.appendNull() }
        bindings.append(Int32(job.maxAttempts))
        if let key = job.uniqueKey { bindings.append(key) } else { bindings.appendNull() }
        bindings.append(wake)
        return bindings
    }

    func decodeRow(_ row: PostgresRow) throws -> Int64 {
        try row.decode(Int64.self)
    }
}

extension NewJob {
    /// Whether the job can be claimed at `date`: only such a job wakes its queue's workers (one
    /// due later would spend the queue's wake-up, ``WakeThrottle``, on nothing a worker can take).
    func isDue(at date: Date) -> Bool { runAt.map { $0 <= date } ?? true }
}
