public import Foundation
public import Logging
import PostgresNIO
public import StrataCore
public import StrataPostgres

/// Executions: started (with an optional dedup key), run by workers that claim them from the
/// platform queue under a lease, heartbeat, report progress and finish them; cancelled
/// cooperatively; crashed — and retried when the workflow says so — when their worker is lost.
/// Ending an execution updates the workflow's statistics in the same transaction.
public struct ExecutionService: Sendable {
    /// The platform queue executions wait on.
    public static let queue = "workflows.executions"
    /// The kind of an execution's job.
    static let jobKind = "workflows.execution"

    let pool: PostgresPool
    let store: ExecutionStore
    let workflows: WorkflowStore
    let jobs = JobQueue()
    /// The largest result kept, in bytes of JSON.
    let resultLimit: Int
    let logger: Logger

    public init(pool: PostgresPool, resultLimit: Int = 16 << 20, logger: Logger = Logger(label: "strata.workflows")) {
        self.pool = pool
        self.store = ExecutionStore(pool: pool)
        self.workflows = WorkflowStore(pool: pool)
        self.resultLimit = resultLimit
        self.logger = logger
    }

    /// A start as a client asks for it.
    public struct StartRequest: Sendable, Decodable {
        /// `manual` (default), `trigger` or `webhook`; `trigger` and `webhook` need an active workflow.
        public var mode: ExecutionMode?
        /// The execution's input (a JSON object).
        public var input: JSONValue?
        /// While an execution started with this key is unfinished, another start with it
        /// returns that execution.
        public var dedupKey: String?

        enum CodingKeys: String, CodingKey {
            case mode, input
            case dedupKey = "dedup_key"
        }

        public init(mode: ExecutionMode? = nil, input: JSONValue? = nil, dedupKey: String? = nil) {
            self.mode = mode
            self.input = input
            self.dedupKey = dedupKey
        }
    }

    // MARK: Starting

    /// Starts an execution of the workflow: New, its job on the platform queue.
    /// A manual execution runs the workflow's current graph; a trigger or webhook one runs the
    /// version pinned by its activation.
    /// - Returns: The execution, and whether this call created it (`false`: the dedup key named
    ///   an unfinished one).
    /// - Throws: `validation_failed`, `workflows.archived`, `workflows.inactive`, `not_found`.
    public func start(workflow id: UUID, _ request: StartRequest, by caller: Caller) async throws -> (execution: Execution, created: Bool) {
        let mode = request.mode ?? .manual
        var problems: [StrataError.FieldError] = []
        if mode == .retry { problems.append(.init(field: "mode", reason: "retry is made by POST /api/workflows/executions/{id}/retry")) }
        if let key = request.dedupKey, !(1...200).contains(key.textLength) {
            problems.append(.init(field: "dedup_key", reason: "must be 1 to 200 characters"))
        }
        let input = request.input ?? .object([:])
        if input.objectValue == nil { problems.append(.init(field: "input", reason: "must be a JSON object")) }
        let inputJSON = input.text
        if inputJSON.utf8.count > resultLimit { problems.append(.init(field: "input", reason: "is larger than \(resultLimit) bytes")) }
        if !problems.isEmpty { throw StrataError.validation(problems) }
        let (store, workflows, logger) = (store, workflows, logger)
        return try await pool.withTransaction { connection in
            guard let target = try await workflows.runTarget(id, on: connection, logger: logger) else { throw WorkflowService.notFound() }
            if target.isArchived {
                throw StrataError(
                    .workflowArchived,
                    "The workflow is archived: it cannot run. Unarchive it first.",
                    details: ["workflow_id": id.uuidString.lowercased()]
                )
            }
            let versionID: UUID
            if mode == .manual {
                versionID = target.versionID
            } else if target.status == .active, let active = target.activeVersionID {
                versionID = active
            } else {
                throw StrataError(
                    .workflowInactive,
                    "The workflow is \(target.status.rawValue): only an active workflow runs by \(mode.rawValue). Activate it, or start it manually.",
                    details: ["status": target.status.rawValue]
                )
            }
            if target.maxConcurrency != nil { try await store.lockConcurrency(of: id, on: connection, logger: logger) }
            let new = ExecutionStore.NewExecution(
                id: UUID.v7(),
                workflowID: id,
                versionID: versionID,
                mode: mode,
                triggeredBy: caller.actor,
                dedupKey: request.dedupKey,
                retryOf: nil,
                inputJSON: inputJSON,
                maxConcurrency: target.maxConcurrency
            )
            // A start racing another with the same key waits for it at the unique index, then
            // finds it; when that one ended meanwhile, this one inserts again.
            for _ in 0..<3 {
                if let execution = try await store.insert(new, on: connection, logger: logger) {
                    try await ChangeLog.record(Self.started(execution, by: "start", status: 201), by: caller, on: connection, logger: logger)
                    return (execution, true)
                }
                if let key = request.dedupKey, let existing = try await store.unfinished(workflow: id, dedupKey: key, on: connection, logger: logger)
                {
                    return (existing, false)
                }
            }
            throw StrataError(.concurrentUpdate, "Executions with this dedup key kept starting and ending; retry the start.")
        }
    }

    /// Starts a retry of an ended (failed, crashed or cancelled) execution: a new execution of
    /// the same version and input, `retry_of` naming this one.
    /// - Throws: `transition_refused` for an execution that did not end badly, `not_found`.
    public func retry(_ id: UUID, by caller: Caller) async throws -> Execution {
        guard let original = try await store.find(id) else { throw Self.notFound() }
        guard [.failed, .crashed, .cancelled].contains(original.status) else {
            throw original.status.refusal(
                "Only a failed, crashed or cancelled execution can be retried; this one is \(original.status.rawValue).",
                requested: .new,
                details: ["allowed_next": ""]
            )
        }
        let (store, workflows, logger) = (store, workflows, logger)
        return try await pool.withTransaction { connection in
            let limit = try await workflows.runTarget(original.workflowID, on: connection, logger: logger)?.maxConcurrency
            if limit != nil { try await store.lockConcurrency(of: original.workflowID, on: connection, logger: logger) }
            let retry = try await Self.insertRetry(of: original, maxConcurrency: limit, store: store, on: connection, logger: logger)
            try await ChangeLog.record(Self.started(retry, by: "retry", status: 201), by: caller, on: connection, logger: logger)
            return retry
        }
    }

    /// Inserts a retry of `original` (under the workflow's concurrency lock when it has a limit).
    static func insertRetry(
        of original: Execution,
        maxConcurrency: Int?,
        store: ExecutionStore,
        on connection: PostgresConnection,
        logger: Logger
    ) async throws -> Execution {
        let input = try await store.input(of: original.id, on: connection, logger: logger) ?? "{}"
        let new = ExecutionStore.NewExecution(
            id: UUID.v7(),
            workflowID: original.workflowID,
            versionID: original.versionID,
            mode: .retry,
            triggeredBy: original.triggeredBy,
            dedupKey: nil,
            retryOf: original.id,
            inputJSON: input,
            maxConcurrency: maxConcurrency
        )
        guard let retry = try await store.insert(new, on: connection, logger: logger) else {
            throw StrataError(.internalError, "A retry without a dedup key was not inserted.")
        }
        return retry
    }

    /// The change of a new execution: its event, audit entry and job.
    static func started(_ execution: Execution, by action: String, status: Int?) -> Change {
        var change = Change(
            app: "workflows",
            action: action,
            resourceType: "execution",
            resourceID: execution.id.uuidString.lowercased(),
            status: status,
            events: [event(execution, "execution.created")],
            jobs: execution.held ? [] : [job(for: execution.id, runAt: nil)]
        )
        if status == nil { change.audit = nil }
        return change
    }

    static func job(for execution: UUID, runAt: Date?) -> NewJob {
        NewJob(
            queue: queue,
            kind: jobKind,
            argsJSON: #"{"execution_id":"\#(execution.uuidString.lowercased())"}"#,
            runAt: runAt,
            maxAttempts: 1
        )
    }

    static func event(_ execution: Execution, _ kind: String) -> OutboxEvent {
        OutboxEvent(
            app: "workflows",
            aggregateType: "execution",
            aggregateID: execution.id.uuidString.lowercased(),
            kind: kind,
            payloadJSON: String(decoding: execution.jsonBytes, as: UTF8.self)
        )
    }

    // MARK: Reads

    /// The execution. - Throws: `not_found`.
    public func execution(_ id: UUID) async throws -> Execution {
        guard let execution = try await store.find(id) else { throw Self.notFound() }
        return execution
    }

    /// The execution's input, graph and result. - Throws: `not_found`.
    public func data(_ id: UUID) async throws -> ExecutionData {
        guard let data = try await store.data(id) else { throw Self.notFound() }
        return data
    }

    /// The execution's metadata (key → value). - Throws: `not_found`.
    public func metadata(_ id: UUID) async throws -> [String: String] {
        guard let metadata = try await store.metadata(id) else { throw Self.notFound() }
        return metadata
    }

    /// Executions newest first; with `metadataKey`, those that hold it (with `metadataValue`,
    /// with that value).
    public func list(
        workflow: UUID?,
        status: ExecutionStatus?,
        metadataKey: String? = nil,
        metadataValue: String? = nil,
        limit: Int,
        cursor: Cursor?
    ) async throws -> Page<Execution> {
        let filter = ExecutionStore.Filter(workflowID: workflow, status: status, metadataKey: metadataKey, metadataValue: metadataValue)
        return try await store.list(filter, limit: limit, cursor: cursor)
    }

    /// The execution's progress lines after line `after`.
    func log(_ id: UUID, after: Int64, limit: Int) async throws -> [ExecutionLogLine] {
        try await store.log(id, after: after, limit: limit)
    }

    /// The workflow's ended executions over the last `days` days (1 to 3650).
    public func stats(workflow id: UUID, days: Int) async throws -> ExecutionStats {
        guard (1...3650).contains(days) else { throw StrataError.validation([.init(field: "days", reason: "must be a whole number from 1 to 3650")]) }
        guard let stats = try await store.stats(workflow: id, days: days) else { throw WorkflowService.notFound() }
        return stats
    }

    // MARK: Cancelling

    /// Cancels the execution: a New or Waiting one at once, a Running one cooperatively (its
    /// worker is told at its next heartbeat and finishes it Cancelled).
    /// - Throws: `transition_refused` for an execution that already ended, `not_found`.
    public func cancel(_ id: UUID, by caller: Caller) async throws -> Execution {
        let (store, workflows, jobs, logger) = (store, workflows, jobs, logger)
        return try await pool.withTransaction { connection in
            guard let (execution, job) = try await store.cancel(id, on: connection, logger: logger) else {
                guard let current = try await store.find(id) else { throw Self.notFound() }
                throw current.status.refusal(to: .cancelled)
            }
            if execution.status == .running, let job { _ = try await jobs.cancel(id: job, on: connection, logger: logger) }
            var released: [NewJob] = []
            if execution.status == .cancelled,
                let limit = try await workflows.runTarget(execution.workflowID, on: connection, logger: logger)?.maxConcurrency
            {
                released = try await Self.releaseHeld(of: execution.workflowID, limit: limit, store: store, on: connection, logger: logger)
            }
            var change = Change(
                app: "workflows",
                action: "cancel",
                resourceType: "execution",
                resourceID: id.uuidString.lowercased(),
                status: execution.status == .cancelled ? 200 : 202,
                events: [Self.event(execution, execution.status == .cancelled ? "execution.cancelled" : "execution.cancel_requested")]
            )
            change.jobs = released
            try await ChangeLog.record(change, by: caller, on: connection, logger: logger)
            return execution
        }
    }

    /// Takes the workflow's concurrency lock and releases its held executions into the free
    /// slots; an end of an execution calls it after its own change (row locks first, then this
    /// lock, everywhere: no deadlock).
    /// - Returns: The jobs of the released executions.
    static func releaseHeld(
        of workflow: UUID,
        limit: Int,
        store: ExecutionStore,
        on connection: PostgresConnection,
        logger: Logger
    ) async throws -> [NewJob] {
        try await store.lockConcurrency(of: workflow, on: connection, logger: logger)
        return try await store.releaseHeld(of: workflow, limit: limit, on: connection, logger: logger).map { job(for: $0, runAt: nil) }
    }

    /// Pins the execution (kept from pruning, like an annotated one) or unpins it.
    /// - Throws: `not_found`.
    public func setPinned(_ id: UUID, _ pinned: Bool, by caller: Caller) async throws -> Execution {
        let (store, logger) = (store, logger)
        return try await pool.withTransaction { connection in
            guard let execution = try await store.setPinned(id, pinned, on: connection, logger: logger) else { throw Self.notFound() }
            let change = Change(
                app: "workflows",
                action: pinned ? "pin" : "unpin",
                resourceType: "execution",
                resourceID: id.uuidString.lowercased(),
                status: 200,
                events: [Self.event(execution, pinned ? "execution.pinned" : "execution.unpinned")]
            )
            try await ChangeLog.record(change, by: caller, on: connection, logger: logger)
            return execution
        }
    }

    static func notFound() -> StrataError { StrataError(.notFound, "No execution has this id.") }
}
