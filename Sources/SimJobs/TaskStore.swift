import Foundation
import Logging
import PostgresNIO
public import StrataCore
import StrataPostgres

/// The SQL of `simjobs.tasks`, `task_results` and `task_logs`. Every status change is a guarded
/// UPDATE (`WHERE id = $1 AND status = ANY(<states that may move to the target>)`), so a
/// transition the state machine does not allow changes nothing, however requests interleave.
struct TaskStore: Sendable {
    /// Where plain reads run (one statement each); changes take the service's connection.
    let pool: PostgresPool

    /// A task's columns, each named as ``task(from:)`` reads it.
    static let columns = """
        id, task_type, status, priority, model_name, structure_id, structure_name, parameters::text AS parameters,
        options::text AS options, gpu_id, worker_id, attempt, error_type, error_message,
        cancel_requested_at IS NOT NULL AS cancel_requested, version, created_at, queued_at, assigned_at, started_at,
        finished_at, updated_at
        """

    /// A task from a row holding ``columns`` (and maybe more), by column name.
    static func task(from row: PostgresRow) throws -> SimulationTask {
        let columns = row.makeRandomAccess()
        guard let taskType = TaskType(rawValue: try columns["task_type"].decode(String.self)),
            let taskStatus = TaskStatus(rawValue: try columns["status"].decode(String.self))
        else {
            throw StrataError(.internalError, "A task row holds an unknown type or status.")
        }
        return SimulationTask(
            id: try columns["id"].decode(UUID.self),
            taskType: taskType,
            status: taskStatus,
            priority: Int(try columns["priority"].decode(Int16.self)),
            modelName: try columns["model_name"].decode(String.self),
            structureID: try columns["structure_id"].decode(UUID?.self),
            structureName: try columns["structure_name"].decode(String.self),
            parameters: try JSONValue(parsing: columns["parameters"].decode(String.self)),
            options: try JSONDecoder.api().decode(TaskOptions.self, from: Data(columns["options"].decode(String.self).utf8)),
            gpuID: try columns["gpu_id"].decode(Int16?.self).map(Int.init),
            workerID: try columns["worker_id"].decode(String?.self),
            attempt: Int(try columns["attempt"].decode(Int32.self)),
            errorType: try columns["error_type"].decode(String?.self),
            errorMessage: try columns["error_message"].decode(String?.self),
            cancelRequested: try columns["cancel_requested"].decode(Bool.self),
            version: try columns["version"].decode(Int64.self),
            createdAt: try columns["created_at"].decode(Date.self),
            queuedAt: try columns["queued_at"].decode(Date?.self),
            assignedAt: try columns["assigned_at"].decode(Date?.self),
            startedAt: try columns["started_at"].decode(Date?.self),
            finishedAt: try columns["finished_at"].decode(Date?.self),
            updatedAt: try columns["updated_at"].decode(Date.self)
        )
    }

    /// The task, or `nil`.
    func find(_ id: UUID, on connection: PostgresConnection, logger: Logger) async throws -> SimulationTask? {
        let rows = try await connection.run("SELECT \(unescaped: Self.columns) FROM simjobs.tasks WHERE id = \(id)", logger: logger).collect()
        return try rows.first.map(Self.task(from:))
    }

    /// A task's callback, its secret sealed.
    struct Callback: Sendable {
        var url: String
        var events: [String]
        var sealedSecret: String
    }

    /// Inserts a checked task, QUEUED under its job, with its callback — one statement that
    /// checks the model (it exists, is enabled and, when custom, validated) and the structure
    /// (a given id exists). A custom model runs only once it has been validated.
    /// - Throws: `invalid_reference` or `simjobs.model_not_validated` naming the field that
    ///   failed (nothing is inserted).
    func insert(
        _ task: TaskService.Validated,
        id: UUID,
        jobID: Int64,
        callback: Callback?,
        on connection: PostgresConnection,
        logger: Logger
    ) async throws -> SimulationTask {
        let options = try String(decoding: JSONEncoder.api().encode(task.options), as: UTF8.self)
        let rows = try await connection.run(
            """
            WITH model AS (
                SELECT 1 FROM simjobs.models WHERE name = \(task.modelName) AND is_enabled AND NOT (is_custom AND NOT is_validated)
            ),
            structure AS (SELECT name FROM simjobs.structures WHERE id = \(task.structureID)),
            task AS (
                INSERT INTO simjobs.tasks (id, task_type, priority, model_name, structure_id, structure_name, parameters, options,
                                           status, queued_at, job_id)
                SELECT \(id), \(task.type.rawValue), \(Int16(task.priority.rawValue)), \(task.modelName), \(task.structureID),
                       coalesce(nullif(\(task.structureName ?? ""), ''), (SELECT name FROM structure), ''),
                       \(task.parametersText)::jsonb, \(options)::jsonb, 'QUEUED', now(), \(jobID)
                FROM model
                WHERE \(task.structureID)::uuid IS NULL OR EXISTS (SELECT 1 FROM structure)
                RETURNING *
            ),
            callback AS (
                INSERT INTO simjobs.task_callbacks (task_id, url, events, sealed_secret)
                SELECT id, \(callback?.url), \(callback?.events ?? []), \(callback?.sealedSecret) FROM task
                WHERE \(callback?.url)::text IS NOT NULL
            )
            SELECT \(unescaped: Self.columns) FROM task
            """,
            logger: logger
        ).collect()
        guard let row = rows.first else { throw try await rejection(of: task, on: connection, logger: logger) }
        return try Self.task(from: row)
    }

    /// Why ``insert(_:id:jobID:callback:on:logger:)`` inserted nothing.
    private func rejection(of task: TaskService.Validated, on connection: PostgresConnection, logger: Logger) async throws -> StrataError {
        let model = try await connection.run(
            "SELECT is_enabled, is_custom AND NOT is_validated AS unvalidated FROM simjobs.models WHERE name = \(task.modelName)",
            logger: logger
        ).collect()
        guard let row = model.first else {
            return StrataError(.invalidReference, "No model is named '\(task.modelName)'.", details: ["field": "model_name"])
        }
        let columns = row.makeRandomAccess()
        guard try columns["is_enabled"].decode(Bool.self) else {
            return StrataError(.invalidReference, "The model '\(task.modelName)' is disabled.", details: ["field": "model_name"])
        }
        guard try !columns["unvalidated"].decode(Bool.self) else {
            return StrataError(
                .modelNotValidated,
                "The custom model '\(task.modelName)' has not been validated yet.",
                details: ["field": "model_name"]
            )
        }
        return StrataError(
            .invalidReference,
            "No structure has the id \(task.structureID.map { "\($0)" } ?? "given").",
            details: ["field": "structure_id"]
        )
    }

    /// Cancels a task that has not ended: CANCELLED at once when it waits, a cancellation asked
    /// of its worker when it runs.
    /// - Returns: The task and its job's id, or `nil` when the state machine refuses (or there
    ///   is no such task).
    func cancel(_ id: UUID, on connection: PostgresConnection, logger: Logger) async throws -> (SimulationTask, Int64?)? {
        let rows = try await connection.run(
            """
            UPDATE simjobs.tasks
            SET status = CASE WHEN status = 'RUNNING' THEN status ELSE 'CANCELLED' END,
                finished_at = CASE WHEN status = 'RUNNING' THEN finished_at ELSE now() END,
                cancel_requested_at = coalesce(cancel_requested_at, now()),
                version = version + 1
            WHERE id = \(id) AND status = ANY(\(TaskStatus.sourceValues(of: .cancelled)))
            RETURNING \(unescaped: Self.columns), job_id
            """,
            logger: logger
        ).collect()
        guard let row = rows.first else { return nil }
        return (try Self.task(from: row), try row.makeRandomAccess()["job_id"].decode(Int64?.self))
    }

    /// The callbacks of tasks, by task id.
    func callbacks(of ids: [UUID], on connection: PostgresConnection, logger: Logger) async throws -> [UUID: Callback] {
        let rows = try await connection.run(
            "SELECT task_id, url, events, sealed_secret FROM simjobs.task_callbacks WHERE task_id = ANY(\(ids))",
            logger: logger
        )
        var callbacks: [UUID: Callback] = [:]
        for try await row in rows {
            let c = row.makeRandomAccess()
            callbacks[try c["task_id"].decode(UUID.self)] = Callback(
                url: try c["url"].decode(String.self),
                events: try c["events"].decode([String].self),
                sealedSecret: try c["sealed_secret"].decode(String.self)
            )
        }
        return callbacks
    }

    /// The error for a refused transition: 404 when the task does not exist, else 409 naming
    /// the task's state and where it may go from there.
    func refusal(_ id: UUID, to target: TaskStatus, on connection: PostgresConnection, logger: Logger) async throws -> StrataError {
        let rows = try await connection.run("SELECT status FROM simjobs.tasks WHERE id = \(id)", logger: logger).collect()
        guard let text = try rows.first?.decode(String.self), let current = TaskStatus(rawValue: text) else {
            return StrataError(.notFound, "No task has this id.")
        }
        return current.refusal(to: target)
    }

    /// Appends log lines of a task (one statement).
    func appendLogs(
        _ task: UUID,
        lines: [(level: String, message: String)],
        gpuID: Int?,
        on connection: PostgresConnection,
        logger: Logger
    )
        async throws
    {
        guard !lines.isEmpty else { return }
        let levels = lines.map(\.level)
        let messages = lines.map { String($0.message.prefix(10_000)) }
        let gpu = gpuID.map(Int16.init)
        try await connection.run(
            """
            INSERT INTO simjobs.task_logs (task_id, level, logger, message, gpu_id)
            SELECT \(task), level, 'worker', message, \(gpu)
            FROM unnest(\(levels)::text[], \(messages)::text[]) WITH ORDINALITY AS l(level, message, n) ORDER BY n
            """,
            logger: logger
        )
    }
}
