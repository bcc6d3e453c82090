import Foundation
public import Hummingbird
import StrataCore
public import StrataHTTP

/// `/api/factory/graph/…`: the knowledge graph's nodes and edges and its two walks, and an
/// anomaly's problem node (`/api/factory/anomalies/{id}/problem`). Reads need `factory.read`,
/// changes `factory.write`; nodes of lines outside the caller's scope are not there.
public struct GraphController: Sendable {
    let graph: GraphService

    public init(graph: GraphService) {
        self.graph = graph
    }

    public func addRoutes(to router: any RouterMethods<StrataRequestContext>) {
        let group = router.group("/api/factory/graph")
        group.post("nodes") { request, context in
            let caller = try context.caller(requiring: "factory.write")
            let draft = try await request.decodeJSON(as: GraphService.NodeDraft.self, context: context)
            return Response.json(try await graph.create(draft, by: caller), status: .created)
        }
        group.get("nodes/{node_id}") { _, context in
            let principal = try context.requirePermission("factory.read")
            return Response.json(try await graph.node(try context.parameters.require("node_id"), scopes: principal.rowScopes))
        }
        group.post("edges") { request, context in
            let caller = try context.caller(requiring: "factory.write")
            let draft = try await request.decodeJSON(as: GraphService.EdgeDraft.self, context: context)
            return try Response.json(try await graph.link(draft, by: caller), status: .created)
        }
        group.get("nodes/{node_id}/causes") { request, context in
            let principal = try context.requirePermission("factory.read")
            let (depth, limit) = try Self.walk(request)
            let causes = try await graph.causes(
                of: try context.parameters.require("node_id"),
                depth: depth,
                limit: limit,
                scopes: principal.rowScopes
            )
            return Response.json(Page.complete(causes))
        }
        group.get("nodes/{node_id}/problems") { request, context in
            let principal = try context.requirePermission("factory.read")
            let (depth, limit) = try Self.walk(request)
            let problems = try await graph.problems(
                explainedBy: try context.parameters.require("node_id"),
                depth: depth,
                limit: limit,
                scopes: principal.rowScopes
            )
            return Response.json(Page.complete(problems))
        }
        router.post("/api/factory/anomalies/{id}/problem") { _, context in
            let caller = try context.caller(requiring: "factory.write")
            let (node, created) = try await graph.problemNode(for: try AnomaliesController.id(context, "anomaly"), by: caller)
            return Response.json(node, status: created ? .created : .ok)
        }
    }

    /// `depth` (1 to 10, default 3) and `limit` (1 to 1000, default 100).
    static func walk(_ request: Request) throws -> (depth: Int, limit: Int) {
        var query = QueryReader(request)
        let depth = query.integer("depth", in: 1...Int64(GraphService.maxDepth)).map(Int.init) ?? 3
        let limit = query.integer("limit", in: 1...1000).map(Int.init) ?? 100
        try query.validate()
        return (depth, limit)
    }
}
