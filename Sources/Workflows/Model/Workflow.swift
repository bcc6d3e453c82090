public import Foundation
import PostgresNIO
public import StrataCore

/// What a workflow keeps of its executions and how it runs them (its `settings`; n8n's
/// `saveDataSuccessExecution`, `saveDataErrorExecution`, `saveManualExecutions`).
public struct WorkflowSettings: Sendable, Equatable, Codable {
    /// Whether to keep what a run produced: `all` or `none`.
    public enum Keep: String, Sendable, Codable, CaseIterable {
        case all
        case none
    }

    /// The data of successful executions.
    public var saveDataSuccessExecution: Keep?
    /// The data of failed, crashed and cancelled executions.
    public var saveDataErrorExecution: Keep?
    /// The data of manual executions (whatever their end).
    public var saveManualExecutions: Bool?
    /// How many times an execution whose worker was lost is started again (0 to 10, default 0:
    /// it ends Crashed).
    public var retryOnCrash: Int?
    /// Most executions of this workflow running at once (1 to 1000; none: no limit).
    public var maxConcurrency: Int?

    enum CodingKeys: String, CodingKey {
        case saveDataSuccessExecution = "save_data_success_execution"
        case saveDataErrorExecution = "save_data_error_execution"
        case saveManualExecutions = "save_manual_executions"
        case retryOnCrash = "retry_on_crash"
        case maxConcurrency = "max_concurrency"
    }

    public init(
        saveDataSuccessExecution: Keep? = nil,
        saveDataErrorExecution: Keep? = nil,
        saveManualExecutions: Bool? = nil,
        retryOnCrash: Int? = nil,
        maxConcurrency: Int? = nil
    ) {
        self.saveDataSuccessExecution = saveDataSuccessExecution
        self.saveDataErrorExecution = saveDataErrorExecution
        self.saveManualExecutions = saveManualExecutions
        self.retryOnCrash = retryOnCrash
        self.maxConcurrency = maxConcurrency
    }

    /// The field errors of out-of-range settings (`settings.retry_on_crash` …).
    var problems: [StrataError.FieldError] {
        var problems: [StrataError.FieldError] = []
        if let retries = retryOnCrash, !(0...10).contains(retries) {
            problems.append(.init(field: "settings.retry_on_crash", reason: "must be 0 to 10"))
        }
        if let limit = maxConcurrency, !(1...1000).contains(limit) {
            problems.append(.init(field: "settings.max_concurrency", reason: "must be 1 to 1000"))
        }
        return problems
    }

    /// The settings as typed columns of a statement (from a `settings` JSONB expression), named
    /// as ``init(_:)`` reads them: a read then decodes no JSON.
    static func columns(of settings: String) -> String {
        """
        \(settings)->>'save_data_success_execution' AS settings_save_success, \(settings)->>'save_data_error_execution' AS settings_save_error,
        (\(settings)->>'save_manual_executions')::boolean AS settings_save_manual, (\(settings)->>'retry_on_crash')::integer AS settings_retry_on_crash,
        (\(settings)->>'max_concurrency')::integer AS settings_max_concurrency
        """
    }

    /// The settings from the columns of ``columns(of:)``.
    init(_ columns: PostgresRandomAccessRow) throws {
        func keep(_ name: String) throws -> Keep? {
            guard let text = try columns[name].decode(String?.self) else { return nil }
            guard let keep = Keep(rawValue: text) else { throw StrataError(.internalError, "A workflow's settings hold an unknown \(name).") }
            return keep
        }
        self.init(
            saveDataSuccessExecution: try keep("settings_save_success"),
            saveDataErrorExecution: try keep("settings_save_error"),
            saveManualExecutions: try columns["settings_save_manual"].decode(Bool?.self),
            retryOnCrash: try columns["settings_retry_on_crash"].decode(Int32?.self).map(Int.init),
            maxConcurrency: try columns["settings_max_concurrency"].decode(Int32?.self).map(Int.init)
        )
    }

    /// Whether an execution keeps its result data, in SQL over a settings column and the
    /// execution's mode and status columns (the statement that finishes it decides): a Waiting
    /// one always (it goes on); a manual one not when `save_manual_executions` is false; else a
    /// successful one unless `save_data_success_execution` is `none`, any other end unless
    /// `save_data_error_execution` is `none`.
    static func keepsDataSQL(settings: String, mode: String, status: String) -> String {
        """
        (\(status) = \(ExecutionStatus.waiting.code) OR (
            NOT (\(mode) = \(ExecutionMode.manual.code) AND coalesce(\(settings)->'save_manual_executions' = 'false'::jsonb, false))
            AND CASE WHEN \(status) = \(ExecutionStatus.success.code)
                     THEN coalesce(\(settings)->>'save_data_success_execution', 'all') <> 'none'
                     ELSE coalesce(\(settings)->>'save_data_error_execution', 'all') <> 'none' END))
        """
    }

    var json: String { String(decoding: jsonBytes, as: UTF8.self) }
}

extension WorkflowSettings: JSONWritable {
    public func write(to json: inout JSONWriter) {
        json.object { json in
            if let maxConcurrency { json.field("max_concurrency", maxConcurrency) }
            if let retryOnCrash { json.field("retry_on_crash", retryOnCrash) }
            json.field("save_data_error_execution", saveDataErrorExecution)
            json.field("save_data_success_execution", saveDataSuccessExecution)
            if let saveManualExecutions { json.field("save_manual_executions", saveManualExecutions) }
        }
    }
}

/// A workflow as the API shows it. Its graph (`nodes`, `connections`) is included by
/// `?include=details` and by the writes that return it.
public struct Workflow: Sendable, Encodable {
    public var id: UUID
    public var name: String
    public var status: WorkflowStatus
    public var settings: WorkflowSettings
    public var staticData: RawJSON?
    public var pinData: RawJSON
    public var meta: RawJSON
    /// The graph version the workflow holds now.
    public var versionID: UUID
    /// The graph version its executions run while it is active.
    public var activeVersionID: UUID?
    public var triggerCount: Int64
    public var isArchived: Bool
    public var tags: [String]
    /// The edit counter: the ETag.
    public var version: Int64
    public var createdAt: Date
    public var createdBy: String
    public var updatedAt: Date
    public var updatedBy: String
    /// The graph (JSON arrays), when asked for.
    public var nodes: RawJSON?
    public var connections: RawJSON?

    enum CodingKeys: String, CodingKey {
        case id, name, status, settings, meta, tags, version, nodes, connections
        case staticData = "static_data"
        case pinData = "pin_data"
        case versionID = "version_id"
        case activeVersionID = "active_version_id"
        case triggerCount = "trigger_count"
        case isArchived = "is_archived"
        case createdAt = "created_at"
        case createdBy = "created_by"
        case updatedAt = "updated_at"
        case updatedBy = "updated_by"
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(id, forKey: .id)
        try container.encode(name, forKey: .name)
        try container.encode(status, forKey: .status)
        try container.encode(settings, forKey: .settings)
        try container.encode(staticData, forKey: .staticData)
        try container.encode(pinData, forKey: .pinData)
        try container.encode(meta, forKey: .meta)
        try container.encode(versionID, forKey: .versionID)
        try container.encode(activeVersionID, forKey: .activeVersionID)
        try container.encode(triggerCount, forKey: .triggerCount)
        try container.encode(isArchived, forKey: .isArchived)
        try container.encode(tags, forKey: .tags)
        try container.encode(version, forKey: .version)
        try container.encode(createdAt, forKey: .createdAt)
        try container.encode(createdBy, forKey: .createdBy)
        try container.encode(updatedAt, forKey: .updatedAt)
        try container.encode(updatedBy, forKey: .updatedBy)
        try container.encodeIfPresent(nodes, forKey: .nodes)
        try container.encodeIfPresent(connections, forKey: .connections)
    }
}

/// One graph version of a workflow (`workflow_history`).
public struct WorkflowVersion: Sendable, Encodable {
    public var versionID: UUID
    public var workflowID: UUID
    /// 1, 2, 3 … per workflow.
    public var number: Int
    public var authors: String
    public var restoredFrom: UUID?
    public var createdAt: Date
    /// The graph (JSON arrays), when asked for (one version's read).
    public var nodes: RawJSON?
    public var connections: RawJSON?

    enum CodingKeys: String, CodingKey {
        case number, authors, nodes, connections
        case versionID = "version_id"
        case workflowID = "workflow_id"
        case restoredFrom = "restored_from"
        case createdAt = "created_at"
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(versionID, forKey: .versionID)
        try container.encode(workflowID, forKey: .workflowID)
        try container.encode(number, forKey: .number)
        try container.encode(authors, forKey: .authors)
        try container.encode(restoredFrom, forKey: .restoredFrom)
        try container.encode(createdAt, forKey: .createdAt)
        try container.encodeIfPresent(nodes, forKey: .nodes)
        try container.encodeIfPresent(connections, forKey: .connections)
    }
}

extension Workflow {
    /// The graph parsed (empty when it was not read).
    func graph() throws -> WorkflowGraph {
        WorkflowGraph(nodes: try nodes?.value().arrayValue ?? [], connections: try connections?.value().arrayValue ?? [])
    }
}

extension Workflow: JSONWritable {
    public func write(to json: inout JSONWriter) {
        json.object { json in
            json.field("active_version_id", orNull: activeVersionID)
            json.field("connections", connections)
            json.field("created_at", createdAt)
            json.field("created_by", createdBy)
            json.field("id", id)
            json.field("is_archived", isArchived)
            json.field("meta", meta)
            json.field("name", name)
            json.field("nodes", nodes)
            json.field("pin_data", pinData)
            json.field("settings", settings)
            json.field("static_data", orNull: staticData)
            json.field("status", status)
            json.field("tags", tags)
            json.field("trigger_count", triggerCount)
            json.field("updated_at", updatedAt)
            json.field("updated_by", updatedBy)
            json.field("version", version)
            json.field("version_id", versionID)
        }
    }
}
