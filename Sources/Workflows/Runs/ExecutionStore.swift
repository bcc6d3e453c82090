import Foundation
import Logging
import PostgresNIO
import StrataCore
import StrataPostgres

/// The SQL of executions, their data, logs and statistics. Every status change is a guarded
/// UPDATE (the states that may move to the target and, for a worker's report, the lease of the
/// job that runs the execution), so a refused transition or a lost lease changes nothing.
struct ExecutionStore: Sendable {
    let pool: PostgresPool

    /// An execution's columns, usable in `SELECT` and `RETURNING`, each named as
    /// ``execution(from:)`` reads it.
    static let columns = """
        id, workflow_id, version_id, status, mode, triggered_by, dedup_key, retry_of, retry_success_id, worker_id,
        cancel_requested_at IS NOT NULL AS cancel_requested, error_message, started_at, finished_at, wait_till, pinned,
        held, created_at, updated_at, version
        """

    /// ``columns`` of the table aliased `e`, for statements that join (built once).
    static let aliasedColumns = columns.replacingOccurrences(of: "\n", with: " ").split(separator: ",")
        .map { "e.\($0.trimmingCharacters(in: .whitespaces))" }
        .joined(separator: ", ")

    static func execution(from row: PostgresRow) throws -> Execution {
        let columns = row.makeRandomAccess()
        guard let status = ExecutionStatus(code: try columns["status"].decode(Int32.self)),
            let mode = ExecutionMode(code: try columns["mode"].decode(Int32.self))
        else { throw StrataError(.internalError, "An execution row holds an unknown status or mode.") }
        return Execution(
            id: try columns["id"].decode(UUID.self),
            workflowID: try columns["workflow_id"].decode(UUID.self),
            versionID: try columns["version_id"].decode(UUID.self),
            status: status,
            mode: mode,
            triggeredBy: try columns["triggered_by"].decode(String?.self),
            dedupKey: try columns["dedup_key"].decode(String?.self),
            retryOf: try columns["retry_of"].decode(UUID?.self),
            retrySuccessID: try columns["retry_success_id"].decode(UUID?.self),
            workerID: try columns["worker_id"].decode(String?.self),
            cancelRequested: try columns["cancel_requested"].decode(Bool.self),
            errorMessage: try columns["error_message"].decode(String?.self),
            startedAt: try columns["started_at"].decode(Date?.self),
            finishedAt: try columns["finished_at"].decode(Date?.self),
            waitTill: try columns["wait_till"].decode(Date?.self),
            pinned: try columns["pinned"].decode(Bool.self),
            held: try columns["held"].decode(Bool.self),
            createdAt: try columns["created_at"].decode(Date.self),
            updatedAt: try columns["updated_at"].decode(Date.self),
            version: try columns["version"].decode(Int64.self)
        )
    }

    /// What a start inserts.
    struct NewExecution: Sendable {
        var id: UUID
        var workflowID: UUID
        var versionID: UUID
        var mode: ExecutionMode
        var triggeredBy: String?
        var dedupKey: String?
        var retryOf: UUID?
        var inputJSON: String
        /// The workflow's concurrency limit: the execution is held when as many run or wait for
        /// a worker (the caller holds ``lockConcurrency(of:on:logger:)``).
        var maxConcurrency: Int?
    }

    /// Inserts a New execution with its data (the input, and the graph of its version) — or,
    /// when an unfinished execution of the workflow holds the same dedup key, nothing.
    /// - Returns: The new execution, or `nil` when the dedup key is taken.
    func insert(_ new: NewExecution, on connection: PostgresConnection, logger: Logger) async throws -> Execution? {
        try await connection.rows(Insert(new: new), logger: logger).first.map(Self.execution(from:))
    }

    /// ``insert(_:on:logger:)``'s statement, prepared (it runs with every start).
    struct Insert: PostgresPreparedStatement {
        static let name = "workflows.InsertExecution"
        static let sql = """
            WITH inserted AS (
                INSERT INTO workflows.execution_entity (id, workflow_id, version_id, mode, triggered_by, dedup_key, retry_of, held)
                VALUES ($1, $2, $3, $4, $5, $6, $7,
                        CASE WHEN $8::integer IS NULL THEN false
                             ELSE (SELECT count(*) FROM workflows.execution_entity
                                   WHERE workflow_id = $2 AND (status = 10 OR (status = 1 AND NOT held))) >= $8 END)
                ON CONFLICT (workflow_id, dedup_key) WHERE dedup_key IS NOT NULL AND status IN (1, 10, 11) DO NOTHING
                RETURNING \(columns)
            ),
            data AS (
                INSERT INTO workflows.execution_data (execution_id, input, workflow_data)
                SELECT i.id, $9::jsonb, jsonb_build_object('nodes', h.nodes, 'connections', h.connections)
                FROM inserted AS i JOIN workflows.workflow_history AS h ON h.version_id = i.version_id
            )
            SELECT * FROM inserted
            """
        static let bindingDataTypes: [PostgresDataType] = [.uuid, .uuid, .uuid, .int4, .text, .text, .uuid, .int4, .text]
        typealias Row = PostgresRow

        var new: NewExecution

        func makeBindings() throws -> PostgresBindings {
            var bindings = PostgresBindings(capacity: Self.bindingDataTypes.count)
            bindings.append(new.id)
            bindings.append(new.workflowID)
            bindings.append(new.versionID)
            bindings.append(new.mode.code)
            bindings.append(new.triggeredBy)
            bindings.append(new.dedupKey)
            bindings.append(new.retryOf)
            bindings.append(new.maxConcurrency.map(Int32.init))
            bindings.append(new.inputJSON)
            return bindings
        }
    }

    /// Serializes the executions of a workflow that has a concurrency limit, to the end of the
    /// transaction: a start counts and an end releases under it.
    func lockConcurrency(of workflow: UUID, on connection: PostgresConnection, logger: Logger) async throws {
        try await connection.run(
            "SELECT pg_advisory_xact_lock(hashtext('workflows.concurrency'), hashtext(\(workflow.uuidString.lowercased())))",
            logger: logger
        )
    }

    /// Releases held executions of a workflow into the free slots of its limit (under
    /// ``lockConcurrency(of:on:logger:)``), oldest first.
    /// - Returns: The released executions' ids (they need their jobs).
    func releaseHeld(of workflow: UUID, limit: Int, on connection: PostgresConnection, logger: Logger) async throws -> [UUID] {
        try await connection.run(
            """
            WITH picked AS (
                SELECT id FROM workflows.execution_entity
                WHERE workflow_id = \(workflow) AND held
                ORDER BY created_at, id
                LIMIT greatest(\(Int32(limit)) - (SELECT count(*) FROM workflows.execution_entity
                                                  WHERE workflow_id = \(workflow) AND (status = 10 OR (status = 1 AND NOT held))), 0)
                FOR UPDATE SKIP LOCKED
            )
            UPDATE workflows.execution_entity AS e SET held = false FROM picked WHERE e.id = picked.id
            RETURNING e.id
            """,
            logger: logger
        ).collect().map { try $0.decode(UUID.self) }
    }

    /// The unfinished execution of a workflow holding `dedupKey`, or `nil`.
    func unfinished(workflow: UUID, dedupKey: String, on connection: PostgresConnection, logger: Logger) async throws -> Execution? {
        let rows = try await connection.run(
            """
            SELECT \(unescaped: Self.columns) FROM workflows.execution_entity
            WHERE workflow_id = \(workflow) AND dedup_key = \(dedupKey) AND status IN (1, 10, 11)
            """,
            logger: logger
        ).collect()
        return try rows.first.map(Self.execution(from:))
    }

    /// The execution, or `nil`.
    func find(_ id: UUID) async throws -> Execution? {
        try await pool.query("SELECT \(unescaped: Self.columns) FROM workflows.execution_entity WHERE id = \(id) AND logical_deletion IS NULL")
            .first.map(Self.execution(from:))
    }

    /// The execution's data, or `nil`.
    func data(_ id: UUID) async throws -> ExecutionData? {
        let rows = try await pool.query(
            """
            SELECT d.execution_id, d.input::text AS input, d.workflow_data::text AS workflow_data, d.data
            FROM workflows.execution_data AS d JOIN workflows.execution_entity AS e ON e.id = d.execution_id
            WHERE d.execution_id = \(id) AND e.logical_deletion IS NULL
            """
        )
        return try rows.first.map { row in
            let columns = row.makeRandomAccess()
            return ExecutionData(
                executionID: try columns["execution_id"].decode(UUID.self),
                input: RawJSON(try columns["input"].decode(String.self)),
                workflowData: RawJSON(try columns["workflow_data"].decode(String.self)),
                result: try columns["data"].decode(String?.self).map(RawJSON.init)
            )
        }
    }

    /// The execution's metadata (key → value), or `nil` when there is no such execution.
    func metadata(_ id: UUID) async throws -> [String: String]? {
        let rows = try await pool.query(
            """
            SELECT m.key, m.value FROM workflows.execution_entity AS e
            LEFT JOIN workflows.execution_metadata AS m ON m.execution_id = e.id
            WHERE e.id = \(id) AND e.logical_deletion IS NULL
            """
        )
        guard !rows.isEmpty else { return nil }
        var metadata: [String: String] = [:]
        for row in rows {
            let (key, value) = try row.decode((String?, String?).self)
            if let key, let value { metadata[key] = value }
        }
        return metadata
    }

    /// Which executions a list shows.
    struct Filter: Sendable {
        var workflowID: UUID?
        var status: ExecutionStatus?
        /// Executions with this metadata key (and, when set, this value).
        var metadataKey: String?
        var metadataValue: String?
    }

    /// Executions newest first, a page at a time.
    func list(_ filter: Filter, limit: Int, cursor: Cursor?) async throws -> Page<Execution> {
        let position = try NewestFirst<UUID>(after: cursor)
        let rows = try await pool.query(
            """
            SELECT \(unescaped: Self.columns), \(unescaped: NewestFirst<UUID>.positionColumn) FROM workflows.execution_entity
            WHERE logical_deletion IS NULL
              AND (\(filter.workflowID)::uuid IS NULL OR workflow_id = \(filter.workflowID))
              AND (\(filter.status?.code)::integer IS NULL OR status = \(filter.status?.code))
              AND (\(filter.metadataKey)::text IS NULL OR EXISTS (
                    SELECT 1 FROM workflows.execution_metadata AS m
                    WHERE m.execution_id = execution_entity.id AND m.key = \(filter.metadataKey)
                      AND (\(filter.metadataValue)::text IS NULL OR m.value = \(filter.metadataValue))))
              AND \(after: position)
            ORDER BY created_at DESC, id DESC
            LIMIT \(limit + 1)
            """
        )
        return try position.page(rows, limit: limit, item: Self.execution(from:), id: \.id)
    }

    /// New or Waiting → Running for the executions of claimed jobs, each under its job.
    /// - Returns: The executions that started, with their input and graph; a job whose
    ///   execution was cancelled meanwhile is missing.
    func start(
        _ claims: [(execution: UUID, job: Int64)],
        worker: String,
        on connection: PostgresConnection,
        logger: Logger
    ) async throws -> [(execution: Execution, input: RawJSON, workflowData: RawJSON)] {
        guard !claims.isEmpty else { return [] }
        let rows = try await connection.rows(Start(claims: claims, worker: worker), logger: logger)
        return try rows.map { row in
            let columns = row.makeRandomAccess()
            return (
                try Self.execution(from: row),
                RawJSON(try columns["input"].decode(String.self)),
                RawJSON(try columns["workflow_data"].decode(String.self))
            )
        }
    }

    /// ``start(_:worker:on:logger:)``'s statement, prepared (it runs with every claim).
    struct Start: PostgresPreparedStatement {
        static let name = "workflows.StartExecutions"
        static let sql = """
            WITH started AS (
                UPDATE workflows.execution_entity AS e
                SET status = 10, started_at = coalesce(e.started_at, now()), wait_till = NULL, job_id = c.job,
                    worker_id = $3, version = e.version + 1
                FROM unnest($1::uuid[], $2::bigint[]) AS c(id, job)
                WHERE e.id = c.id AND e.status = ANY($4::integer[]) AND e.cancel_requested_at IS NULL
                RETURNING \(aliasedColumns)
            )
            SELECT s.*, d.input::text AS input, d.workflow_data::text AS workflow_data
            FROM started AS s JOIN workflows.execution_data AS d ON d.execution_id = s.id
            """
        static let bindingDataTypes: [PostgresDataType] = [.uuidArray, .int8Array, .text, .int4Array]
        typealias Row = PostgresRow

        var claims: [(execution: UUID, job: Int64)]
        var worker: String

        func makeBindings() throws -> PostgresBindings {
            var bindings = PostgresBindings(capacity: Self.bindingDataTypes.count)
            bindings.append(claims.map(\.execution))
            bindings.append(claims.map(\.job))
            bindings.append(worker)
            bindings.append(ExecutionStatus.sourceCodes(of: .running))
            return bindings
        }
    }

    /// A worker's end of an execution it holds under `job`: Running → `target`, with the error
    /// message, the result (when the workflow's settings keep it: ``WorkflowSettings/keepsDataSQL``)
    /// and, in the same statement, the workflow's statistics, hourly rollup and insight points
    /// (for an end state), and the retried execution's `retry_success_id` (for a successful
    /// retry).
    /// - Returns: The execution and its workflow's concurrency limit, or `nil` when the lease is
    ///   lost or the transition refused.
    func finish(
        _ id: UUID,
        job: ClaimedJob,
        to target: ExecutionStatus,
        errorMessage: String?,
        waitTill: Date?,
        resultJSON: String?,
        metadata: [(key: String, value: String)],
        on connection: PostgresConnection,
        logger: Logger
    ) async throws -> (execution: Execution, maxConcurrency: Int?)? {
        let statement = Finish(
            id: id,
            job: job,
            target: target,
            errorMessage: errorMessage,
            waitTill: waitTill,
            resultJSON: resultJSON,
            metadata: metadata
        )
        return try await connection.rows(statement, logger: logger).first.map { row in
            (try Self.execution(from: row), try row.makeRandomAccess()["max_concurrency"].decode(Int32?.self).map(Int.init))
        }
    }

    /// ``finish(_:job:to:errorMessage:waitTill:resultJSON:on:logger:)``'s statement, prepared
    /// (its CTEs cost more to plan than to run).
    struct Finish: PostgresPreparedStatement {
        static let name = "workflows.FinishExecution"
        static let sql = """
            WITH ended AS (
                UPDATE workflows.execution_entity AS e
                SET status = $1, error_message = $2, finished_at = CASE WHEN $3 THEN now() END, wait_till = $4,
                    worker_id = CASE WHEN $3 THEN e.worker_id END, version = e.version + 1
                FROM strata.jobs AS j
                WHERE e.id = $5 AND j.id = $6 AND e.job_id = j.id AND j.lease_token = $7 AND j.state = 'running'
                  AND e.status = ANY($8::integer[])
                RETURNING \(aliasedColumns)
            ),
            rules AS (
                SELECT (w.settings->>'max_concurrency')::integer AS max_concurrency,
                       \(WorkflowSettings.keepsDataSQL(settings: "w.settings", mode: "ended.mode", status: "ended.status")) AS keep
                FROM ended JOIN workflows.workflow_entity AS w ON w.id = ended.workflow_id
            ),
            result AS (
                UPDATE workflows.execution_data SET data = $9::jsonb
                WHERE execution_id = (SELECT id FROM ended) AND $9::text IS NOT NULL AND (SELECT keep FROM rules)
            ),
            retried AS (
                UPDATE workflows.execution_entity SET retry_success_id = (SELECT id FROM ended)
                WHERE id = (SELECT retry_of FROM ended WHERE status = 100)
            ),
            metadata AS (
                INSERT INTO workflows.execution_metadata AS m (id, execution_id, key, value)
                SELECT n.id, ended.id, n.key, n.value FROM ended, unnest($10::uuid[], $11::text[], $12::text[]) AS n(id, key, value)
                ON CONFLICT (execution_id, key) DO UPDATE SET value = excluded.value
            ),
            \(statisticsCTEs(of: "ended"))
            SELECT ended.*, rules.max_concurrency FROM ended, rules
            """
        static let bindingDataTypes: [PostgresDataType] = [
            .int4, .text, .bool, .timestamptz, .uuid, .int8, .uuid, .int4Array, .text, .uuidArray, .textArray, .textArray,
        ]
        typealias Row = PostgresRow

        var id: UUID
        var job: ClaimedJob
        var target: ExecutionStatus
        var errorMessage: String?
        var waitTill: Date?
        var resultJSON: String?
        var metadata: [(key: String, value: String)]

        func makeBindings() throws -> PostgresBindings {
            var bindings = PostgresBindings(capacity: Self.bindingDataTypes.count)
            bindings.append(target.code)
            bindings.append(errorMessage)
            bindings.append(target.isTerminal)
            bindings.append(waitTill)
            bindings.append(id)
            bindings.append(job.id)
            bindings.append(job.leaseToken)
            bindings.append(ExecutionStatus.sourceCodes(of: target))
            bindings.append(resultJSON)
            bindings.append(metadata.map { _ in UUID.v7() })
            bindings.append(metadata.map(\.key))
            bindings.append(metadata.map(\.value))
            return bindings
        }
    }

    /// The CTEs that count ended executions (a CTE named `source` returning ``columns``) into
    /// `workflow_statistics`, `execution_rollup_hourly` and `insight_raw`; ends with a comma-free
    /// last CTE so a `SELECT` may follow.
    static func statisticsCTEs(of source: String) -> String {
        """
        counted AS (
            SELECT workflow_id, status, mode, retry_of IS NULL AS root, finished_at,
                   date_trunc('hour', coalesce(started_at, created_at), 'UTC') AS hour,
                   (extract(epoch FROM finished_at - started_at) * 1000)::bigint AS duration_ms
            FROM \(source) WHERE status IN (97, 98, 99, 100)
        ),
        rollup AS (
            INSERT INTO workflows.execution_rollup_hourly AS r (workflow_id, hour, total, successful, failed, timed, duration_ms)
            SELECT workflow_id, hour, count(*), count(*) FILTER (WHERE status = 100), count(*) FILTER (WHERE status = 99),
                   count(duration_ms), coalesce(sum(duration_ms), 0)
            FROM counted GROUP BY workflow_id, hour
            ON CONFLICT (workflow_id, hour) DO UPDATE SET
                total = r.total + excluded.total, successful = r.successful + excluded.successful,
                failed = r.failed + excluded.failed, timed = r.timed + excluded.timed, duration_ms = r.duration_ms + excluded.duration_ms
        ),
        statistics AS (
            INSERT INTO workflows.workflow_statistics AS s (workflow_id, name, count, root_count, latest_event)
            SELECT workflow_id,
                   (CASE WHEN mode = 1 THEN 'manual' ELSE 'production' END) || (CASE WHEN status = 100 THEN '_success' ELSE '_error' END),
                   count(*), count(*) FILTER (WHERE root), max(finished_at)
            FROM counted GROUP BY 1, 2
            ON CONFLICT (workflow_id, name) DO UPDATE SET
                count = s.count + excluded.count, root_count = s.root_count + excluded.root_count,
                latest_event = greatest(s.latest_event, excluded.latest_event)
        ),
        insights AS (
            INSERT INTO workflows.insight_raw (workflow_id, kind, value, created_at)
            SELECT workflow_id, kind, value, finished_at FROM counted,
                LATERAL (VALUES (CASE WHEN status = 100 THEN 2 ELSE 3 END, 1::bigint), (1, duration_ms)) AS v(kind, value)
            WHERE value IS NOT NULL
        )
        """
    }

    /// Cancels an execution: New and Waiting ones at once; a Running one cooperatively (its
    /// worker sees the request at its next heartbeat and finishes it Cancelled).
    /// - Returns: The execution and the job that runs it, or `nil` when it is not unfinished.
    func cancel(_ id: UUID, on connection: PostgresConnection, logger: Logger) async throws -> (Execution, Int64?)? {
        let rows = try await connection.run(
            """
            WITH ended AS (
                UPDATE workflows.execution_entity AS e
                SET status = CASE WHEN e.status IN (1, 11) THEN 97 ELSE e.status END,
                    finished_at = CASE WHEN e.status IN (1, 11) THEN now() END,
                    wait_till = NULL, held = false, cancel_requested_at = coalesce(e.cancel_requested_at, now()), version = e.version + 1
                WHERE e.id = \(id) AND e.status IN (1, 10, 11) AND e.logical_deletion IS NULL
                RETURNING \(unescaped: Self.aliasedColumns), e.job_id
            ),
            \(unescaped: Self.statisticsCTEs(of: "ended"))
            SELECT * FROM ended
            """,
            logger: logger
        ).collect()
        return try rows.first.map { (try Self.execution(from: $0), try $0.makeRandomAccess()["job_id"].decode(Int64?.self)) }
    }

    /// Running → Crashed for executions whose job's lease expired.
    /// - Returns: The crashed executions, each with the retries its workflow allows on a crash
    ///   and how many retries came before it.
    func crash(
        jobs: [Int64],
        on connection: PostgresConnection,
        logger: Logger
    ) async throws -> [(execution: Execution, retriesAllowed: Int, retriesBefore: Int, maxConcurrency: Int?)] {
        guard !jobs.isEmpty else { return [] }
        let rows = try await connection.run(
            """
            WITH ended AS (
                UPDATE workflows.execution_entity AS e
                SET status = 98, finished_at = now(), wait_till = NULL,
                    error_message = 'The worker was lost (its lease expired) while the execution ran.', version = e.version + 1
                WHERE e.job_id = ANY(\(jobs)::bigint[]) AND e.status = 10
                RETURNING \(unescaped: Self.aliasedColumns)
            ),
            \(unescaped: Self.statisticsCTEs(of: "ended"))
            SELECT ended.*, coalesce((w.settings->>'retry_on_crash')::integer, 0) AS retries_allowed,
                   (w.settings->>'max_concurrency')::integer AS max_concurrency,
                   (WITH RECURSIVE chain(id, retry_of, depth) AS (
                        SELECT ended.id, ended.retry_of, 0
                        UNION ALL
                        SELECT p.id, p.retry_of, chain.depth + 1 FROM workflows.execution_entity AS p JOIN chain ON p.id = chain.retry_of
                        WHERE chain.depth < 100
                    ) SELECT max(depth) FROM chain) AS retries_before
            FROM ended JOIN workflows.workflow_entity AS w ON w.id = ended.workflow_id
            """,
            logger: logger
        ).collect()
        return try rows.map { row in
            let columns = row.makeRandomAccess()
            return (
                try Self.execution(from: row),
                Int(try columns["retries_allowed"].decode(Int32.self)),
                Int(try columns["retries_before"].decode(Int32.self)),
                try columns["max_concurrency"].decode(Int32?.self).map(Int.init)
            )
        }
    }

    /// Pins or unpins an execution (a pinned one is kept from pruning).
    /// - Returns: The execution, or `nil` when there is none.
    func setPinned(_ id: UUID, _ pinned: Bool, on connection: PostgresConnection, logger: Logger) async throws -> Execution? {
        try await connection.run(
            """
            UPDATE workflows.execution_entity SET pinned = \(pinned), version = version + CASE WHEN pinned = \(pinned) THEN 0 ELSE 1 END
            WHERE id = \(id) AND logical_deletion IS NULL
            RETURNING \(unescaped: Self.columns)
            """,
            logger: logger
        ).collect().first.map(Self.execution(from:))
    }

    /// A retry's inputs: the execution's input as JSON text.
    func input(of id: UUID, on connection: PostgresConnection, logger: Logger) async throws -> String? {
        try await connection.run("SELECT input::text FROM workflows.execution_data WHERE execution_id = \(id)", logger: logger)
            .collect().first?.decode(String.self)
    }

    /// Appends progress lines of an execution whose job's lease `job` still holds.
    /// - Returns: `false` when the lease is lost (nothing is written).
    func appendLog(
        _ id: UUID,
        job: ClaimedJob,
        lines: [(node: String?, message: String)],
        on connection: PostgresConnection,
        logger: Logger
    ) async throws -> Bool {
        let rows = try await connection.run(
            """
            WITH held AS (
                SELECT e.id FROM workflows.execution_entity AS e JOIN strata.jobs AS j ON j.id = e.job_id
                WHERE e.id = \(id) AND j.id = \(job.id) AND j.lease_token = \(job.leaseToken) AND j.state = 'running' AND e.status = 10
            ),
            appended AS (
                INSERT INTO workflows.execution_log (execution_id, node, message)
                SELECT held.id, l.node, l.message FROM held,
                    unnest(\(lines.map { $0.node ?? "" })::text[], \(lines.map(\.message))::text[]) WITH ORDINALITY AS l(node, message, n)
                ORDER BY l.n
            )
            SELECT count(*) FROM held
            """,
            logger: logger
        ).collect()
        return try (rows.first?.decode(Int64.self) ?? 0) > 0
    }

    /// An execution's log lines after line `after`, in order.
    func log(_ id: UUID, after: Int64, limit: Int) async throws -> [ExecutionLogLine] {
        try await pool.query(
            """
            SELECT id, nullif(node, '') AS node, message, created_at FROM workflows.execution_log
            WHERE execution_id = \(id) AND id > \(after) ORDER BY id LIMIT \(limit)
            """
        ).map { row in
            let columns = row.makeRandomAccess()
            return ExecutionLogLine(
                id: try columns["id"].decode(Int64.self),
                node: try columns["node"].decode(String?.self),
                message: try columns["message"].decode(String.self),
                createdAt: try columns["created_at"].decode(Date.self)
            )
        }
    }

    /// A workflow's executions started since `days` days before now (from the start of that
    /// hour), as the seed counts them: the ended ones from the hourly rollups, and the running
    /// and waiting ones (in the total only) from the executions; `nil` when there is no such
    /// workflow.
    func stats(workflow: UUID, days: Int) async throws -> ExecutionStats? {
        let rows = try await pool.query(
            """
            WITH window_start AS (SELECT date_trunc('hour', now() - make_interval(days => \(Int32(days))), 'UTC') AS since)
            SELECT since,
                   (coalesce(sum(total), 0) + (SELECT count(*) FROM workflows.execution_entity AS e
                                              WHERE e.workflow_id = w.id AND e.status IN (1, 10, 11) AND e.started_at >= since
                                                AND e.logical_deletion IS NULL))::bigint AS total,
                   coalesce(sum(successful), 0)::bigint AS successful, coalesce(sum(failed), 0)::bigint AS failed,
                   (sum(duration_ms)::float8 / nullif(sum(timed), 0))::float8 AS avg_duration_ms
            FROM workflows.workflow_entity AS w CROSS JOIN window_start
            LEFT JOIN workflows.execution_rollup_hourly AS r ON r.workflow_id = w.id AND r.hour >= since
            WHERE w.id = \(workflow)
            GROUP BY w.id, since
            """
        )
        guard let row = rows.first else { return nil }
        let columns = row.makeRandomAccess()
        return ExecutionStats(
            workflowID: workflow,
            days: days,
            since: try columns["since"].decode(Date.self),
            totalExecutions: try columns["total"].decode(Int64.self),
            successfulExecutions: try columns["successful"].decode(Int64.self),
            failedExecutions: try columns["failed"].decode(Int64.self),
            avgDurationMs: try columns["avg_duration_ms"].decode(Double?.self)
        )
    }
}
