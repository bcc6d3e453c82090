import Foundation
import Logging
import PostgresNIO
import StrataCore
import StrataPostgres

/// The SQL of the knowledge graph. Methods take the connection of a scoped transaction
/// (``FactoryScope``): a node of a line outside the scope, and every edge touching one, is not
/// there.
struct GraphStore: Sendable {
    let logger: Logger

    struct NewNode: Sendable {
        var nodeID: String
        var kind: GraphNode.Kind
        var label: String
        var properties: JSONValue
        var confidence: Double?
        var anomalyID: UUID?
        var lineID: String?
        var createdBy: String
    }

    /// Inserts a node; a node of a line takes the line's factory (`nil` when the line is not visible).
    func insert(_ node: NewNode, on connection: PostgresConnection) async throws -> GraphNode? {
        try await connection.run(
            """
            INSERT INTO factory.graph_nodes (node_id, kind, label, properties, confidence, anomaly_id, factory_id, line_id, created_by)
            SELECT \(node.nodeID), \(node.kind.rawValue), \(node.label), \(node.properties.text)::jsonb, \(node.confidence), \(node.anomalyID),
                   l.factory_id, l.line_id, \(node.createdBy)
            FROM (SELECT NULL) AS one
            LEFT JOIN factory.production_lines AS l ON l.line_id = \(node.lineID)
            WHERE \(node.lineID)::text IS NULL OR l.line_id IS NOT NULL
            RETURNING \(unescaped: GraphNode.columns)
            """,
            logger: logger
        ).collect().first.map(GraphNode.init(row:))
    }

    func node(_ id: String, on connection: PostgresConnection) async throws -> GraphNode? {
        try await connection.rows(NodeByID(key: id), logger: logger).first.map(GraphNode.init(row:))
    }

    /// ``node(_:on:)``'s read, prepared (every walk starts with it).
    struct NodeByID: PreparedLookup {
        static let name = "factory.GraphNodeByID"
        static let sql = "SELECT \(GraphNode.columns) FROM factory.graph_nodes WHERE node_id = $1"
        static let bindingDataTypes: [PostgresDataType] = [.text]

        var key: String
    }

    func problemNode(of anomaly: UUID, on connection: PostgresConnection) async throws -> GraphNode? {
        try await connection.run("SELECT \(unescaped: GraphNode.columns) FROM factory.graph_nodes WHERE anomaly_id = \(anomaly)", logger: logger)
            .collect().first.map(GraphNode.init(row:))
    }

    /// Links two visible nodes; the edge's kind must fit their kinds (the table's check).
    /// `nil` when either node is not visible.
    func link(
        from: String,
        to: String,
        kind: GraphEdge.Kind,
        confidence: Double,
        createdBy: String,
        on connection: PostgresConnection
    ) async throws
        -> GraphEdge?
    {
        let rows = try await connection.run(
            """
            INSERT INTO factory.graph_edges (from_node, from_kind, kind, to_node, to_kind, confidence, to_confidence, from_factory, from_line,
                                             to_factory, to_line, created_by)
            SELECT f.node_id, f.kind, \(kind.rawValue), t.node_id, t.kind, \(confidence), coalesce(t.confidence, 1), f.factory_id, f.line_id,
                   t.factory_id, t.line_id, \(createdBy)
            FROM factory.graph_nodes AS f, factory.graph_nodes AS t
            WHERE f.node_id = \(from) AND t.node_id = \(to)
            ON CONFLICT (from_node, kind, to_node) DO UPDATE SET confidence = EXCLUDED.confidence
            RETURNING from_node, kind, to_node, confidence, created_at
            """,
            logger: logger
        ).collect()
        return try rows.first.map { row in
            let (fromNode, kind, toNode, confidence, createdAt) = try row.decode((String, String, String, Double, Date).self)
            return GraphEdge(
                fromNode: fromNode,
                kind: GraphEdge.Kind(rawValue: kind) ?? .causedBy,
                toNode: toNode,
                confidence: confidence,
                createdAt: createdAt
            )
        }
    }

    /// The causes reached from `problem` over `caused_by` edges, at most `depth` away: each once,
    /// by its best path (the product of the edges' and causes' confidences), best first, with
    /// their evidence. The walk stops at a node already on its path (`CYCLE`). Empty when the
    /// problem has no visible cause (or is not there: the caller tells which).
    func causes(of problem: String, depth: Int, limit: Int, on connection: PostgresConnection) async throws -> [RankedCause] {
        let rows = try await connection.rows(CausesWalk(problem: problem, depth: Int32(depth), limit: Int32(limit)), logger: logger)
        var causes: [RankedCause] = []
        var byCause: [String: [GraphNode]] = [:]
        for row in rows {
            let columns = row.makeRandomAccess()
            if let cause = try columns["evidence_for"].decode(String?.self) {
                byCause[cause, default: []].append(try GraphNode(columns: columns))
            } else {
                causes.append(
                    RankedCause(
                        node: try GraphNode(columns: columns),
                        depth: Int(try columns["walk_depth"].decode(Int32.self)),
                        pathConfidence: try columns["walk_confidence"].decode(Double.self),
                        path: try columns["walk_path"].decode([String].self),
                        evidence: []
                    )
                )
            }
        }
        for index in causes.indices { causes[index].evidence = byCause[causes[index].node.nodeID] ?? [] }
        return causes
    }

    /// The walk of ``causes(of:depth:limit:on:)`` and its causes' evidence in one statement,
    /// prepared (its plan is kept per connection): first the causes, best first (`evidence_for`
    /// NULL), then their evidence nodes, each with the cause it is for. Confidences multiply
    /// along the edges, which carry their target's; only the best `limit` causes are joined with
    /// their nodes and evidence.
    struct CausesWalk: PostgresPreparedStatement {
        static let name = "factory.CausesWalk"
        static let sql = """
            WITH RECURSIVE walk (node_id, depth, score, path) AS (
                SELECT e.to_node, 1, e.confidence * e.to_confidence, ARRAY[e.from_node, e.to_node]
                FROM factory.graph_edges AS e
                WHERE e.from_node = $1 AND e.kind = 'caused_by'
              UNION ALL
                SELECT e.to_node, w.depth + 1, w.score * e.confidence * e.to_confidence, w.path || e.to_node
                FROM walk AS w JOIN factory.graph_edges AS e ON e.from_node = w.node_id AND e.kind = 'caused_by'
                WHERE w.depth < $2
            ) CYCLE node_id SET is_cycle USING cycle_path,
            best AS (
                SELECT DISTINCT ON (node_id) node_id, depth, score, path FROM walk
                WHERE NOT is_cycle
                ORDER BY node_id, score DESC, depth
            ),
            top AS MATERIALIZED (SELECT * FROM best ORDER BY score DESC, depth, node_id LIMIT $3),
            evidence AS (
                SELECT e.from_node AS cause, e.to_node AS node_id FROM top JOIN factory.graph_edges AS e
                    ON e.kind = 'has_evidence' AND e.from_node = top.node_id
                UNION
                SELECT e.to_node, e.from_node FROM top JOIN factory.graph_edges AS e
                    ON e.kind = 'supports' AND e.to_node = top.node_id
            )
            SELECT \(GraphNode.columns), t.depth AS walk_depth, t.score AS walk_confidence, t.path AS walk_path,
                   NULL::text AS evidence_for
            FROM top AS t JOIN factory.graph_nodes USING (node_id)
            UNION ALL
            SELECT \(GraphNode.columns), NULL, NULL, NULL, x.cause
            FROM evidence AS x JOIN factory.graph_nodes USING (node_id)
            ORDER BY evidence_for NULLS FIRST, walk_confidence DESC, walk_depth, node_id
            """
        static let bindingDataTypes: [PostgresDataType] = [.text, .int4, .int4]
        typealias Row = PostgresRow
        var problem: String
        var depth: Int32
        var limit: Int32

        func makeBindings() throws -> PostgresBindings {
            var bindings = PostgresBindings(capacity: 3)
            bindings.append(problem)
            bindings.append(depth)
            bindings.append(limit)
            return bindings
        }
    }

    /// The problems `cause` explains: reached backwards over `caused_by` edges through causes,
    /// at most `depth` away, nearest first.
    func problems(explainedBy cause: String, depth: Int, limit: Int, on connection: PostgresConnection) async throws -> [ExplainedProblem] {
        let rows = try await connection.run(
            """
            WITH RECURSIVE walk (node_id, kind, depth, path) AS (
                SELECT e.from_node, e.from_kind, 1, ARRAY[e.to_node, e.from_node]
                FROM factory.graph_edges AS e WHERE e.to_node = \(cause) AND e.kind = 'caused_by'
              UNION ALL
                SELECT e.from_node, e.from_kind, w.depth + 1, w.path || e.from_node
                FROM walk AS w JOIN factory.graph_edges AS e ON e.to_node = w.node_id AND e.kind = 'caused_by'
                WHERE w.depth < \(depth) AND w.kind = 'cause'
            ) CYCLE node_id SET is_cycle USING cycle_path,
            nearest AS (
                SELECT DISTINCT ON (node_id) node_id, depth, path FROM walk
                WHERE kind = 'problem' AND NOT is_cycle
                ORDER BY node_id, depth
            )
            SELECT \(unescaped: GraphNode.columns), w.depth AS walk_depth, w.path AS walk_path
            FROM nearest AS w JOIN factory.graph_nodes USING (node_id)
            ORDER BY w.depth, node_id
            LIMIT \(limit)
            """,
            logger: logger
        ).collect()
        return try rows.map { row in
            let columns = row.makeRandomAccess()
            return ExplainedProblem(
                node: try GraphNode(columns: columns),
                depth: Int(try columns["walk_depth"].decode(Int32.self)),
                path: try columns["walk_path"].decode([String].self)
            )
        }
    }
}
