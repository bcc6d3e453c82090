public import Foundation
public import Logging
import PostgresNIO
public import StrataCore
public import StrataPostgres

/// The knowledge graph: problems, causes and evidence, linked; an anomaly's problem node; the
/// causes of a problem ranked by path confidence with their evidence, and the problems a cause
/// explains. Scoped like everything else (``FactoryScope``).
public struct GraphService: Sendable {
    let pool: PostgresPool
    let store: GraphStore
    let anomalies: AnomalyStore
    let logger: Logger

    /// The deepest walk a query may ask for.
    public static let maxDepth = 10

    public init(pool: PostgresPool, logger: Logger = Logger(label: "strata.factory")) {
        self.pool = pool
        self.store = GraphStore(logger: logger)
        self.anomalies = AnomalyStore(logger: logger)
        self.logger = logger
    }

    /// A new node as a client sends it.
    public struct NodeDraft: Sendable, Decodable {
        public var nodeID: String?
        public var kind: GraphNode.Kind
        public var label: String
        public var properties: JSONValue?
        public var confidence: Double?
        public var lineID: String?

        enum CodingKeys: String, CodingKey {
            case kind, label, properties, confidence
            case nodeID = "node_id"
            case lineID = "line_id"
        }

        public init(nodeID: String? = nil, kind: GraphNode.Kind, label: String, confidence: Double? = nil, lineID: String? = nil) {
            (self.nodeID, self.kind, self.label, self.confidence, self.lineID) = (nodeID, kind, label, confidence, lineID)
        }
    }

    /// A new edge.
    public struct EdgeDraft: Sendable, Decodable {
        public var fromNode: String
        public var kind: GraphEdge.Kind
        public var toNode: String
        public var confidence: Double?

        enum CodingKeys: String, CodingKey {
            case kind, confidence
            case fromNode = "from_node"
            case toNode = "to_node"
        }

        public init(fromNode: String, kind: GraphEdge.Kind, toNode: String, confidence: Double? = nil) {
            (self.fromNode, self.kind, self.toNode, self.confidence) = (fromNode, kind, toNode, confidence)
        }
    }

    static func isNodeID(_ text: String) -> Bool { FactoryScope.isPlantID(text, maxLength: 100) }

    static let nodeIDRule = "must be 1 to 100 letters, digits or _ . : - starting with a letter or digit"

    /// Creates a node (a line's, or shared when it names no line).
    /// - Throws: `validation_failed`; `conflict` for a node id in use; `forbidden` for a line
    ///   outside the caller's scope.
    public func create(_ draft: NodeDraft, by caller: Caller) async throws -> GraphNode {
        var errors: [StrataError.FieldError] = []
        if let id = draft.nodeID, !Self.isNodeID(id) { errors.append(.init(field: "node_id", reason: Self.nodeIDRule)) }
        if !(1...200).contains(draft.label.textLength) { errors.append(.init(field: "label", reason: "must be 1 to 200 characters")) }
        if let value = draft.confidence {
            if draft.kind != .cause { errors.append(.init(field: "confidence", reason: "only causes carry a confidence")) }
            if !(0...1).contains(value) { errors.append(.init(field: "confidence", reason: "must be 0 to 1")) }
        }
        if let properties = draft.properties {
            if case .object = properties {} else { errors.append(.init(field: "properties", reason: "must be an object")) }
            if properties.text.utf8.count > 64 << 10 { errors.append(.init(field: "properties", reason: "at most 64 KiB of JSON")) }
        }
        if let line = draft.lineID, !FactoryScope.isPlantID(line) { errors.append(.init(field: "line_id", reason: PlantService.idRule)) }
        if !errors.isEmpty { throw StrataError.validation(errors) }
        let new = GraphStore.NewNode(
            nodeID: draft.nodeID ?? "\(draft.kind.rawValue):\(UUID.v7().uuidString.lowercased())",
            kind: draft.kind,
            label: draft.label,
            properties: draft.properties ?? .object([:]),
            confidence: draft.confidence,
            anomalyID: nil,
            lineID: draft.lineID,
            createdBy: caller.actor
        )
        let store = store
        return try await FactoryScope.security.transaction(on: pool, for: caller, logger: logger) { connection in
            guard let node = try await store.insert(new, on: connection) else { throw FactoryScope.lineRefused(caller) }
            return (node, try Self.change(node, "graph.node_created", action: "create"))
        }
    }

    /// The problem node of an anomaly, made on first asking (`anomaly:<id>`, on the anomaly's
    /// line, labelled with its defect).
    /// - Returns: The node and whether it was made now.
    public func problemNode(for anomalyID: UUID, by caller: Caller) async throws -> (GraphNode, created: Bool) {
        let (store, anomalies) = (store, anomalies)
        return try await FactoryScope.security.transaction(on: pool, for: caller, logger: logger) { connection in
            guard let anomaly = try await anomalies.anomaly(anomalyID, lock: true, on: connection) else { throw AnomalyService.notFound() }
            if let node = try await store.problemNode(of: anomalyID, on: connection) { return ((node, false), nil) }
            let new = GraphStore.NewNode(
                nodeID: "anomaly:\(AnomalyService.key(anomalyID))",
                kind: .problem,
                label: "\(anomaly.defectType) (\(anomaly.severity.rawValue))",
                properties: .object(["defect_type": .string(anomaly.defectType), "severity": .string(anomaly.severity.rawValue)]),
                confidence: nil,
                anomalyID: anomalyID,
                lineID: anomaly.lineID,
                createdBy: caller.actor
            )
            guard let node = try await store.insert(new, on: connection) else { throw AnomalyService.notFound() }
            return ((node, true), try Self.change(node, "graph.node_created", action: "create"))
        }
    }

    /// One node.
    public func node(_ id: String, scopes: [String: [String]]) async throws -> GraphNode {
        let store = store
        let node = try await FactoryScope.security.read(on: pool, for: scopes, logger: logger) { connection in
            try await store.node(id, on: connection)
        }
        guard let node else { throw Self.nodeNotFound() }
        return node
    }

    /// Links two nodes (again: the confidence changes).
    /// - Throws: `not_found` for a node that is not there, `invalid_value` (422) when the kind
    ///   does not fit the nodes' kinds, `validation_failed`.
    public func link(_ draft: EdgeDraft, by caller: Caller) async throws -> GraphEdge {
        var errors: [StrataError.FieldError] = []
        if !Self.isNodeID(draft.fromNode) { errors.append(.init(field: "from_node", reason: Self.nodeIDRule)) }
        if !Self.isNodeID(draft.toNode) { errors.append(.init(field: "to_node", reason: Self.nodeIDRule)) }
        if draft.fromNode == draft.toNode { errors.append(.init(field: "to_node", reason: "must differ from from_node")) }
        if let value = draft.confidence, !(0...1).contains(value) { errors.append(.init(field: "confidence", reason: "must be 0 to 1")) }
        if !errors.isEmpty { throw StrataError.validation(errors) }
        let store = store
        return try await FactoryScope.security.transaction(on: pool, for: caller, logger: logger) { connection in
            guard let from = try await store.node(draft.fromNode, on: connection), let to = try await store.node(draft.toNode, on: connection) else {
                throw Self.nodeNotFound()
            }
            guard Self.fits(draft.kind, from: from.kind, to: to.kind) else {
                throw StrataError.validation([
                    .init(field: "kind", reason: "\(draft.kind.rawValue) does not link a \(from.kind.rawValue) to a \(to.kind.rawValue)")
                ])
            }
            guard
                let edge = try await store.link(
                    from: from.nodeID,
                    to: to.nodeID,
                    kind: draft.kind,
                    confidence: draft.confidence ?? 1,
                    createdBy: caller.actor,
                    on: connection
                )
            else { throw Self.nodeNotFound() }
            let change = Change(
                app: "factory",
                action: "link",
                resourceType: "graph_edge",
                resourceID: "\(edge.fromNode) \(edge.kind.rawValue) \(edge.toNode)",
                status: 201,
                events: [
                    try OutboxEvent(app: "factory", aggregateType: "graph_node", aggregateID: edge.fromNode, kind: "graph.linked", payload: edge)
                ]
            )
            return (edge, change)
        }
    }

    /// Whether an edge of `kind` may link these kinds (the table checks it too).
    static func fits(_ kind: GraphEdge.Kind, from: GraphNode.Kind, to: GraphNode.Kind) -> Bool {
        switch kind {
        case .causedBy: from != .evidence && to == .cause
        case .hasEvidence: from != .evidence && to == .evidence
        case .supports: from == .evidence && to == .cause
        }
    }

    /// The causes of a problem to `depth`, best path first, with their evidence.
    /// - Throws: `not_found` for a problem node that is not there.
    public func causes(of problem: String, depth: Int, limit: Int, scopes: [String: [String]]) async throws -> [RankedCause] {
        let store = store
        return try await FactoryScope.security.read(on: pool, for: scopes, logger: logger) { connection in
            let causes = try await store.causes(of: problem, depth: depth, limit: limit, on: connection)
            // A visible `caused_by` edge starts at a visible problem or cause: only an empty walk
            // leaves the node to be checked.
            if causes.isEmpty {
                guard let node = try await store.node(problem, on: connection), node.kind != .evidence else { throw Self.nodeNotFound() }
            }
            return causes
        }
    }

    /// The problems a cause explains, to `depth`, nearest first.
    public func problems(explainedBy cause: String, depth: Int, limit: Int, scopes: [String: [String]]) async throws -> [ExplainedProblem] {
        let store = store
        return try await FactoryScope.security.read(on: pool, for: scopes, logger: logger) { connection in
            guard let node = try await store.node(cause, on: connection), node.kind == .cause else { throw Self.nodeNotFound() }
            return try await store.problems(explainedBy: cause, depth: depth, limit: limit, on: connection)
        }
    }

    static func nodeNotFound() -> StrataError { StrataError(.notFound, "No graph node has this id.") }

    static func change(_ node: GraphNode, _ kind: String, action: String) throws -> Change {
        Change(
            app: "factory",
            action: action,
            resourceType: "graph_node",
            resourceID: node.nodeID,
            status: 201,
            events: [try OutboxEvent(app: "factory", aggregateType: "graph_node", aggregateID: node.nodeID, kind: kind, payload: node)]
        )
    }
}
