public import Foundation
import PostgresNIO
public import StrataCore

/// A node of the knowledge graph: a problem (possibly an anomaly's), a cause with its
/// confidence, or a piece of evidence (`factory.graph_nodes`).
public struct GraphNode: Sendable, Codable, Equatable {
    /// What a node stands for.
    public enum Kind: String, Sendable, Codable, CaseIterable {
        case problem, cause, evidence
    }

    public var nodeID: String
    public var kind: Kind
    public var label: String
    public var properties: JSONValue
    public var confidence: Double?
    public var anomalyID: UUID?
    public var factoryID: String?
    public var lineID: String?
    public var version: Int64
    public var createdBy: String
    public var createdAt: Date
    public var updatedAt: Date

    enum CodingKeys: String, CodingKey {
        case kind, label, properties, confidence, version
        case nodeID = "node_id"
        case anomalyID = "anomaly_id"
        case factoryID = "factory_id"
        case lineID = "line_id"
        case createdBy = "created_by"
        case createdAt = "created_at"
        case updatedAt = "updated_at"
    }

    static let columns = """
        node_id, kind, label, properties::text AS properties, confidence, anomaly_id, factory_id, line_id, version, created_by,
        created_at, updated_at
        """

    init(row: PostgresRow) throws {
        try self.init(columns: row.makeRandomAccess())
    }

    /// A node from a row already opened for access by name (a walk's row, which carries more).
    init(columns: PostgresRandomAccessRow) throws {
        nodeID = try columns["node_id"].decode(String.self)
        guard let kind = Kind(rawValue: try columns["kind"].decode(String.self)) else {
            throw StrataError(.internalError, "A graph node row holds an unknown kind.")
        }
        self.kind = kind
        label = try columns["label"].decode(String.self)
        properties = try columns.json("properties") ?? .object([:])
        confidence = try columns["confidence"].decode(Double?.self)
        anomalyID = try columns["anomaly_id"].decode(UUID?.self)
        factoryID = try columns["factory_id"].decode(String?.self)
        lineID = try columns["line_id"].decode(String?.self)
        version = try columns["version"].decode(Int64.self)
        createdBy = try columns["created_by"].decode(String.self)
        createdAt = try columns["created_at"].decode(Date.self)
        updatedAt = try columns["updated_at"].decode(Date.self)
    }
}

/// An edge of the knowledge graph (`factory.graph_edges`).
public struct GraphEdge: Sendable, Codable, Equatable {
    /// The relationship: a problem or cause is `caused_by` a cause and `has_evidence` an
    /// evidence; an evidence `supports` a cause.
    public enum Kind: String, Sendable, Codable, CaseIterable {
        case causedBy = "caused_by"
        case hasEvidence = "has_evidence"
        case supports
    }

    public var fromNode: String
    public var kind: Kind
    public var toNode: String
    public var confidence: Double
    public var createdAt: Date

    enum CodingKeys: String, CodingKey {
        case kind, confidence
        case fromNode = "from_node"
        case toNode = "to_node"
        case createdAt = "created_at"
    }
}

/// A cause reached from a problem: the best path's confidence (the product of its edges' and
/// causes' confidences), its depth and the path, and the evidence for it.
public struct RankedCause: Sendable, Codable, Equatable {
    public var node: GraphNode
    public var depth: Int
    public var pathConfidence: Double
    public var path: [String]
    public var evidence: [GraphNode]

    enum CodingKeys: String, CodingKey {
        case node, depth, path, evidence
        case pathConfidence = "path_confidence"
    }
}

/// A problem a cause explains, and how far it is.
public struct ExplainedProblem: Sendable, Codable, Equatable {
    public var node: GraphNode
    public var depth: Int
    public var path: [String]
}
