import Foundation
import Logging
import PostgresNIO
import StrataCore
public import StrataPostgres

/// The changes a worker makes. Each is guarded by the task's state **and** by the lease of the
/// job that runs it (`strata.jobs.lease_token`): a worker whose lease expired — its task
/// requeued and maybe running elsewhere — changes nothing.
extension TaskService {
    /// Runs a worker's guarded UPDATE (which returns the task's columns when it changed a row)
    /// and, when it did, `then` and the change (the event `kind`, and `audit` when given), in
    /// one transaction, recorded for the worker.
    /// - Returns: The changed task, or `nil` when the guard refused (nothing is written).
    private func applyWorkerChange(
        _ update: PostgresQuery,
        kind: String,
        worker: String,
        audit: AuditRecord? = nil,
        then: @Sendable (SimulationTask, PostgresConnection) async throws -> Void = { _, _ in }
    ) async throws -> SimulationTask? {
        try await pool.withTransaction { connection in
            guard let row = try await connection.query(update, logger: logger).collect().first else { return nil }
            let task = try TaskStore.task(from: row)
            try await then(task, connection)
            var change = try await taskChange([(task, kind)], on: connection)
            change.audit = audit
            try await ChangeLog.record(change, by: .job(worker, kind: "worker"), on: connection, logger: logger)
            return task
        }
    }

    /// QUEUED → ASSIGNED on `gpu` of `worker`. - Returns: `nil` when the task is not QUEUED
    /// under this job any more (cancelled, or ended).
    func assign(_ id: UUID, job: ClaimedJob, gpu: Int, worker: String) async throws -> SimulationTask? {
        try await applyWorkerChange(
            """
            UPDATE simjobs.tasks SET status = 'ASSIGNED', gpu_id = \(Int16(gpu)), worker_id = \(worker), attempt = \(Int32(job.attempt)),
                   assigned_at = now(), version = version + 1
            WHERE id = \(id) AND status = ANY(\(TaskStore.sources(of: .assigned))) AND job_id = \(job.id)
              AND EXISTS (SELECT 1 FROM strata.jobs j WHERE j.id = \(job.id) AND j.state = 'running' AND j.lease_token = \(job.leaseToken))
            RETURNING \(unescaped: TaskStore.columns)
            """,
            kind: "task.assigned",
            worker: worker
        )
    }

    /// ASSIGNED → RUNNING (the command is about to start). - Returns: `false` when the task was
    /// cancelled meanwhile or the lease is lost.
    func start(_ id: UUID, job: ClaimedJob, worker: String) async throws -> Bool {
        try await applyWorkerChange(
            """
            UPDATE simjobs.tasks SET status = 'RUNNING', started_at = now(), version = version + 1
            WHERE id = \(id) AND status = ANY(\(TaskStore.sources(of: .running))) AND job_id = \(job.id)
              AND EXISTS (SELECT 1 FROM strata.jobs j WHERE j.id = \(job.id) AND j.state = 'running' AND j.lease_token = \(job.leaseToken))
            RETURNING \(unescaped: TaskStore.columns)
            """,
            kind: "task.started",
            worker: worker
        ) != nil
    }

    /// How a run ended.
    enum Outcome: Sendable {
        case completed(TaskResult)
        case failed(type: String, message: String)
        case timedOut(message: String)
        case cancelled
    }

    /// RUNNING (or ASSIGNED, for failures before the start) → an end state, with the result.
    /// - Returns: `false` when the lease was lost (the change is not made).
    @discardableResult
    func finish(_ id: UUID, job: ClaimedJob, worker: String, outcome: Outcome) async throws -> Bool {
        let (target, errorType, errorMessage): (TaskStatus, String?, String?) =
            switch outcome {
            case .completed: (.completed, nil, nil)
            case .failed(let type, let message): (.failed, type, message)
            case .timedOut(let message): (.timeout, "timeout", message)
            case .cancelled: (.cancelled, nil, nil)
            }
        let sources = TaskStore.sources(of: target).filter { $0 == "RUNNING" || $0 == "ASSIGNED" }
        let logger = logger
        return try await applyWorkerChange(
            """
            UPDATE simjobs.tasks SET status = \(target.rawValue), finished_at = now(), error_type = \(errorType),
                   error_message = \(errorMessage.map { String($0.prefix(10_000)) }), version = version + 1
            WHERE id = \(id) AND status = ANY(\(sources)) AND job_id = \(job.id)
              AND EXISTS (SELECT 1 FROM strata.jobs j WHERE j.id = \(job.id) AND j.state = 'running' AND j.lease_token = \(job.leaseToken))
            RETURNING \(unescaped: TaskStore.columns)
            """,
            kind: "task.\(target.rawValue.lowercased())",
            worker: worker,
            audit: Change(
                app: "simjobs",
                action: "status.change",
                resourceType: "task",
                resourceID: id.uuidString,
                detailsJSON: #"{"status":\#(JSONText.quoted(target.rawValue))}"#
            ).audit
        ) { _, connection in
            if case .completed(let result) = outcome {
                try await connection.query(
                    """
                    INSERT INTO simjobs.task_results (task_id, result_data, output_files, metrics, duration_seconds)
                    VALUES (\(id), \(result.resultData.text)::jsonb, \(result.outputFiles.text)::jsonb, \(result.metrics.text)::jsonb,
                            \(result.durationSeconds))
                    ON CONFLICT (task_id) DO UPDATE SET result_data = EXCLUDED.result_data, output_files = EXCLUDED.output_files,
                        metrics = EXCLUDED.metrics, duration_seconds = EXCLUDED.duration_seconds, created_at = now(), expired_at = NULL
                    """,
                    logger: logger
                )
            }
        } != nil
    }

    /// Appends log lines of a running task.
    func appendLogs(_ id: UUID, lines: [(level: String, message: String)], gpu: Int?) async throws {
        guard !lines.isEmpty else { return }
        try await pool.withConnection { connection in
            try await store.appendLogs(id, lines: lines, gpuID: gpu, on: connection, logger: logger)
        }
    }

    /// The queue's follow-up on tasks whose worker was lost (their job's lease expired): back
    /// to QUEUED while retries are left, else TIMEOUT (RUNNING) or FAILED (ASSIGNED); a task
    /// whose cancellation was asked for ends CANCELLED. Runs in the rescue's transaction.
    public static func rescueHandler(pool: PostgresPool) -> RescueHandler {
        { rescued, connection, logger in
            let requeue = rescued.filter { $0.state == .available }.map(\.id)
            let end = rescued.filter { $0.state != .available }.map(\.id)
            let service = TaskService(pool: pool)
            var changed: [(SimulationTask, String)] = []
            let requeued =
                requeue.isEmpty
                ? []
                : try await connection.query(
                    """
                    UPDATE simjobs.tasks
                    SET status = CASE WHEN cancel_requested_at IS NULL THEN 'QUEUED' ELSE 'CANCELLED' END,
                        finished_at = CASE WHEN cancel_requested_at IS NULL THEN NULL ELSE now() END,
                        queued_at = now(), assigned_at = NULL, started_at = NULL, gpu_id = NULL, worker_id = NULL, version = version + 1
                    WHERE job_id = ANY(\(requeue)) AND status IN ('ASSIGNED', 'RUNNING')
                    RETURNING \(unescaped: TaskStore.columns)
                    """,
                    logger: logger
                ).collect()
            for row in requeued {
                let task = try TaskStore.task(from: row)
                changed.append((task, task.status == .cancelled ? "task.cancelled" : "task.requeued"))
            }
            let ended =
                end.isEmpty
                ? []
                : try await connection.query(
                    """
                    UPDATE simjobs.tasks
                    SET status = CASE WHEN cancel_requested_at IS NOT NULL THEN 'CANCELLED' WHEN status = 'RUNNING' THEN 'TIMEOUT' ELSE 'FAILED' END,
                        finished_at = now(), error_type = CASE WHEN cancel_requested_at IS NULL THEN 'worker_lost' END,
                        error_message = CASE WHEN cancel_requested_at IS NULL
                                        THEN 'The worker stopped heartbeating (its lease expired) and the task has no retries left.' END,
                        version = version + 1
                    WHERE job_id = ANY(\(end)) AND status IN ('ASSIGNED', 'RUNNING')
                    RETURNING \(unescaped: TaskStore.columns)
                    """,
                    logger: logger
                ).collect()
            for row in ended {
                let task = try TaskStore.task(from: row)
                changed.append((task, "task.\(task.status.rawValue.lowercased())"))
            }
            for (task, kind) in changed {
                let note =
                    kind == "task.requeued"
                    ? "worker lost (lease expired); queued again for attempt \(task.attempt + 1)"
                    : "worker lost (lease expired); \(task.status.rawValue)"
                try await service.store.appendLogs(task.id, lines: [("WARNING", note)], gpuID: nil, on: connection, logger: logger)
            }
            let change = try await service.taskChange(changed.map { ($0.0, $0.1) }, on: connection)
            try await ChangeLog.record(change, by: .job(), on: connection, logger: logger)
            if !changed.isEmpty {
                let again = changed.filter { $0.1 == "task.requeued" }.count
                try await SystemLog.write(
                    "WARNING",
                    .scheduler,
                    "Rescued \(changed.count) tasks from lost workers (leases expired): \(again) queued again, \(changed.count - again) ended.",
                    loggerName: "simjobs.rescue",
                    extra: .object(["task_ids": .array(changed.map { .string($0.0.id.uuidString.lowercased()) })]),
                    on: connection,
                    logger: logger
                )
            }
        }
    }
}
