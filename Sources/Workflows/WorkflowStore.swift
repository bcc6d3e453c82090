import Foundation
import Logging
import PostgresNIO
import StrataCore
import StrataPostgres

/// The SQL of workflows, their graph versions and tags. Writes take the connection of the
/// service's transaction; plain reads run one statement on the pool.
struct WorkflowStore: Sendable {
    let pool: PostgresPool

    /// A workflow's columns (with its tag names), each named as ``workflow(from:details:)`` reads it.
    static let columns = """
        w.id, w.name, w.status, \(WorkflowSettings.columns(of: "w.settings")), w.static_data::text AS static_data, w.pin_data::text AS pin_data,
        w.meta::text AS meta, w.version_id, w.active_version_id, w.trigger_count, w.is_archived, w.version, w.created_at,
        w.created_by, w.updated_at, w.updated_by,
        (SELECT coalesce(array_agg(t.name ORDER BY t.name), '{}') FROM workflows.workflow_tag AS wt
         JOIN workflows.tag_entity AS t ON t.id = wt.tag_id WHERE wt.workflow_id = w.id) AS tags
        """

    /// ``columns`` and the graph: the seed's "workflow with details" in one row.
    static let detailColumns = columns + ", w.nodes::text AS nodes, w.connections::text AS connections"

    static func workflow(from row: PostgresRow, details: Bool) throws -> Workflow {
        let columns = row.makeRandomAccess()
        guard let status = WorkflowStatus(code: try columns["status"].decode(Int32.self)) else {
            throw StrataError(.internalError, "A workflow row holds an unknown status.")
        }
        func json(_ name: String) throws -> RawJSON? {
            try columns[name].decode(String?.self).map(RawJSON.init)
        }
        return Workflow(
            id: try columns["id"].decode(UUID.self),
            name: try columns["name"].decode(String.self),
            status: status,
            settings: try WorkflowSettings(columns),
            staticData: try json("static_data"),
            pinData: try json("pin_data") ?? RawJSON("{}"),
            meta: try json("meta") ?? RawJSON("{}"),
            versionID: try columns["version_id"].decode(UUID.self),
            activeVersionID: try columns["active_version_id"].decode(UUID?.self),
            triggerCount: try columns["trigger_count"].decode(Int64.self),
            isArchived: try columns["is_archived"].decode(Bool.self),
            tags: try columns["tags"].decode([String].self),
            version: try columns["version"].decode(Int64.self),
            createdAt: try columns["created_at"].decode(Date.self),
            createdBy: try columns["created_by"].decode(String.self),
            updatedAt: try columns["updated_at"].decode(Date.self),
            updatedBy: try columns["updated_by"].decode(String.self),
            nodes: details ? try json("nodes") ?? RawJSON("[]") : nil,
            connections: details ? try json("connections") ?? RawJSON("[]") : nil
        )
    }

    /// The workflow, with its graph when `details`; `nil` when there is none. Both reads are
    /// prepared: the tags' subquery costs more to plan than to run.
    func find(_ id: UUID, details: Bool) async throws -> Workflow? {
        let rows = details ? try await pool.rows(ByIDWithGraph(key: id)) : try await pool.rows(ByID(key: id))
        return try rows.first.map { try Self.workflow(from: $0, details: details) }
    }

    /// One workflow by id (``columns``).
    struct ByID: PreparedLookup {
        static let name = "workflows.ByID"
        static let sql = "SELECT \(columns) FROM workflows.workflow_entity AS w WHERE w.id = $1"
        static let bindingDataTypes: [PostgresDataType] = [.uuid]
        var key: UUID
    }

    /// One workflow by id with its graph (``detailColumns``).
    struct ByIDWithGraph: PreparedLookup {
        static let name = "workflows.ByIDWithGraph"
        static let sql = "SELECT \(detailColumns) FROM workflows.workflow_entity AS w WHERE w.id = $1"
        static let bindingDataTypes: [PostgresDataType] = [.uuid]
        var key: UUID
    }

    /// The workflow with its graph, locked for the transaction's change; `nil` when there is none.
    func lock(_ id: UUID, on connection: PostgresConnection, logger: Logger) async throws -> Workflow? {
        try await find(id, on: connection, logger: logger, lock: true)
    }

    /// The workflow with its graph as the transaction sees it (after its change); `nil` when
    /// there is none.
    func find(_ id: UUID, on connection: PostgresConnection, logger: Logger, lock: Bool = false) async throws -> Workflow? {
        let rows = try await connection.run(
            "SELECT \(unescaped: Self.detailColumns) FROM workflows.workflow_entity AS w WHERE w.id = \(id) \(unescaped: lock ? "FOR UPDATE" : "")",
            logger: logger
        ).collect()
        return try rows.first.map { try Self.workflow(from: $0, details: true) }
    }

    /// Which workflows a list shows.
    struct Filter: Sendable {
        var tag: String?
        var status: WorkflowStatus?
        var archived: Bool?
        var name: String?
    }

    /// Workflows newest first, a page at a time (without their graphs).
    func list(_ filter: Filter, limit: Int, cursor: Cursor?) async throws -> Page<Workflow> {
        let position = try NewestFirst<UUID>(after: cursor)
        let rows = try await pool.query(
            """
            SELECT \(unescaped: Self.columns), \(unescaped: NewestFirst<UUID>.positionColumn) FROM workflows.workflow_entity AS w
            WHERE (\(filter.status?.code)::integer IS NULL OR w.status = \(filter.status?.code))
              AND (\(filter.archived)::boolean IS NULL OR w.is_archived = \(filter.archived))
              AND (\(filter.name)::text IS NULL OR w.name ILIKE '%' || replace(replace(replace(\(filter.name), '\\', '\\\\'), '%', '\\%'), '_', '\\_') || '%')
              AND (\(filter.tag)::text IS NULL OR EXISTS (
                    SELECT 1 FROM workflows.workflow_tag AS wt JOIN workflows.tag_entity AS t ON t.id = wt.tag_id
                    WHERE wt.workflow_id = w.id AND t.name = \(filter.tag)))
              AND \(after: position)
            ORDER BY created_at DESC, id DESC
            LIMIT \(limit + 1)
            """
        )
        return try position.page(rows, limit: limit, item: { try Self.workflow(from: $0, details: false) }, id: \.id)
    }

    /// What a new workflow holds.
    struct NewWorkflow: Sendable {
        var id: UUID
        var name: String
        var graph: WorkflowGraph
        var settings: WorkflowSettings
        var staticData: JSONValue?
        var pinData: JSONValue
        var meta: JSONValue
        var tags: [String]
    }

    /// Inserts the workflow and its first graph version, and tags it.
    func insert(_ new: NewWorkflow, actor: String, on connection: PostgresConnection, logger: Logger) async throws {
        let versionID = UUID.v7()
        try await connection.run(
            """
            WITH history AS (
                INSERT INTO workflows.workflow_history (version_id, workflow_id, number, authors, nodes, connections, created_by)
                VALUES (\(versionID), \(new.id), 1, \(actor), \(new.graph.nodesJSON)::jsonb, \(new.graph.connectionsJSON)::jsonb, \(actor))
            )
            INSERT INTO workflows.workflow_entity
                (id, name, nodes, connections, settings, static_data, pin_data, meta, version_id, created_by, updated_by)
            VALUES (\(new.id), \(new.name), \(new.graph.nodesJSON)::jsonb, \(new.graph.connectionsJSON)::jsonb, \(new.settings.json)::jsonb,
                    \(new.staticData?.text)::jsonb, \(new.pinData.text)::jsonb, \(new.meta.text)::jsonb, \(versionID), \(actor), \(actor))
            """,
            logger: logger
        )
        try await setTags(new.tags, of: new.id, actor: actor, on: connection, logger: logger)
    }

    /// Replaces a workflow's tags (creating the tags that do not exist yet).
    func setTags(_ names: [String], of workflow: UUID, actor: String, on connection: PostgresConnection, logger: Logger) async throws {
        let ids = names.map { _ in UUID.v7() }
        try await connection.run(
            """
            WITH wanted AS (SELECT * FROM unnest(\(names)::text[], \(ids)::uuid[]) AS n(name, id)),
            created AS (
                INSERT INTO workflows.tag_entity (id, name, created_by) SELECT id, name, \(actor) FROM wanted
                ON CONFLICT (name) DO NOTHING RETURNING id, name
            ),
            tags AS (
                SELECT id FROM created
                UNION SELECT t.id FROM workflows.tag_entity AS t JOIN wanted USING (name)
            ),
            dropped AS (
                DELETE FROM workflows.workflow_tag WHERE workflow_id = \(workflow) AND tag_id NOT IN (SELECT id FROM tags)
            )
            INSERT INTO workflows.workflow_tag (workflow_id, tag_id) SELECT \(workflow), id FROM tags ON CONFLICT DO NOTHING
            """,
            logger: logger
        )
    }

    /// What an update changes (`nil`: unchanged).
    struct Edit: Sendable {
        var name: String?
        var settings: WorkflowSettings?
        var staticData: JSONValue?
        var pinData: JSONValue?
        var meta: JSONValue?
        /// A new graph version to hold (already inserted by ``addVersion``).
        var versionID: UUID?
        var graph: WorkflowGraph?
        var status: WorkflowStatus?
        /// Pin (`.some(id)`) or unpin (`.some(nil)`) the active version.
        var activeVersionID: UUID??
        var archived: Bool?
    }

    /// Applies `edit` to a workflow the transaction holds locked, bumping its version.
    func update(_ id: UUID, _ edit: Edit, actor: String, on connection: PostgresConnection, logger: Logger) async throws {
        let pinsVersion = edit.activeVersionID != nil
        try await connection.run(
            """
            UPDATE workflows.workflow_entity SET
                name = coalesce(\(edit.name), name),
                settings = coalesce(\(edit.settings?.json)::jsonb, settings),
                static_data = CASE WHEN \(edit.staticData != nil) THEN \(edit.staticData?.text)::jsonb ELSE static_data END,
                pin_data = coalesce(\(edit.pinData?.text)::jsonb, pin_data),
                meta = coalesce(\(edit.meta?.text)::jsonb, meta),
                version_id = coalesce(\(edit.versionID), version_id),
                nodes = coalesce(\(edit.graph?.nodesJSON)::jsonb, nodes),
                connections = coalesce(\(edit.graph?.connectionsJSON)::jsonb, connections),
                status = coalesce(\(edit.status?.code), status),
                active_version_id = CASE WHEN \(pinsVersion) THEN \(edit.activeVersionID ?? nil) ELSE active_version_id END,
                is_archived = coalesce(\(edit.archived), is_archived),
                version = version + 1,
                updated_by = \(actor)
            WHERE id = \(id)
            """,
            logger: logger
        )
    }

    /// Adds a graph version to a workflow the transaction holds locked.
    /// - Returns: The new version's id.
    func addVersion(
        of workflow: UUID,
        graph: WorkflowGraph,
        restoredFrom: UUID?,
        actor: String,
        on connection: PostgresConnection,
        logger: Logger
    ) async throws -> UUID {
        let versionID = UUID.v7()
        try await connection.run(
            """
            INSERT INTO workflows.workflow_history (version_id, workflow_id, number, authors, nodes, connections, restored_from, created_by)
            SELECT \(versionID), \(workflow), coalesce(max(number), 0) + 1, \(actor), \(graph.nodesJSON)::jsonb,
                   \(graph.connectionsJSON)::jsonb, \(restoredFrom), \(actor)
            FROM workflows.workflow_history WHERE workflow_id = \(workflow)
            """,
            logger: logger
        )
        return versionID
    }

    static let versionColumns = "version_id, workflow_id, number, authors, restored_from, created_at"

    static func version(from row: PostgresRow, graph: Bool) throws -> WorkflowVersion {
        let columns = row.makeRandomAccess()
        return WorkflowVersion(
            versionID: try columns["version_id"].decode(UUID.self),
            workflowID: try columns["workflow_id"].decode(UUID.self),
            number: Int(try columns["number"].decode(Int32.self)),
            authors: try columns["authors"].decode(String.self),
            restoredFrom: try columns["restored_from"].decode(UUID?.self),
            createdAt: try columns["created_at"].decode(Date.self),
            nodes: graph ? RawJSON(try columns["nodes"].decode(String.self)) : nil,
            connections: graph ? RawJSON(try columns["connections"].decode(String.self)) : nil
        )
    }

    /// A workflow's graph versions, newest first, `limit` after version number `before`.
    func versions(of workflow: UUID, before: Int?, limit: Int) async throws -> [WorkflowVersion] {
        let rows = try await pool.query(
            """
            SELECT \(unescaped: Self.versionColumns) FROM workflows.workflow_history
            WHERE workflow_id = \(workflow) AND (\(before.map(Int32.init))::integer IS NULL OR number < \(before.map(Int32.init)))
            ORDER BY number DESC LIMIT \(limit)
            """
        )
        return try rows.map { try Self.version(from: $0, graph: false) }
    }

    /// One graph version of a workflow, with its graph; `nil` when the workflow has no such version.
    func version(_ versionID: UUID, of workflow: UUID, on connection: PostgresConnection? = nil, logger: Logger) async throws -> WorkflowVersion? {
        let query: PostgresQuery = """
            SELECT \(unescaped: Self.versionColumns), nodes::text AS nodes, connections::text AS connections
            FROM workflows.workflow_history WHERE version_id = \(versionID) AND workflow_id = \(workflow)
            """
        let rows: [PostgresRow]
        if let connection {
            rows = try await connection.run(query, logger: logger).collect()
        } else {
            rows = try await pool.query(query)
        }
        return try rows.first.map { try Self.version(from: $0, graph: true) }
    }
}

extension WorkflowStore {
    /// What starting an execution of a workflow needs to know of it.
    struct RunTarget: Sendable {
        var status: WorkflowStatus
        var isArchived: Bool
        var versionID: UUID
        var activeVersionID: UUID?
        /// Most executions running at once (`settings.max_concurrency`).
        var maxConcurrency: Int?
    }

    /// The workflow's status, versions and concurrency limit, or `nil` when there is no such workflow.
    func runTarget(_ id: UUID, on connection: PostgresConnection, logger: Logger) async throws -> RunTarget? {
        try await connection.rows(RunTargetByID(key: id), logger: logger).first.map { row in
            let columns = row.makeRandomAccess()
            guard let status = WorkflowStatus(code: try columns["status"].decode(Int32.self)) else {
                throw StrataError(.internalError, "A workflow row holds an unknown status.")
            }
            return RunTarget(
                status: status,
                isArchived: try columns["is_archived"].decode(Bool.self),
                versionID: try columns["version_id"].decode(UUID.self),
                activeVersionID: try columns["active_version_id"].decode(UUID?.self),
                maxConcurrency: try columns["max_concurrency"].decode(Int32?.self).map(Int.init)
            )
        }
    }

    /// ``runTarget(_:on:logger:)``'s statement, prepared (it runs with every start).
    struct RunTargetByID: PreparedLookup {
        static let name = "workflows.RunTargetByID"
        static let sql = """
            SELECT status, is_archived, version_id, active_version_id, (settings->>'max_concurrency')::integer AS max_concurrency
            FROM workflows.workflow_entity WHERE id = $1
            """
        static let bindingDataTypes: [PostgresDataType] = [.uuid]
        var key: UUID
    }
}
