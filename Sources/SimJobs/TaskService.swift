public import Foundation
import Logging
import PostgresNIO
public import StrataCore
public import StrataEvents
public import StrataPostgres
public import StrataSecurity

/// The task server's rules. Each public change is one transaction holding the change, its
/// outbox event (`strata:events:simjobs`) and, for requests, its audit entry; tasks run
/// through the platform queue (queue `simjobs`, one job per task, the task's priority).
public struct TaskService: Sendable {
    /// The queue tasks run on, and the job kind.
    public static let queue = "simjobs"
    public static let jobKind = "simjobs.task"
    /// The most tasks in one batch.
    public static let batchLimit = 100

    let pool: PostgresPool
    let store: TaskStore
    let jobs = JobQueue()
    /// Seals callback secrets; `nil` where no task is submitted (a worker).
    let secrets: SecretBox?
    /// Which callback URLs are accepted.
    let outbound: OutboundAddressPolicy

    /// The events a callback can subscribe to.
    public static let callbackEvents = ["task.created", "task.started", "task.completed", "task.failed", "task.cancelled", "task.timeout"]

    /// - Parameter outbound: Which hosts a callback URL may name (the webhook deliverer checks
    ///   again with its own policy before each request).
    public init(pool: PostgresPool, secrets: SecretBox? = nil, outbound: OutboundAddressPolicy = .publicOnly) {
        self.pool = pool
        self.store = TaskStore(pool: pool)
        self.secrets = secrets
        self.outbound = outbound
    }

    var logger: Logger { pool.statementLogger }

    // MARK: Submission

    /// What a client asks to run.
    public struct Submission: Sendable, Decodable {
        public var taskType: TaskType?
        public var modelName: String
        public var structureID: UUID?
        public var structureName: String?
        public var parameters: JSONValue?
        public var priority: JSONValue?
        public var options: TaskOptions?
        /// Where to POST the task's events (Standard Webhooks).
        public var callbackURL: String?
        /// Which events (default: all of ``TaskService/callbackEvents``).
        public var callbackEvents: [String]?
        /// The receiver's signing secret (16 to 256 characters; `whsec_<base64>` is used as the
        /// bytes it encodes). Sealed at rest, never returned.
        public var callbackSecret: String?

        public init(
            taskType: TaskType? = nil,
            modelName: String,
            structureID: UUID? = nil,
            structureName: String? = nil,
            parameters: JSONValue? = nil,
            priority: TaskPriority = .normal,
            options: TaskOptions? = nil,
            callbackURL: String? = nil,
            callbackEvents: [String]? = nil,
            callbackSecret: String? = nil
        ) {
            self.callbackURL = callbackURL
            self.callbackEvents = callbackEvents
            self.callbackSecret = callbackSecret
            self.taskType = taskType
            self.modelName = modelName
            self.structureID = structureID
            self.structureName = structureName
            self.parameters = parameters
            self.priority = .number(Double(priority.rawValue))
            self.options = options
        }

        enum CodingKeys: String, CodingKey {
            case parameters, priority, options
            case taskType = "task_type"
            case modelName = "model_name"
            case structureID = "structure_id"
            case structureName = "structure_name"
            case callbackURL = "callback_url"
            case callbackEvents = "callback_events"
            case callbackSecret = "callback_secret"
        }

        /// The checked submission, or the field errors (prefixed for batches).
        func validated(type: TaskType?, prefix: String, outbound: OutboundAddressPolicy) -> (Validated?, [StrataError.FieldError]) {
            var errors: [StrataError.FieldError] = []
            let resolvedType = type ?? taskType
            if resolvedType == nil {
                errors.append(
                    .init(field: "\(prefix)task_type", reason: "is required: one of \(TaskType.allCases.map(\.rawValue).joined(separator: ", "))")
                )
            }
            if modelName.isEmpty || modelName.textLength > 100 {
                errors.append(.init(field: "\(prefix)model_name", reason: "must be 1 to 100 characters"))
            }
            let name = structureName ?? ""
            if structureID == nil && name.isEmpty {
                errors.append(.init(field: "\(prefix)structure_name", reason: "is required when structure_id is not given"))
            }
            if name.textLength > 255 { errors.append(.init(field: "\(prefix)structure_name", reason: "must be at most 255 characters")) }
            let parameters = parameters ?? .object([:])
            if parameters.objectValue == nil { errors.append(.init(field: "\(prefix)parameters", reason: "must be a JSON object")) }
            let parametersText = parameters.text
            if parametersText.utf8.count > 65_536 { errors.append(.init(field: "\(prefix)parameters", reason: "must be at most 64 KiB of JSON")) }
            let priority = self.priority.map(TaskPriority.init(json:)) ?? .normal
            if priority == nil { errors.append(.init(field: "\(prefix)priority", reason: "must be 0 to 3 or CRITICAL, HIGH, NORMAL, LOW")) }
            let options = options ?? TaskOptions()
            errors += options.problems(prefix: "\(prefix)options")
            var callback: Callback?
            if let callbackURL {
                if let problem = outbound.problem(with: callbackURL) {
                    errors.append(.init(field: "\(prefix)callback_url", reason: problem))
                }
                let events = callbackEvents ?? TaskService.callbackEvents
                if events.isEmpty || !Set(events).isSubset(of: TaskService.callbackEvents) {
                    errors.append(
                        .init(field: "\(prefix)callback_events", reason: "must list some of \(TaskService.callbackEvents.joined(separator: ", "))")
                    )
                }
                if let secret = callbackSecret, (16...256).contains(secret.textLength) {
                    callback = Callback(url: callbackURL, events: Array(Set(events)).sorted(), secret: secret)
                } else {
                    errors.append(.init(field: "\(prefix)callback_secret", reason: "is required with callback_url: 16 to 256 characters"))
                }
            } else if callbackEvents != nil || callbackSecret != nil {
                errors.append(.init(field: "\(prefix)callback_url", reason: "is required with callback_events or callback_secret"))
            }
            guard errors.isEmpty, let resolvedType, let priority else { return (nil, errors) }
            return (
                Validated(
                    type: resolvedType,
                    modelName: modelName,
                    structureID: structureID,
                    structureName: structureName,
                    parametersText: parametersText,
                    priority: priority,
                    options: options,
                    callback: callback
                ), []
            )
        }
    }

    struct Validated: Sendable {
        var type: TaskType
        var modelName: String
        var structureID: UUID?
        var structureName: String?
        /// The parameters object as JSON text.
        var parametersText: String
        var priority: TaskPriority
        var options: TaskOptions
        var callback: Callback?
    }

    struct Callback: Sendable {
        var url: String
        var events: [String]
        var secret: String
    }

    /// Submits tasks (all or none): each is checked against the models and structures and
    /// created QUEUED with its job, in one transaction. A task takes one statement for its job
    /// and one for its row (the model and structure checks, its callback), the submission one
    /// more for its events, audit entry and webhook deliveries: with the transaction's `BEGIN`
    /// and `COMMIT`, five round trips for one task.
    /// - Parameter type: The task type of every submission (the route's), or `nil` to read each
    ///   one's `task_type` (batches).
    /// - Throws: `validation_failed` listing every bad field (`tasks[i].…` in batches);
    ///   `invalid_reference` for an unknown or disabled model or structure.
    public func submit(_ submissions: [Submission], type: TaskType?, by caller: Caller) async throws -> [SimulationTask] {
        guard (1...Self.batchLimit).contains(submissions.count) else {
            throw StrataError.validation([.init(field: "tasks", reason: "must hold 1 to \(Self.batchLimit) tasks")])
        }
        var checked: [Validated] = []
        var errors: [StrataError.FieldError] = []
        for (index, submission) in submissions.enumerated() {
            let (valid, problems) = submission.validated(type: type, prefix: type == nil ? "tasks[\(index)]." : "", outbound: outbound)
            errors += problems
            if let valid { checked.append(valid) }
        }
        guard errors.isEmpty else { throw StrataError.validation(errors) }
        // Each task with its callback, the secret sealed (before the transaction: it is CPU work).
        let valid = try checked.map { task -> (Validated, TaskStore.Callback?) in
            guard let callback = task.callback else { return (task, nil) }
            guard let secrets else { throw StrataError(.internalError, "This task service cannot seal callback secrets.") }
            return (task, TaskStore.Callback(url: callback.url, events: callback.events, sealedSecret: try secrets.seal(callback.secret)))
        }
        return try await pool.withTransaction { connection in
            var created: [SimulationTask] = []
            var callbacks: [UUID: TaskStore.Callback] = [:]
            for (task, callback) in valid {
                let id = UUID()
                let jobID = try await jobs.enqueue(
                    NewJob(
                        queue: Self.queue,
                        kind: Self.jobKind,
                        argsJSON: #"{"task_id":"\#(id.uuidString)","model_name":\#(JSONText.quoted(task.modelName))}"#,
                        priority: task.priority.rawValue,
                        maxAttempts: task.options.maxRetries + 1
                    ),
                    on: connection,
                    logger: logger
                )
                let inserted = try await store.insert(task, id: id, jobID: jobID, callback: callback, on: connection, logger: logger)
                created.append(inserted)
                callbacks[inserted.id] = callback
            }
            let ids = created.map(\.id.uuidString).joined(separator: ",")
            var change = try taskChange(created.map { ($0, "task.created") }, callbacks: callbacks)
            change.audit = AuditRecord(
                app: "simjobs",
                actor: nil,
                action: created.count == 1 ? "create" : "create.batch",
                resourceType: "task",
                resourceID: created.count == 1 ? created[0].id.uuidString : nil,
                responseStatus: 202,
                detailsJSON: #"{"tasks":\#(JSONText.quoted(ids))}"#
            )
            try await ChangeLog.record(change, by: caller, on: connection, logger: logger)
            return created
        }
    }

    // MARK: Reads

    /// A task, or `not_found`.
    public func task(_ id: UUID) async throws -> SimulationTask {
        guard let task = try await pool.withConnection({ try await store.find(id, on: $0, logger: logger) }) else {
            throw StrataError(.notFound, "No task has this id.")
        }
        return task
    }

    /// Only a task's status (what a log stream polls for).
    /// - Throws: `not_found`.
    public func status(_ id: UUID) async throws -> TaskStatus {
        guard let status = try await store.status(id) else { throw StrataError(.notFound, "No task has this id.") }
        return status
    }

    /// Filters of the task list.
    public struct Filter: Sendable, Equatable {
        public var status: TaskStatus?
        public var taskType: TaskType?
        public var modelName: String?

        public init(status: TaskStatus? = nil, taskType: TaskType? = nil, modelName: String? = nil) {
            self.status = status
            self.taskType = taskType
            self.modelName = modelName
        }
    }

    /// Tasks newest first, a page at a time (``NewestFirst``).
    public func list(_ filter: Filter, limit: Int, cursor: Cursor?) async throws -> Page<SimulationTask> {
        try await store.list(filter, limit: limit, cursor: cursor)
    }

    /// A finished task's result.
    /// - Throws: `not_found` (no task), `simjobs.result_not_ready` (409, not finished or
    ///   finished without a result), `gone` (410, removed after 180 days).
    public func result(_ id: UUID) async throws -> TaskResult {
        guard let (result, expired) = try await store.result(id) else {
            let task = try await task(id)  // not_found, or why there is no result
            throw StrataError(
                .resultNotReady,
                task.status.isTerminal
                    ? "The task ended \(task.status.rawValue) without a result." : "The task is \(task.status.rawValue); it has no result yet.",
                details: ["status": task.status.rawValue]
            )
        }
        if let expired {
            throw StrataError(
                .gone,
                "The result expired on \(expired.formatted(.iso8601)): results are kept 180 days.",
                details: ["expired_at": expired.formatted(.iso8601)]
            )
        }
        return result
    }

    /// A task's log lines in order, after `afterID`.
    public func logs(_ id: UUID, afterID: Int64, limit: Int, level: String? = nil) async throws -> [TaskLogLine] {
        try await store.logs(id, afterID: afterID, limit: limit, level: level)
    }

    /// The workers that announced themselves, online first, then by name.
    public func workers() async throws -> [WorkerStatus] {
        try await store.workers()
    }

    /// Task counts by status, and the waiting tasks by priority.
    public func queueStatus() async throws -> QueueStatus {
        try await store.queueStatus()
    }

    // MARK: Cancellation

    /// Cancels a task: at once when it waits (PENDING, QUEUED, ASSIGNED), cooperatively when it
    /// runs (its worker stops the command at its next heartbeat and marks it CANCELLED).
    /// - Throws: `not_found`; `transition_refused` (409) when it has ended.
    public func cancel(_ id: UUID, by caller: Caller) async throws -> SimulationTask {
        try await pool.withTransaction { connection in
            guard let (task, jobID) = try await store.cancel(id, on: connection, logger: logger) else {
                throw try await store.refusal(id, to: .cancelled, on: connection, logger: logger)
            }
            if let jobID { _ = try await jobs.cancel(id: jobID, on: connection, logger: logger) }
            let status = task.status == .cancelled ? 200 : 202  // at once, or asked of the running worker
            var change = try await taskChange([(task, task.status == .cancelled ? "task.cancelled" : "task.cancel_requested")], on: connection)
            change.audit = AuditRecord(
                app: "simjobs",
                actor: nil,
                action: "cancel",
                resourceType: "task",
                resourceID: id.uuidString,
                responseStatus: status
            )
            try await ChangeLog.record(change, by: caller, on: connection, logger: logger)
            return task
        }
    }

    /// The change of task state changes: the outbox event of each, and a webhook delivery for
    /// each change its task's stored callback subscribes to. The caller adds the audit entry a
    /// request makes.
    func taskChange(_ changes: [(task: SimulationTask, kind: String)], on connection: PostgresConnection) async throws -> Change {
        let subscribable = changes.filter { Self.callbackEvents.contains($0.kind) }
        let callbacks =
            subscribable.isEmpty ? [:] : try await store.callbacks(of: subscribable.map(\.task.id), on: connection, logger: logger)
        return try taskChange(changes, callbacks: callbacks)
    }

    /// ``taskChange(_:on:)`` with the callbacks known (a submission's own).
    func taskChange(_ changes: [(task: SimulationTask, kind: String)], callbacks: [UUID: TaskStore.Callback]) throws -> Change {
        let events = try changes.map { try event(for: $0.task, kind: $0.kind) }
        let messages = changes.indices.compactMap { index -> WebhookMessage? in
            let (task, kind) = changes[index]
            guard Self.callbackEvents.contains(kind), let callback = callbacks[task.id], callback.events.contains(kind) else { return nil }
            return WebhookMessage(type: kind, url: callback.url, dataJSON: events[index].payloadJSON, sealedSecret: callback.sealedSecret)
        }
        return Change(events: events, jobs: try WebhookDelivery.jobs(for: messages))
    }

    func event(for task: SimulationTask, kind: String) throws -> OutboxEvent {
        try OutboxEvent(app: "simjobs", aggregateType: "task", aggregateID: task.id.uuidString, kind: kind, payload: task)
    }
}

/// The queue at a glance.
public struct QueueStatus: Sendable, Codable, Equatable {
    /// Tasks by status (ended tasks of the last day only).
    public var byStatus: [String: Int] = [:]
    /// Waiting (QUEUED) tasks by priority name.
    public var queuedByPriority: [String: Int] = [:]

    enum CodingKeys: String, CodingKey {
        case byStatus = "by_status"
        case queuedByPriority = "queued_by_priority"
    }
}

extension StrataError.Code {
    /// The task has no result (yet): 409 with its status.
    public static let resultNotReady = Self("simjobs.result_not_ready", kind: .conflict)
}
