import Foundation
import Logging
import PostgresNIO
public import StrataCore
import StrataPostgres

/// The SQL of `simjobs.tasks`, `task_results` and `task_logs`. Every status change is a guarded
/// UPDATE (`WHERE id = $1 AND status = ANY(<states that may move to the target>)`), so a
/// transition the state machine does not allow changes nothing, however requests interleave.
struct TaskStore: Sendable {
    static let columns = """
        id, task_type, status, priority, model_name, structure_id, structure_name, parameters::text, options::text, gpu_id,
        worker_id, attempt, error_type, error_message, cancel_requested_at IS NOT NULL, version, created_at, queued_at,
        assigned_at, started_at, finished_at, updated_at
        """
    /// How many columns ``columns`` selects (the index of a column selected after them).
    static let columnCount = 22

    static func task(from row: PostgresRow) throws -> SimulationTask {
        let (id, type, status, priority, model, structureID, structureName, parameters, options, gpu) = try row.decode(
            (UUID, String, String, Int16, String, UUID?, String, String, String, Int16?).self
        )
        let columns = row.makeRandomAccess()
        guard let taskType = TaskType(rawValue: type), let taskStatus = TaskStatus(rawValue: status) else {
            throw StrataError(.internalError, "A task row holds an unknown type or status.")
        }
        return SimulationTask(
            id: id,
            taskType: taskType,
            status: taskStatus,
            priority: Int(priority),
            modelName: model,
            structureID: structureID,
            structureName: structureName,
            parameters: try JSONValue(parsing: parameters),
            options: try JSONDecoder.api().decode(TaskOptions.self, from: Data(options.utf8)),
            gpuID: gpu.map(Int.init),
            workerID: try columns[10].decode(String?.self),
            attempt: Int(try columns[11].decode(Int32.self)),
            errorType: try columns[12].decode(String?.self),
            errorMessage: try columns[13].decode(String?.self),
            cancelRequested: try columns[14].decode(Bool.self),
            version: try columns[15].decode(Int64.self),
            createdAt: try columns[16].decode(Date.self),
            queuedAt: try columns[17].decode(Date?.self),
            assignedAt: try columns[18].decode(Date?.self),
            startedAt: try columns[19].decode(Date?.self),
            finishedAt: try columns[20].decode(Date?.self),
            updatedAt: try columns[21].decode(Date.self)
        )
    }

    /// The task, or `nil`.
    func find(_ id: UUID, on connection: PostgresConnection, logger: Logger) async throws -> SimulationTask? {
        let rows = try await connection.query("SELECT \(unescaped: Self.columns) FROM simjobs.tasks WHERE id = \(id)", logger: logger).collect()
        return try rows.first.map(Self.task(from:))
    }

    /// The states that may move to `target`, as bound text.
    static func sources(of target: TaskStatus) -> [String] { TaskStatus.sources(of: target).map(\.rawValue) }

    /// The error for a refused transition: 404 when the task does not exist, else 409 naming
    /// the task's state and where it may go from there.
    func refusal(_ id: UUID, to target: TaskStatus, on connection: PostgresConnection, logger: Logger) async throws -> StrataError {
        let rows = try await connection.query("SELECT status FROM simjobs.tasks WHERE id = \(id)", logger: logger).collect()
        guard let text = try rows.first?.decode(String.self), let current = TaskStatus(rawValue: text) else {
            return StrataError(.notFound, "No task has this id.")
        }
        let allowed = current.allowedNext.map(\.rawValue)
        return StrataError(
            .taskTransitionRefused,
            "A \(current.rawValue) task cannot become \(target.rawValue)"
                + (allowed.isEmpty ? "; it has ended." : "; it may become \(allowed.joined(separator: ", ")) next."),
            details: ["status": current.rawValue, "allowed_next": allowed.joined(separator: ",")]
        )
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
        try await connection.query(
            """
            INSERT INTO simjobs.task_logs (task_id, level, logger, message, gpu_id)
            SELECT \(task), level, 'worker', message, \(gpu)
            FROM unnest(\(levels)::text[], \(messages)::text[]) WITH ORDINALITY AS l(level, message, n) ORDER BY n
            """,
            logger: logger
        )
    }
}

extension StrataError.Code {
    /// A task state change the state machine does not allow (409); `details.allowed_next` lists
    /// the states the task may move to.
    public static let taskTransitionRefused = Self("simjobs.task_transition_refused", kind: .conflict)
}
