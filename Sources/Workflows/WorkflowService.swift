public import Foundation
public import Logging
import PostgresNIO
public import StrataCore
public import StrataPostgres

/// Workflows: create, read, list, edit under If-Match, their graph versions (a new one whenever
/// nodes or connections change, restore as a new one), activation pinned to a version, and
/// archiving. Each write is one transaction holding the change and its record (``ChangeLog``).
public struct WorkflowService: Sendable {
    let pool: PostgresPool
    let store: WorkflowStore
    let limits: WorkflowGraph.Limits
    let logger: Logger

    public init(pool: PostgresPool, limits: WorkflowGraph.Limits = .init(), logger: Logger = Logger(label: "strata.workflows")) {
        self.pool = pool
        self.store = WorkflowStore(pool: pool)
        self.limits = limits
        self.logger = logger
    }

    /// A new workflow as a client sends it.
    public struct Draft: Sendable, Decodable {
        public var name: String
        public var nodes: [JSONValue]
        public var connections: [JSONValue]
        public var settings: WorkflowSettings?
        public var staticData: JSONValue?
        public var pinData: JSONValue?
        public var meta: JSONValue?
        public var tags: [String]?

        enum CodingKeys: String, CodingKey {
            case name, nodes, connections, settings, meta, tags
            case staticData = "static_data"
            case pinData = "pin_data"
        }

        public init(name: String, nodes: [JSONValue], connections: [JSONValue], settings: WorkflowSettings? = nil, tags: [String]? = nil) {
            self.name = name
            self.nodes = nodes
            self.connections = connections
            self.settings = settings
            self.tags = tags
        }
    }

    /// An edit: only the fields given change.
    public struct Patch: Sendable, Decodable {
        public var name: String?
        public var nodes: [JSONValue]?
        public var connections: [JSONValue]?
        public var settings: WorkflowSettings?
        public var staticData: JSONValue?
        public var pinData: JSONValue?
        public var meta: JSONValue?
        public var tags: [String]?

        enum CodingKeys: String, CodingKey {
            case name, nodes, connections, settings, meta, tags
            case staticData = "static_data"
            case pinData = "pin_data"
        }

        public init(name: String? = nil, nodes: [JSONValue]? = nil, connections: [JSONValue]? = nil, settings: WorkflowSettings? = nil) {
            self.name = name
            self.nodes = nodes
            self.connections = connections
            self.settings = settings
        }
    }

    // MARK: Reads

    /// The workflow, with its graph when `details`.
    /// - Throws: `not_found`.
    public func workflow(_ id: UUID, details: Bool = false) async throws -> Workflow {
        guard let workflow = try await store.find(id, details: details) else { throw Self.notFound() }
        return workflow
    }

    /// Which workflows a list shows.
    public struct Filter: Sendable {
        public var tag: String?
        public var status: WorkflowStatus?
        public var archived: Bool?
        public var name: String?

        public init(tag: String? = nil, status: WorkflowStatus? = nil, archived: Bool? = nil, name: String? = nil) {
            self.tag = tag
            self.status = status
            self.archived = archived
            self.name = name
        }
    }

    /// The statement `?include=details` runs, with `id` written in: for benchmarks that compare
    /// the route with pgbench running the same statement.
    public static func detailsStatementText(_ id: UUID) -> String {
        "SELECT \(WorkflowStore.detailColumns) FROM workflows.workflow_entity AS w WHERE w.id = '\(id.uuidString.lowercased())'"
    }

    /// Workflows newest first, without their graphs.
    public func list(_ filter: Filter, limit: Int, cursor: Cursor?) async throws -> Page<Workflow> {
        try await store.list(
            .init(tag: filter.tag, status: filter.status, archived: filter.archived, name: filter.name),
            limit: limit,
            cursor: cursor
        )
    }

    /// A workflow's graph versions, newest first; the cursor is the last version number seen.
    public func versions(of id: UUID, limit: Int, cursor: Cursor?) async throws -> Page<WorkflowVersion> {
        let before = try cursor.map { cursor -> Int in
            guard let number = Int(try cursor.string(at: 0)) else {
                throw StrataError.validation([.init(field: "cursor", reason: "is not a cursor of this list")])
            }
            return number
        }
        let versions = try await store.versions(of: id, before: before, limit: limit + 1)
        if versions.isEmpty { _ = try await workflow(id) }  // 404 for a workflow that does not exist
        let page = Array(versions.prefix(limit))
        let next = versions.count > limit ? page.last.map { Cursor(values: ["\($0.number)"]).encoded } : nil
        return Page(items: page, nextCursor: next)
    }

    /// One graph version with its nodes and connections.
    /// - Throws: `not_found` when the workflow has no such version.
    public func version(_ versionID: UUID, of id: UUID) async throws -> WorkflowVersion {
        guard let version = try await store.version(versionID, of: id, logger: logger) else {
            throw StrataError(.notFound, "This workflow has no version with this id.")
        }
        return version
    }

    // MARK: Writes

    /// Creates a draft workflow and its first graph version.
    /// - Throws: `validation_failed` naming each wrong field, `payload_too_large` for a graph
    ///   past the limit.
    public func create(_ draft: Draft, by caller: Caller) async throws -> Workflow {
        let graph = WorkflowGraph(nodes: draft.nodes, connections: draft.connections)
        let settings = draft.settings ?? WorkflowSettings()
        let tags = try Self.check(name: draft.name, graph: graph, settings: settings, tags: draft.tags ?? [], limits: limits)
        let new = WorkflowStore.NewWorkflow(
            id: UUID.v7(),
            name: draft.name,
            graph: graph,
            settings: settings,
            staticData: draft.staticData,
            pinData: draft.pinData ?? .object([:]),
            meta: draft.meta ?? .object([:]),
            tags: tags
        )
        let (store, logger) = (store, logger)
        return try await pool.withTransaction { connection in
            try await store.insert(new, actor: caller.actor, on: connection, logger: logger)
            let workflow = try await Self.reread(new.id, store: store, on: connection, logger: logger)
            try await ChangeLog.record(
                Self.change(workflow, "workflow.created", action: "create", status: 201),
                by: caller,
                on: connection,
                logger: logger
            )
            return workflow
        }
    }

    /// Edits a workflow whose version is `expectedVersion`. A change of nodes or connections adds
    /// a graph version; a change of name, settings or data does not.
    /// - Throws: `precondition_failed` (412) when the workflow changed since `expectedVersion`,
    ///   `workflows.archived` (409) for an archived workflow, `validation_failed`, `not_found`.
    public func update(_ id: UUID, _ patch: Patch, expectedVersion: Int64, by caller: Caller) async throws -> Workflow {
        let (store, logger, limits) = (store, logger, limits)
        return try await pool.withTransaction { connection in
            let current = try await Self.lockForEdit(id, expectedVersion: expectedVersion, store: store, on: connection, logger: logger)
            let stored = try current.graph()
            let graph = WorkflowGraph(nodes: patch.nodes ?? stored.nodes, connections: patch.connections ?? stored.connections)
            let tags = try Self.check(
                name: patch.name ?? current.name,
                graph: graph,
                settings: patch.settings ?? current.settings,
                tags: patch.tags ?? current.tags,
                limits: limits
            )
            let graphChanged = graph != stored
            var edit = WorkflowStore.Edit(
                name: patch.name,
                settings: patch.settings,
                staticData: patch.staticData,
                pinData: patch.pinData,
                meta: patch.meta
            )
            if graphChanged {
                edit.versionID = try await store.addVersion(
                    of: id,
                    graph: graph,
                    restoredFrom: nil,
                    actor: caller.actor,
                    on: connection,
                    logger: logger
                )
                edit.graph = graph
            }
            try await store.update(id, edit, actor: caller.actor, on: connection, logger: logger)
            if patch.tags != nil { try await store.setTags(tags, of: id, actor: caller.actor, on: connection, logger: logger) }
            let workflow = try await Self.reread(id, store: store, on: connection, logger: logger)
            let change = Self.change(workflow, "workflow.updated", action: "update", status: 200, details: ["new_version": .bool(graphChanged)])
            try await ChangeLog.record(change, by: caller, on: connection, logger: logger)
            return workflow
        }
    }

    /// Checks what an edit says by itself (its name, settings and tags, and its graph when it
    /// gives both nodes and connections), before anything is read: a malformed edit is refused
    /// whatever the workflow's version.
    /// - Throws: `validation_failed` naming each wrong field.
    public func precheck(_ patch: Patch) throws {
        let graph = WorkflowGraph(nodes: patch.nodes ?? [], connections: patch.connections ?? [])
        let limits = patch.nodes != nil && patch.connections != nil ? limits : .init(maxNodes: .max, maxBytes: .max)
        _ = try Self.check(
            name: patch.name ?? "unchanged",
            graph: patch.nodes != nil && patch.connections != nil ? graph : WorkflowGraph(nodes: [], connections: []),
            settings: patch.settings ?? WorkflowSettings(),
            tags: patch.tags ?? [],
            limits: limits
        )
    }

    /// Makes a past graph version the current one, as a new version (history is never rewritten).
    /// - Throws: `not_found` for a version of another workflow, `workflows.archived`, and
    ///   `precondition_failed` when `expectedVersion` is given and stale.
    public func restore(_ id: UUID, version versionID: UUID, expectedVersion: Int64?, by caller: Caller) async throws -> Workflow {
        let (store, logger) = (store, logger)
        return try await pool.withTransaction { connection in
            let current = try await Self.lockForEdit(id, expectedVersion: expectedVersion, store: store, on: connection, logger: logger)
            guard let past = try await store.version(versionID, of: id, on: connection, logger: logger) else {
                throw StrataError(.notFound, "This workflow has no version with this id.")
            }
            let graph = WorkflowGraph(nodes: try past.nodes?.value().arrayValue ?? [], connections: try past.connections?.value().arrayValue ?? [])
            let newVersion = try await store.addVersion(
                of: id,
                graph: graph,
                restoredFrom: versionID,
                actor: caller.actor,
                on: connection,
                logger: logger
            )
            try await store.update(id, .init(versionID: newVersion, graph: graph), actor: caller.actor, on: connection, logger: logger)
            let workflow = try await Self.reread(id, store: store, on: connection, logger: logger)
            let change = Self.change(
                workflow,
                "workflow.restored",
                action: "restore",
                status: 200,
                details: [
                    "restored_from": .string(versionID.uuidString.lowercased()),
                    "previous_version_id": .string(current.versionID.uuidString.lowercased()),
                ]
            )
            try await ChangeLog.record(change, by: caller, on: connection, logger: logger)
            return workflow
        }
    }

    /// Activates the workflow, pinning its current graph version: executions run that version
    /// until it is activated again. Activating an active workflow pins its current version.
    /// - Throws: `workflows.archived` (409) for an archived workflow.
    public func activate(_ id: UUID, by caller: Caller) async throws -> Workflow {
        try await changeStatus(id, to: .active, action: "activate", by: caller) { current in
            .init(status: .active, activeVersionID: .some(current.versionID))
        }
    }

    /// Deactivates the workflow (Disabled): new executions are refused; running ones finish.
    public func deactivate(_ id: UUID, by caller: Caller) async throws -> Workflow {
        try await changeStatus(id, to: .disabled, action: "deactivate", by: caller) { _ in
            .init(status: .disabled, activeVersionID: .some(nil))
        }
    }

    /// Archives the workflow (deactivating it): it can no longer be edited, activated or run.
    public func archive(_ id: UUID, by caller: Caller) async throws -> Workflow {
        try await setArchived(id, true, by: caller)
    }

    /// Takes the workflow out of the archive, as a disabled workflow.
    public func unarchive(_ id: UUID, by caller: Caller) async throws -> Workflow {
        try await setArchived(id, false, by: caller)
    }

    // MARK: Rules

    private func changeStatus(
        _ id: UUID,
        to target: WorkflowStatus,
        action: String,
        by caller: Caller,
        edit: @escaping @Sendable (Workflow) -> WorkflowStore.Edit
    ) async throws -> Workflow {
        let (store, logger) = (store, logger)
        return try await pool.withTransaction { connection in
            guard let current = try await store.lock(id, on: connection, logger: logger) else { throw Self.notFound() }
            if current.isArchived { throw Self.archived(current, doing: action) }
            if !(current.status == target && target == .active) { try current.status.checkTransition(to: target) }
            try await store.update(id, edit(current), actor: caller.actor, on: connection, logger: logger)
            let workflow = try await Self.reread(id, store: store, on: connection, logger: logger)
            let change = Self.change(
                workflow,
                "workflow.\(action)d",
                action: action,
                status: 200,
                details: ["status": .string(workflow.status.rawValue)]
            )
            try await ChangeLog.record(change, by: caller, on: connection, logger: logger)
            return workflow
        }
    }

    private func setArchived(_ id: UUID, _ archived: Bool, by caller: Caller) async throws -> Workflow {
        let (store, logger) = (store, logger)
        return try await pool.withTransaction { connection in
            guard let current = try await store.lock(id, on: connection, logger: logger) else { throw Self.notFound() }
            guard current.isArchived != archived else { return current }
            var edit = WorkflowStore.Edit(archived: archived)
            if archived, current.status == .active {
                edit.status = .disabled
                edit.activeVersionID = .some(nil)
            }
            try await store.update(id, edit, actor: caller.actor, on: connection, logger: logger)
            let workflow = try await Self.reread(id, store: store, on: connection, logger: logger)
            let action = archived ? "archive" : "unarchive"
            try await ChangeLog.record(
                Self.change(workflow, "workflow.\(action)d", action: action, status: 200),
                by: caller,
                on: connection,
                logger: logger
            )
            return workflow
        }
    }

    /// Locks the workflow for an edit, checking its version and that it is not archived.
    private static func lockForEdit(
        _ id: UUID,
        expectedVersion: Int64?,
        store: WorkflowStore,
        on connection: PostgresConnection,
        logger: Logger
    ) async throws -> Workflow {
        guard let current = try await store.lock(id, on: connection, logger: logger) else { throw notFound() }
        if let expectedVersion, current.version != expectedVersion { throw StrataError.staleVersion() }
        if current.isArchived { throw archived(current, doing: "edit") }
        return current
    }

    private static func reread(_ id: UUID, store: WorkflowStore, on connection: PostgresConnection, logger: Logger) async throws -> Workflow {
        guard let workflow = try await store.find(id, on: connection, logger: logger) else { throw notFound() }
        return workflow
    }

    /// Checks a workflow's name, graph, settings and tags.
    /// - Returns: The tags, without repeats, in order.
    static func check(name: String, graph: WorkflowGraph, settings: WorkflowSettings, tags: [String], limits: WorkflowGraph.Limits) throws -> [String]
    {
        var problems: [StrataError.FieldError] = []
        if !(1...128).contains(name.textLength) || name.allSatisfy(\.isWhitespace) {
            problems.append(.init(field: "name", reason: "must be 1 to 128 characters, not only spaces"))
        }
        problems += settings.problems
        var unique: [String] = []
        for (index, tag) in tags.enumerated() {
            if !(1...24).contains(tag.textLength) || tag.allSatisfy(\.isWhitespace) {
                problems.append(.init(field: "tags[\(index)]", reason: "must be 1 to 24 characters, not only spaces"))
            } else if !unique.contains(tag) {
                unique.append(tag)
            }
        }
        if tags.count > 20 { problems.append(.init(field: "tags", reason: "at most 20 tags")) }
        do {
            try graph.validate(limits: limits)
        } catch let error as StrataError where error.code == .validationFailed {
            problems += error.fieldErrors
        }
        if !problems.isEmpty { throw StrataError.validation(problems) }
        return unique
    }

    static func change(_ workflow: Workflow, _ kind: String, action: String, status: Int, details: [String: JSONValue] = [:]) -> Change {
        var summary = workflow
        summary.nodes = nil
        summary.connections = nil
        let id = workflow.id.uuidString.lowercased()
        return Change(
            app: "workflows",
            action: action,
            resourceType: "workflow",
            resourceID: id,
            status: status,
            details: details,
            events: [(try? OutboxEvent(app: "workflows", aggregateType: "workflow", aggregateID: id, kind: kind, payload: summary))].compactMap { $0 }
        )
    }

    static func notFound() -> StrataError { StrataError(.notFound, "No workflow has this id.") }

    static func archived(_ workflow: Workflow, doing action: String) -> StrataError {
        StrataError(
            .workflowArchived,
            "The workflow is archived: it cannot \(action == "edit" ? "be edited" : action). Unarchive it first.",
            details: ["workflow_id": workflow.id.uuidString.lowercased()]
        )
    }
}

extension StrataError.Code {
    /// The workflow is archived: it cannot be edited, activated or run.
    static let workflowArchived = Self("workflows.archived", kind: .conflict)
    /// The workflow is not active (or archived): it cannot be started by a trigger or webhook.
    static let workflowInactive = Self("workflows.inactive", kind: .conflict)
    /// The lease token does not hold this execution (it expired and the execution was rescued,
    /// or another worker holds it).
    static let leaseLost = Self("workflows.lease_lost", kind: .conflict)
}
