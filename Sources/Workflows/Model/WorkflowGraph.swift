import Foundation
public import StrataCore

/// A workflow's graph: its nodes and the connections between them, kept as the JSON the client
/// sent (fields beyond those checked here are the engine's own and are stored as they are).
///
/// A node is an object with a unique `name` (1 to 128 characters) and a `kind`; a connection is
/// an object whose `source_node` and `target_node` name nodes of the graph.
public struct WorkflowGraph: Sendable, Equatable {
    public var nodes: [JSONValue]
    public var connections: [JSONValue]

    /// The limits a graph is checked against.
    public struct Limits: Sendable {
        /// Most nodes in one workflow.
        public var maxNodes: Int
        /// Most bytes of nodes and connections together, as JSON.
        public var maxBytes: Int

        public init(maxNodes: Int = 1000, maxBytes: Int = 2 << 20) {
            self.maxNodes = maxNodes
            self.maxBytes = maxBytes
        }
    }

    public init(nodes: [JSONValue], connections: [JSONValue]) {
        self.nodes = nodes
        self.connections = connections
    }

    /// The nodes as JSON text (an array).
    var nodesJSON: String { JSONValue.array(nodes).text }
    /// The connections as JSON text (an array).
    var connectionsJSON: String { JSONValue.array(connections).text }

    /// Checks the graph: unique node names, every connection between existing nodes, the limits.
    /// - Throws: `validation_failed` naming each problem's field (`nodes[3].name`,
    ///   `connections[0].target_node`), or `payload_too_large` beyond `limits.maxBytes`.
    public func validate(limits: Limits) throws {
        let size = nodesJSON.utf8.count + connectionsJSON.utf8.count
        guard size <= limits.maxBytes else {
            throw StrataError(
                .payloadTooLarge,
                "The workflow's nodes and connections take \(size) bytes; at most \(limits.maxBytes) are allowed (WORKFLOWS_MAX_GRAPH_BYTES).",
                details: ["limit": "\(limits.maxBytes)"]
            )
        }
        var problems: [StrataError.FieldError] = []
        if nodes.count > limits.maxNodes {
            problems.append(.init(field: "nodes", reason: "has \(nodes.count) nodes; at most \(limits.maxNodes) are allowed"))
        }
        var names: Set<String> = []
        for (index, node) in nodes.enumerated() {
            guard node.objectValue != nil else {
                problems.append(.init(field: "nodes[\(index)]", reason: "must be an object"))
                continue
            }
            guard let name = node["name"]?.stringValue, (1...128).contains(name.textLength) else {
                problems.append(.init(field: "nodes[\(index)].name", reason: "must be a name of 1 to 128 characters"))
                continue
            }
            if !names.insert(name).inserted {
                problems.append(.init(field: "nodes[\(index)].name", reason: "repeats the node name \"\(name)\"; node names are unique"))
            }
            guard let kind = node["kind"]?.stringValue, (1...200).contains(kind.textLength) else {
                problems.append(.init(field: "nodes[\(index)].kind", reason: "must name the node's kind (1 to 200 characters)"))
                continue
            }
        }
        for (index, connection) in connections.enumerated() {
            guard connection.objectValue != nil else {
                problems.append(.init(field: "connections[\(index)]", reason: "must be an object"))
                continue
            }
            for end in ["source_node", "target_node"] {
                guard let name = connection[end]?.stringValue else {
                    problems.append(.init(field: "connections[\(index)].\(end)", reason: "must name a node"))
                    continue
                }
                if !names.contains(name) {
                    problems.append(.init(field: "connections[\(index)].\(end)", reason: "names no node of this workflow (\"\(name.prefix(128))\")"))
                }
            }
        }
        if !problems.isEmpty { throw StrataError.validation(problems) }
    }
}
