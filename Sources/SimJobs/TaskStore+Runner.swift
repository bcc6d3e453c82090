import Foundation
import Logging
import PostgresNIO
import StrataCore
import StrataPostgres

/// The statements of the worker's changes. Each is guarded by the task's state **and** by the
/// lease of the job that runs it (`strata.jobs.lease_token`): a worker whose lease expired — its
/// task requeued and maybe running elsewhere — changes nothing, and gets `nil`.
extension TaskStore {
    /// QUEUED → ASSIGNED on `gpu` of `worker`.
    func assign(
        _ id: UUID,
        job: ClaimedJob,
        gpu: Int,
        worker: String,
        on connection: PostgresConnection,
        logger: Logger
    ) async throws
        -> SimulationTask?
    {
        try await changed(
            """
            UPDATE simjobs.tasks SET status = 'ASSIGNED', gpu_id = \(Int16(gpu)), worker_id = \(worker), attempt = \(Int32(job.attempt)),
                   assigned_at = now(), version = version + 1
            WHERE id = \(id) AND status = ANY(\(TaskStatus.sourceValues(of: .assigned))) AND job_id = \(job.id)
              AND EXISTS (SELECT 1 FROM strata.jobs j WHERE j.id = \(job.id) AND j.state = 'running' AND j.lease_token = \(job.leaseToken))
            RETURNING \(unescaped: Self.columns)
            """,
            on: connection,
            logger: logger
        )
    }

    /// ASSIGNED → RUNNING.
    func start(_ id: UUID, job: ClaimedJob, on connection: PostgresConnection, logger: Logger) async throws -> SimulationTask? {
        try await changed(
            """
            UPDATE simjobs.tasks SET status = 'RUNNING', started_at = now(), version = version + 1
            WHERE id = \(id) AND status = ANY(\(TaskStatus.sourceValues(of: .running))) AND job_id = \(job.id)
              AND EXISTS (SELECT 1 FROM strata.jobs j WHERE j.id = \(job.id) AND j.state = 'running' AND j.lease_token = \(job.leaseToken))
            RETURNING \(unescaped: Self.columns)
            """,
            on: connection,
            logger: logger
        )
    }

    /// RUNNING (or ASSIGNED, for failures before the start) → `target`, with the error when it failed.
    func finish(
        _ id: UUID,
        job: ClaimedJob,
        to target: TaskStatus,
        errorType: String?,
        errorMessage: String?,
        on connection: PostgresConnection,
        logger: Logger
    ) async throws -> SimulationTask? {
        let sources = TaskStatus.sourceValues(of: target).filter { $0 == "RUNNING" || $0 == "ASSIGNED" }
        return try await changed(
            """
            UPDATE simjobs.tasks SET status = \(target.rawValue), finished_at = now(), error_type = \(errorType),
                   error_message = \(errorMessage.map { String($0.prefix(10_000)) }), version = version + 1
            WHERE id = \(id) AND status = ANY(\(sources)) AND job_id = \(job.id)
              AND EXISTS (SELECT 1 FROM strata.jobs j WHERE j.id = \(job.id) AND j.state = 'running' AND j.lease_token = \(job.leaseToken))
            RETURNING \(unescaped: Self.columns)
            """,
            on: connection,
            logger: logger
        )
    }

    /// Stores a completed task's result (again, when a retry completes).
    func storeResult(_ id: UUID, _ result: TaskResult, on connection: PostgresConnection, logger: Logger) async throws {
        try await connection.run(
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

    /// The tasks of jobs whose lease expired with attempts left: QUEUED again, or CANCELLED when
    /// a cancellation was asked for.
    func requeueLost(jobs requeue: [Int64], on connection: PostgresConnection, logger: Logger) async throws -> [SimulationTask] {
        guard !requeue.isEmpty else { return [] }
        return try await connection.run(
            """
            UPDATE simjobs.tasks
            SET status = CASE WHEN cancel_requested_at IS NULL THEN 'QUEUED' ELSE 'CANCELLED' END,
                finished_at = CASE WHEN cancel_requested_at IS NULL THEN NULL ELSE now() END,
                queued_at = now(), assigned_at = NULL, started_at = NULL, gpu_id = NULL, worker_id = NULL, version = version + 1
            WHERE job_id = ANY(\(requeue)) AND status IN ('ASSIGNED', 'RUNNING')
            RETURNING \(unescaped: Self.columns)
            """,
            logger: logger
        ).collect().map(Self.task(from:))
    }

    /// The tasks of jobs whose lease expired with no attempt left: TIMEOUT (RUNNING), FAILED
    /// (ASSIGNED), or CANCELLED when a cancellation was asked for.
    func endLost(jobs end: [Int64], on connection: PostgresConnection, logger: Logger) async throws -> [SimulationTask] {
        guard !end.isEmpty else { return [] }
        return try await connection.run(
            """
            UPDATE simjobs.tasks
            SET status = CASE WHEN cancel_requested_at IS NOT NULL THEN 'CANCELLED' WHEN status = 'RUNNING' THEN 'TIMEOUT' ELSE 'FAILED' END,
                finished_at = now(), error_type = CASE WHEN cancel_requested_at IS NULL THEN 'worker_lost' END,
                error_message = CASE WHEN cancel_requested_at IS NULL
                                THEN 'The worker stopped heartbeating (its lease expired) and the task has no retries left.' END,
                version = version + 1
            WHERE job_id = ANY(\(end)) AND status IN ('ASSIGNED', 'RUNNING')
            RETURNING \(unescaped: Self.columns)
            """,
            logger: logger
        ).collect().map(Self.task(from:))
    }

    /// Runs a guarded UPDATE that returns the task's columns when it changed a row.
    private func changed(_ update: PostgresQuery, on connection: PostgresConnection, logger: Logger) async throws -> SimulationTask? {
        try await connection.run(update, logger: logger).collect().first.map(Self.task(from:))
    }
}
