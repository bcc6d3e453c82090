import Foundation
import Logging
import PostgresNIO
import StrataCore
public import StrataPostgres

/// The changes a worker makes, through ``TaskStore``'s lease-guarded statements: a worker whose
/// lease expired changes nothing.
extension TaskService {
    /// Runs a worker's guarded change (which returns the task when it changed a row) and, when
    /// it did, `then` and the change's record (the event `kind`, and `audit` when given), in one
    /// transaction, recorded for the worker.
    /// - Returns: The changed task, or `nil` when the guard refused (nothing is written).
    private func applyWorkerChange(
        kind: String,
        worker: String,
        audit: AuditRecord? = nil,
        _ update: @Sendable (PostgresConnection) async throws -> SimulationTask?,
        then: @Sendable (SimulationTask, PostgresConnection) async throws -> Void = { _, _ in }
    ) async throws -> SimulationTask? {
        try await pool.withTransaction { connection in
            guard let task = try await update(connection) else { return nil }
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
        let (store, logger) = (store, logger)
        return try await applyWorkerChange(kind: "task.assigned", worker: worker) { connection in
            try await store.assign(id, job: job, gpu: gpu, worker: worker, on: connection, logger: logger)
        }
    }

    /// ASSIGNED → RUNNING (the command is about to start). - Returns: `false` when the task was
    /// cancelled meanwhile or the lease is lost.
    func start(_ id: UUID, job: ClaimedJob, worker: String) async throws -> Bool {
        let (store, logger) = (store, logger)
        return try await applyWorkerChange(kind: "task.started", worker: worker) { connection in
            try await store.start(id, job: job, on: connection, logger: logger)
        } != nil
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
        let (store, logger) = (store, logger)
        return try await applyWorkerChange(
            kind: "task.\(target.rawValue.lowercased())",
            worker: worker,
            audit: AuditRecord(
                app: "simjobs",
                actor: nil,
                action: "status.change",
                resourceType: "task",
                resourceID: id.uuidString,
                detailsJSON: #"{"status":\#(JSONText.quoted(target.rawValue))}"#
            )
        ) { connection in
            try await store.finish(id, job: job, to: target, errorType: errorType, errorMessage: errorMessage, on: connection, logger: logger)
        } then: { _, connection in
            if case .completed(let result) = outcome { try await store.storeResult(id, result, on: connection, logger: logger) }
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
            for task in try await service.store.requeueLost(jobs: requeue, on: connection, logger: logger) {
                changed.append((task, task.status == .cancelled ? "task.cancelled" : "task.requeued"))
            }
            for task in try await service.store.endLost(jobs: end, on: connection, logger: logger) {
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
