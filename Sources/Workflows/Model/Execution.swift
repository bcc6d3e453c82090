public import Foundation
public import StrataCore

/// An execution of a workflow as the API shows it.
public struct Execution: Sendable, Encodable {
    public var id: UUID
    public var workflowID: UUID
    /// The graph version it runs.
    public var versionID: UUID
    public var status: ExecutionStatus
    public var mode: ExecutionMode
    public var triggeredBy: String?
    public var dedupKey: String?
    /// The execution this one retries.
    public var retryOf: UUID?
    /// The retry of this one that succeeded.
    public var retrySuccessID: UUID?
    public var workerID: String?
    public var cancelRequested: Bool
    public var errorMessage: String?
    public var startedAt: Date?
    public var finishedAt: Date?
    public var waitTill: Date?
    public var pinned: Bool
    /// Waiting for a slot of its workflow's concurrency limit (New, not queued yet).
    public var held: Bool
    public var createdAt: Date
    public var updatedAt: Date
    public var version: Int64

    enum CodingKeys: String, CodingKey {
        case id, status, mode, pinned, held, version
        case workflowID = "workflow_id"
        case versionID = "version_id"
        case triggeredBy = "triggered_by"
        case dedupKey = "dedup_key"
        case retryOf = "retry_of"
        case retrySuccessID = "retry_success_id"
        case workerID = "worker_id"
        case cancelRequested = "cancel_requested"
        case errorMessage = "error_message"
        case startedAt = "started_at"
        case finishedAt = "finished_at"
        case waitTill = "wait_till"
        case createdAt = "created_at"
        case updatedAt = "updated_at"
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(id, forKey: .id)
        try container.encode(workflowID, forKey: .workflowID)
        try container.encode(versionID, forKey: .versionID)
        try container.encode(status, forKey: .status)
        try container.encode(mode, forKey: .mode)
        try container.encode(triggeredBy, forKey: .triggeredBy)
        try container.encode(dedupKey, forKey: .dedupKey)
        try container.encode(retryOf, forKey: .retryOf)
        try container.encode(retrySuccessID, forKey: .retrySuccessID)
        try container.encode(workerID, forKey: .workerID)
        try container.encode(cancelRequested, forKey: .cancelRequested)
        try container.encode(errorMessage, forKey: .errorMessage)
        try container.encode(startedAt, forKey: .startedAt)
        try container.encode(finishedAt, forKey: .finishedAt)
        try container.encode(waitTill, forKey: .waitTill)
        try container.encode(pinned, forKey: .pinned)
        try container.encode(held, forKey: .held)
        try container.encode(createdAt, forKey: .createdAt)
        try container.encode(updatedAt, forKey: .updatedAt)
        try container.encode(version, forKey: .version)
    }
}

/// What an execution was given and produced.
public struct ExecutionData: Sendable, Encodable {
    public var executionID: UUID
    public var input: RawJSON
    /// The graph it ran: `{"nodes": […], "connections": […]}`.
    public var workflowData: RawJSON
    /// Its result; `null` while it runs, or when the workflow keeps no data of such runs.
    public var result: RawJSON?

    enum CodingKeys: String, CodingKey {
        case input, result
        case executionID = "execution_id"
        case workflowData = "workflow_data"
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(executionID, forKey: .executionID)
        try container.encode(input, forKey: .input)
        try container.encode(workflowData, forKey: .workflowData)
        try container.encode(result, forKey: .result)
    }
}

/// An execution a worker claimed: what to run and the lease that guards its reports.
public struct ClaimedExecution: Sendable, Encodable {
    public var execution: Execution
    /// The lease token to send with every heartbeat, progress report and finish.
    public var lease: String
    public var leaseExpiresAt: Date
    public var input: RawJSON
    /// The graph to run: `{"nodes": […], "connections": […]}`.
    public var workflowData: RawJSON

    enum CodingKeys: String, CodingKey {
        case execution, lease, input
        case leaseExpiresAt = "lease_expires_at"
        case workflowData = "workflow_data"
    }
}

/// Ended executions of a workflow over a window: the seed's `get_execution_stats`.
public struct ExecutionStats: Sendable, Codable, Equatable {
    public var workflowID: UUID
    public var days: Int
    /// The window's start (hour-aligned); it ends now.
    public var since: Date
    public var totalExecutions: Int64
    public var successfulExecutions: Int64
    public var failedExecutions: Int64
    /// The mean duration of the executions that started and ended, in milliseconds; `null`
    /// when none did.
    public var avgDurationMs: Double?

    enum CodingKeys: String, CodingKey {
        case days, since
        case workflowID = "workflow_id"
        case totalExecutions = "total_executions"
        case successfulExecutions = "successful_executions"
        case failedExecutions = "failed_executions"
        case avgDurationMs = "avg_duration_ms"
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(workflowID, forKey: .workflowID)
        try container.encode(days, forKey: .days)
        try container.encode(since, forKey: .since)
        try container.encode(totalExecutions, forKey: .totalExecutions)
        try container.encode(successfulExecutions, forKey: .successfulExecutions)
        try container.encode(failedExecutions, forKey: .failedExecutions)
        try container.encode(avgDurationMs, forKey: .avgDurationMs)
    }
}

/// One progress line of an execution's log.
public struct ExecutionLogLine: Sendable, Encodable {
    public var id: Int64
    /// The node it is about, when the worker said.
    public var node: String?
    public var message: String
    public var createdAt: Date

    enum CodingKeys: String, CodingKey {
        case id, node, message
        case createdAt = "created_at"
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(id, forKey: .id)
        try container.encode(node, forKey: .node)
        try container.encode(message, forKey: .message)
        try container.encode(createdAt, forKey: .createdAt)
    }
}

extension Execution: JSONWritable {
    public func write(to json: inout JSONWriter) {
        json.object { json in
            json.field("cancel_requested", cancelRequested)
            json.field("created_at", createdAt)
            json.field("dedup_key", orNull: dedupKey)
            json.field("error_message", orNull: errorMessage)
            json.field("finished_at", orNull: finishedAt)
            json.field("held", held)
            json.field("id", id)
            json.field("mode", mode)
            json.field("pinned", pinned)
            json.field("retry_of", orNull: retryOf)
            json.field("retry_success_id", orNull: retrySuccessID)
            json.field("started_at", orNull: startedAt)
            json.field("status", status)
            json.field("triggered_by", orNull: triggeredBy)
            json.field("updated_at", updatedAt)
            json.field("version", version)
            json.field("version_id", versionID)
            json.field("wait_till", orNull: waitTill)
            json.field("worker_id", orNull: workerID)
            json.field("workflow_id", workflowID)
        }
    }
}

extension ExecutionData: JSONWritable {
    public func write(to json: inout JSONWriter) {
        json.object { json in
            json.field("execution_id", executionID)
            json.field("input", input)
            json.field("result", orNull: result)
            json.field("workflow_data", workflowData)
        }
    }
}

extension ClaimedExecution: JSONWritable {
    public func write(to json: inout JSONWriter) {
        json.object { json in
            json.field("execution", execution)
            json.field("input", input)
            json.field("lease", lease)
            json.field("lease_expires_at", leaseExpiresAt)
            json.field("workflow_data", workflowData)
        }
    }
}
