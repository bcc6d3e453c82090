public import Foundation
import Logging
import PostgresNIO
public import StrataCore
public import StrataPostgres

/// The worker protocol: the same service whether the worker is an external engine over HTTP
/// or `strata workflows runner`. A worker claims executions from the platform queue under a
/// lease, heartbeats while it runs them, appends progress, and finishes each with its result;
/// every report names the lease, and a report under a lost lease changes nothing.
extension ExecutionService {
    /// A lease as a worker holds it: `<job id>.<token>`.
    static func leaseText(_ job: ClaimedJob) -> String { "\(job.id).\(job.leaseToken.uuidString.lowercased())" }

    /// The job a lease text names.
    /// - Throws: `workflows.lease_lost` for a text that is not a lease.
    static func job(lease text: String) throws -> ClaimedJob {
        let parts = text.split(separator: ".", maxSplits: 1)
        guard parts.count == 2, let id = Int64(parts[0]), let token = UUID(uuidString: String(parts[1])) else {
            throw StrataError(.invalidValue, "The lease is not one this server handed out (`<job id>.<token>`).", details: ["field": "lease"])
        }
        return ClaimedJob(id: id, queue: queue, kind: jobKind, leaseToken: token)
    }

    static func leaseLost(_ id: UUID) -> StrataError {
        StrataError(
            .leaseLost,
            "This lease no longer holds the execution (it expired, or the execution ended); stop working on it.",
            details: ["execution_id": id.uuidString.lowercased()]
        )
    }

    /// The most metadata keys an execution keeps.
    public static let metadataLimit = 100

    /// Claims up to `limit` executions for `worker`, each leased for `lease`.
    /// - Returns: The executions started (Running), with what to run; empty when none waits.
    public func claim(worker: String, limit: Int, lease: Duration, by caller: Caller) async throws -> [ClaimedExecution] {
        guard (1...200).contains(worker.textLength) else {
            throw StrataError.validation([.init(field: "worker", reason: "must be 1 to 200 characters")])
        }
        guard (1...100).contains(limit) else { throw StrataError.validation([.init(field: "limit", reason: "must be 1 to 100")]) }
        let (store, jobs, logger) = (store, jobs, logger)
        return try await pool.withTransaction { connection in
            let claimed = try await jobs.claim(queue: Self.queue, limit: limit, worker: worker, lease: lease, on: connection, logger: logger)
            guard !claimed.isEmpty else { return [] }
            var byExecution: [UUID: ClaimedJob] = [:]
            for job in claimed {
                if let id = (try? JSONValue(parsing: job.argsJSON))?["execution_id"]?.stringValue.flatMap(UUID.init(uuidString:)) {
                    byExecution[id] = job
                }
            }
            let started = try await store.start(byExecution.map { ($0.key, $0.value.id) }, worker: worker, on: connection, logger: logger)
            // Jobs whose execution was cancelled (or removed) before it started end here.
            let startedIDs = Set(started.map(\.execution.id))
            let idle = claimed.filter { job in !byExecution.contains { $0.value.id == job.id && startedIDs.contains($0.key) } }
            _ = try await jobs.complete(idle.map { ($0, nil) }, on: connection, logger: logger)
            let expires = Date().addingTimeInterval(Double(lease.milliseconds) / 1000)
            let change = Self.workerChange(
                "claim",
                of: started.map(\.execution),
                kind: "execution.started",
                details: ["worker": .string(worker), "execution_ids": .array(started.map { .string($0.execution.id.uuidString.lowercased()) })],
                by: caller
            )
            try await ChangeLog.record(change, by: caller, on: connection, logger: logger)
            return started.compactMap { started in
                byExecution[started.execution.id].map { job in
                    ClaimedExecution(
                        execution: started.execution,
                        lease: Self.leaseText(job),
                        leaseExpiresAt: expires,
                        input: started.input,
                        workflowData: started.workflowData
                    )
                }
            }
        }
    }

    /// Extends the lease of a running execution.
    /// - Returns: Whether its cancellation was asked for (the worker should stop and finish it
    ///   `cancelled`).
    /// - Throws: `workflows.lease_lost` when the lease no longer holds it.
    public func heartbeat(_ id: UUID, lease text: String, extendBy lease: Duration) async throws -> Bool {
        let job = try Self.job(lease: text)
        let (jobs, logger) = (jobs, logger)
        let held = try await pool.withConnection { connection in
            try await jobs.heartbeat(job, lease: lease, on: connection, logger: logger)
        }
        guard let cancelRequested = held else { throw Self.leaseLost(id) }
        return cancelRequested
    }

    /// Appends progress lines to a running execution's log.
    /// - Throws: `workflows.lease_lost`.
    public func progress(_ id: UUID, lease text: String, lines: [(node: String?, message: String)]) async throws {
        let job = try Self.job(lease: text)
        guard !lines.isEmpty else { return }
        let (store, logger) = (store, logger)
        let held = try await pool.withConnection { connection in
            try await store.appendLog(id, job: job, lines: lines, on: connection, logger: logger)
        }
        if !held { throw Self.leaseLost(id) }
    }

    /// How a worker ends its run.
    public struct Outcome: Sendable, Decodable {
        /// `success`, `failed`, `cancelled`, or `waiting` (with `wait_till`: the execution waits
        /// and is claimed again then).
        public var status: ExecutionStatus
        /// The result (any JSON), kept as the workflow's settings say.
        public var result: JSONValue?
        /// Why it failed.
        public var error: String?
        public var waitTill: Date?
        /// Custom data to keep with the execution (n8n's `customData`): keys 1 to 255
        /// characters, values up to 10,000, at most ``ExecutionService/metadataLimit`` keys; a
        /// key set before is replaced. Lists filter on it (`metadata_key`, `metadata_value`).
        public var metadata: [String: String]?

        enum CodingKeys: String, CodingKey {
            case status, result, error, metadata
            case waitTill = "wait_till"
        }

        public init(
            status: ExecutionStatus,
            result: JSONValue? = nil,
            error: String? = nil,
            waitTill: Date? = nil,
            metadata: [String: String]? = nil
        ) {
            self.status = status
            self.result = result
            self.error = error
            self.waitTill = waitTill
            self.metadata = metadata
        }
    }

    /// Ends a running execution under its lease: its status, result and statistics in one
    /// transaction; the job completes (or, for `waiting`, is queued again for `wait_till`).
    /// - Throws: `validation_failed`, `workflows.lease_lost`, `transition_refused`.
    public func finish(_ id: UUID, lease text: String, _ outcome: Outcome, by caller: Caller) async throws -> Execution {
        let job = try Self.job(lease: text)
        var problems: [StrataError.FieldError] = []
        if ![.success, .failed, .cancelled, .waiting].contains(outcome.status) {
            problems.append(.init(field: "status", reason: "must be success, failed, cancelled or waiting"))
        }
        if outcome.status == .waiting, outcome.waitTill == nil { problems.append(.init(field: "wait_till", reason: "is required with waiting")) }
        if outcome.status != .waiting, outcome.waitTill != nil { problems.append(.init(field: "wait_till", reason: "goes only with waiting")) }
        if let error = outcome.error, error.textLength > 10_000 { problems.append(.init(field: "error", reason: "at most 10000 characters")) }
        let resultJSON = outcome.result.map(\.text)
        if let resultJSON, resultJSON.utf8.count > resultLimit {
            problems.append(.init(field: "result", reason: "is larger than \(resultLimit) bytes (WORKFLOWS_MAX_RESULT_BYTES)"))
        }
        let metadata = (outcome.metadata ?? [:]).sorted { $0.key < $1.key }
        if metadata.count > Self.metadataLimit {
            problems.append(.init(field: "metadata", reason: "at most \(Self.metadataLimit) keys"))
        }
        for (key, value) in metadata {
            if !(1...255).contains(key.textLength) { problems.append(.init(field: "metadata", reason: "keys must be 1 to 255 characters")) }
            if value.textLength > 10_000 { problems.append(.init(field: "metadata.\(key.prefix(255))", reason: "at most 10000 characters")) }
        }
        if !problems.isEmpty { throw StrataError.validation(problems) }
        let (store, jobs, logger) = (store, jobs, logger)
        return try await pool.withTransaction { connection in
            guard
                let (execution, maxConcurrency) = try await store.finish(
                    id,
                    job: job,
                    to: outcome.status,
                    errorMessage: outcome.error,
                    waitTill: outcome.waitTill,
                    resultJSON: resultJSON,
                    metadata: metadata,
                    on: connection,
                    logger: logger
                )
            else {
                guard let current = try await store.find(id) else { throw Self.notFound() }
                if current.status == .running || current.status.allows(outcome.status) { throw Self.leaseLost(id) }
                throw current.status.refusal(to: outcome.status)
            }
            _ = try await jobs.complete(job, on: connection, logger: logger)
            var change = Self.workerChange(
                "finish",
                of: [execution],
                kind: "execution.\(execution.status.rawValue)",
                details: ["execution_id": .string(id.uuidString.lowercased()), "status": .string(execution.status.rawValue)],
                by: caller
            )
            if execution.status == .waiting { change.jobs = [Self.job(for: id, runAt: outcome.waitTill)] }
            if let limit = maxConcurrency, execution.status.isTerminal {
                change.jobs += try await Self.releaseHeld(of: execution.workflowID, limit: limit, store: store, on: connection, logger: logger)
            }
            try await ChangeLog.record(change, by: caller, on: connection, logger: logger)
            return execution
        }
    }

    /// A worker's change (a claim or a finish): an event per execution, its actor the worker
    /// that ran it, and an audit entry when a request made the change (an API worker's); the
    /// runner's own changes are told by their events.
    static func workerChange(
        _ action: String,
        of executions: [Execution],
        kind: String,
        details: [String: JSONValue],
        by caller: Caller
    ) -> Change {
        var change = Change(
            app: "workflows",
            action: action,
            resourceType: "execution",
            resourceID: executions.count == 1 ? executions[0].id.uuidString.lowercased() : nil,
            status: 200,
            details: details,
            events: executions.map { execution in
                var event = Self.event(execution, kind)
                event.actor = "worker:\(execution.workerID ?? "worker")"
                return event
            }
        )
        if caller.requestID == nil { change.audit = nil }
        return change
    }

    /// The queue's follow-up on executions whose worker was lost (their job's lease expired):
    /// Running → Crashed, and a retry started when the workflow's `retry_on_crash` allows
    /// one more. Runs in the rescue's transaction.
    public static func rescueHandler(pool: PostgresPool) -> RescueHandler {
        { rescued, connection, logger in
            let store = ExecutionStore(pool: pool)
            let crashed = try await store.crash(jobs: rescued.map(\.id), on: connection, logger: logger)
            var change = Change()
            for (execution, allowed, before, limit) in crashed {
                change.events.append(event(execution, "execution.crashed"))
                if let limit {
                    change.jobs += try await releaseHeld(of: execution.workflowID, limit: limit, store: store, on: connection, logger: logger)
                }
                if before < allowed {
                    let retry = try await insertRetry(of: execution, maxConcurrency: limit, store: store, on: connection, logger: logger)
                    change.events.append(event(retry, "execution.created"))
                    if !retry.held { change.jobs.append(job(for: retry.id, runAt: nil)) }
                }
            }
            if !crashed.isEmpty {
                logger.warning("executions crashed (worker lost)", metadata: ["strata.workflows.crashed": "\(crashed.count)"])
                try await ChangeLog.record(change, by: .job("workflows.rescue"), on: connection, logger: logger)
            }
        }
    }
}
