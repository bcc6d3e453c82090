import Foundation
import PostgresNIO
import StrataCore
import StrataPostgres

/// The task server's reads: one statement each on the pool, rows decoded by column name.
extension TaskStore {
    /// Only a task's status, `nil` when there is no such task.
    func status(_ id: UUID) async throws -> TaskStatus? {
        let rows = try await pool.query("SELECT status FROM simjobs.tasks WHERE id = \(id)")
        guard let text = try rows.first?.makeRandomAccess()["status"].decode(String.self) else { return nil }
        guard let status = TaskStatus(rawValue: text) else { throw StrataError(.internalError, "A task row holds an unknown status.") }
        return status
    }

    /// Tasks newest first, a page at a time (``NewestFirst``).
    func list(_ filter: TaskService.Filter, limit: Int, cursor: Cursor?) async throws -> Page<SimulationTask> {
        let position = try NewestFirst<UUID>(after: cursor)
        let rows = try await pool.query(
            """
            SELECT \(unescaped: Self.columns), \(unescaped: NewestFirst<UUID>.positionColumn) FROM simjobs.tasks
            WHERE (\(filter.status?.rawValue)::text IS NULL OR status = \(filter.status?.rawValue))
              AND (\(filter.taskType?.rawValue)::text IS NULL OR task_type = \(filter.taskType?.rawValue))
              AND (\(filter.modelName)::text IS NULL OR model_name = \(filter.modelName))
              AND \(after: position)
            ORDER BY created_at DESC, id DESC
            LIMIT \(limit + 1)
            """
        )
        return try position.page(rows, limit: limit, item: Self.task(from:), id: \.id)
    }

    /// A task's stored result with when it expired (results are kept 180 days), or `nil`.
    func result(_ id: UUID) async throws -> (result: TaskResult, expiredAt: Date?)? {
        let rows = try await pool.query(
            """
            SELECT result_data::text AS result_data, output_files::text AS output_files, metrics::text AS metrics,
                   duration_seconds, expired_at
            FROM simjobs.task_results WHERE task_id = \(id)
            """
        )
        guard let row = rows.first?.makeRandomAccess() else { return nil }
        let result = TaskResult(
            taskID: id,
            resultData: try JSONValue(parsing: row["result_data"].decode(String.self)),
            outputFiles: try JSONValue(parsing: row["output_files"].decode(String.self)),
            metrics: try JSONValue(parsing: row["metrics"].decode(String.self)),
            durationSeconds: try row["duration_seconds"].decode(Double?.self)
        )
        return (result, try row["expired_at"].decode(Date?.self))
    }

    /// A task's log lines in order, after `afterID`.
    func logs(_ id: UUID, afterID: Int64, limit: Int, level: String?) async throws -> [TaskLogLine] {
        let rows = try await pool.query(
            """
            SELECT id, created_at, level, logger, message, gpu_id FROM simjobs.task_logs
            WHERE task_id = \(id) AND id > \(afterID) AND (\(level)::text IS NULL OR level = \(level))
            ORDER BY id LIMIT \(limit)
            """
        )
        return try rows.map { row in
            let columns = row.makeRandomAccess()
            return TaskLogLine(
                id: try columns["id"].decode(Int64.self),
                createdAt: try columns["created_at"].decode(Date.self),
                level: try columns["level"].decode(String.self),
                logger: try columns["logger"].decode(String.self),
                message: try columns["message"].decode(String.self),
                gpuID: try columns["gpu_id"].decode(Int16?.self).map(Int.init)
            )
        }
    }

    /// The workers that announced themselves, online first, then by name.
    func workers() async throws -> [WorkerStatus] {
        let rows = try await pool.query(
            """
            SELECT w.name, w.hostname, w.pid, w.gpus, w.busy_gpus, simjobs.worker_state(w) AS state,
                   (SELECT count(*) FROM simjobs.tasks t WHERE t.worker_id = w.name AND t.status IN ('ASSIGNED', 'RUNNING')) AS running,
                   w.started_at, w.last_seen_at, w.gpu_readings::text AS gpu_readings, w.gpu_readings_at
            FROM simjobs.workers AS w
            ORDER BY w.stopped_at IS NOT NULL, w.last_seen_at DESC, w.name
            LIMIT 1000
            """
        )
        return try rows.map { row in
            let columns = row.makeRandomAccess()
            return WorkerStatus(
                name: try columns["name"].decode(String.self),
                hostname: try columns["hostname"].decode(String.self),
                pid: Int(try columns["pid"].decode(Int32.self)),
                gpus: try columns["gpus"].decode([Int16].self).map(Int.init),
                busyGPUs: try columns["busy_gpus"].decode([Int16].self).map(Int.init),
                state: WorkerStatus.State(rawValue: try columns["state"].decode(String.self)) ?? .offline,
                runningTasks: Int(try columns["running"].decode(Int64.self)),
                startedAt: try columns["started_at"].decode(Date.self),
                lastSeenAt: try columns["last_seen_at"].decode(Date.self),
                gpuReadings: (try? JSONDecoder.api().decode([GPUReading].self, from: Data(columns["gpu_readings"].decode(String.self).utf8))) ?? [],
                gpuReadingsAt: try columns["gpu_readings_at"].decode(Date?.self)
            )
        }
    }

    /// Task counts by status, and the waiting tasks by priority.
    func queueStatus() async throws -> QueueStatus {
        let rows = try await pool.query(
            """
            SELECT status, priority, count(*) AS tasks FROM simjobs.tasks
            WHERE NOT is_completed OR finished_at > now() - interval '1 day'
            GROUP BY status, priority
            """
        )
        var status = QueueStatus()
        for row in rows {
            let columns = row.makeRandomAccess()
            let (name, priority, count) = (
                try columns["status"].decode(String.self), try columns["priority"].decode(Int16.self), try columns["tasks"].decode(Int64.self)
            )
            status.byStatus[name, default: 0] += Int(count)
            if name == TaskStatus.queued.rawValue {
                status.queuedByPriority[TaskPriority(rawValue: Int(priority))?.name ?? "\(priority)", default: 0] += Int(count)
            }
        }
        return status
    }
}
