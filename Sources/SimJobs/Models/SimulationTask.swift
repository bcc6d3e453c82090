public import Foundation
public import StrataCore

/// A simulation task as the API shows it (with `priority_name` and `is_completed` derived).
public struct SimulationTask: Sendable, Encodable, Equatable {
    public var id: UUID
    public var taskType: TaskType
    public var status: TaskStatus
    /// 0 (critical) to 3 (low).
    public var priority: Int
    public var modelName: String
    public var structureID: UUID?
    public var structureName: String
    public var parameters: JSONValue
    public var options: TaskOptions
    public var gpuID: Int?
    public var workerID: String?
    /// Attempts made (a lost worker's task runs again while retries are left).
    public var attempt: Int
    public var errorType: String?
    public var errorMessage: String?
    public var cancelRequested: Bool
    public var version: Int64
    public var createdAt: Date
    public var queuedAt: Date?
    public var assignedAt: Date?
    public var startedAt: Date?
    public var finishedAt: Date?
    public var updatedAt: Date

    public var isCompleted: Bool { status.isTerminal }

    enum CodingKeys: String, CodingKey {
        case id, status, priority, parameters, options, attempt, version
        case taskType = "task_type"
        case modelName = "model_name"
        case structureID = "structure_id"
        case structureName = "structure_name"
        case gpuID = "gpu_id"
        case workerID = "worker_id"
        case errorType = "error_type"
        case errorMessage = "error_message"
        case cancelRequested = "cancel_requested"
        case createdAt = "created_at"
        case queuedAt = "queued_at"
        case assignedAt = "assigned_at"
        case startedAt = "started_at"
        case finishedAt = "finished_at"
        case updatedAt = "updated_at"
        case isCompleted = "is_completed"
        case priorityName = "priority_name"
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(id, forKey: .id)
        try container.encode(taskType, forKey: .taskType)
        try container.encode(status, forKey: .status)
        try container.encode(priority, forKey: .priority)
        try container.encode(TaskPriority(rawValue: priority)?.name, forKey: .priorityName)
        try container.encode(modelName, forKey: .modelName)
        try container.encode(structureID, forKey: .structureID)
        try container.encode(structureName, forKey: .structureName)
        try container.encode(parameters, forKey: .parameters)
        try container.encode(options, forKey: .options)
        try container.encode(gpuID, forKey: .gpuID)
        try container.encode(workerID, forKey: .workerID)
        try container.encode(attempt, forKey: .attempt)
        try container.encode(errorType, forKey: .errorType)
        try container.encode(errorMessage, forKey: .errorMessage)
        try container.encode(cancelRequested, forKey: .cancelRequested)
        try container.encode(version, forKey: .version)
        try container.encode(createdAt, forKey: .createdAt)
        try container.encode(queuedAt, forKey: .queuedAt)
        try container.encode(assignedAt, forKey: .assignedAt)
        try container.encode(startedAt, forKey: .startedAt)
        try container.encode(finishedAt, forKey: .finishedAt)
        try container.encode(updatedAt, forKey: .updatedAt)
        try container.encode(isCompleted, forKey: .isCompleted)
    }

    public init(
        id: UUID,
        taskType: TaskType,
        status: TaskStatus,
        priority: Int,
        modelName: String,
        structureID: UUID?,
        structureName: String,
        parameters: JSONValue,
        options: TaskOptions,
        gpuID: Int?,
        workerID: String?,
        attempt: Int,
        errorType: String?,
        errorMessage: String?,
        cancelRequested: Bool,
        version: Int64,
        createdAt: Date,
        queuedAt: Date?,
        assignedAt: Date?,
        startedAt: Date?,
        finishedAt: Date?,
        updatedAt: Date
    ) {
        self.id = id
        self.taskType = taskType
        self.status = status
        self.priority = priority
        self.modelName = modelName
        self.structureID = structureID
        self.structureName = structureName
        self.parameters = parameters
        self.options = options
        self.gpuID = gpuID
        self.workerID = workerID
        self.attempt = attempt
        self.errorType = errorType
        self.errorMessage = errorMessage
        self.cancelRequested = cancelRequested
        self.version = version
        self.createdAt = createdAt
        self.queuedAt = queuedAt
        self.assignedAt = assignedAt
        self.startedAt = startedAt
        self.finishedAt = finishedAt
        self.updatedAt = updatedAt
    }
}

/// How a task runs: its time limit and how often a task whose worker was lost runs again.
public struct TaskOptions: Sendable, Codable, Equatable {
    /// The run's time limit (default 3600 s, at most 7 days); past it the task ends in TIMEOUT.
    public var timeoutSeconds: Int
    /// Runs after a lost worker (0 to 10, default 2); with none left the task ends in TIMEOUT.
    public var maxRetries: Int

    public init(timeoutSeconds: Int = 3600, maxRetries: Int = 2) {
        self.timeoutSeconds = timeoutSeconds
        self.maxRetries = maxRetries
    }

    enum CodingKeys: String, CodingKey {
        case timeoutSeconds = "timeout_seconds"
        case maxRetries = "max_retries"
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        timeoutSeconds = try container.decodeIfPresent(Int.self, forKey: .timeoutSeconds) ?? 3600
        maxRetries = try container.decodeIfPresent(Int.self, forKey: .maxRetries) ?? 2
    }

    /// The problems of these options, as field errors.
    func problems(prefix: String = "options") -> [StrataError.FieldError] {
        var errors: [StrataError.FieldError] = []
        if !(1...604_800).contains(timeoutSeconds) {
            errors.append(.init(field: "\(prefix).timeout_seconds", reason: "must be 1 to 604800 seconds"))
        }
        if !(0...10).contains(maxRetries) { errors.append(.init(field: "\(prefix).max_retries", reason: "must be 0 to 10")) }
        return errors
    }
}

/// One line of a task's log.
public struct TaskLogLine: Sendable, Codable, Equatable {
    public var id: Int64
    public var createdAt: Date
    public var level: String
    public var logger: String
    public var message: String
    public var gpuID: Int?

    enum CodingKeys: String, CodingKey {
        case id, level, logger, message
        case createdAt = "created_at"
        case gpuID = "gpu_id"
    }
}

/// What a finished task produced.
public struct TaskResult: Sendable, Codable, Equatable {
    public var taskID: UUID
    public var resultData: JSONValue
    public var outputFiles: JSONValue
    public var metrics: JSONValue
    public var durationSeconds: Double?

    enum CodingKeys: String, CodingKey {
        case taskID = "task_id"
        case resultData = "result_data"
        case outputFiles = "output_files"
        case metrics
        case durationSeconds = "duration_seconds"
    }
}
