import Foundation
import HTTPTypes
import HummingbirdTesting
import PostgresNIO
import StrataCore
import StrataHTTP
import StrataPostgres
import StrataTestSupport
import Testing

@testable import Factory

@Suite struct GraphTests {
    typealias H = FactoryHarness

    static func node(_ id: String, _ kind: String, confidence: Double? = nil, line: String? = nil) -> H.Object {
        var node: H.Object = ["node_id": .string(id), "kind": .string(kind), "label": .string(id.replacingOccurrences(of: "-", with: " "))]
        if let confidence { node["confidence"] = .number(confidence) }
        if let line { node["line_id"] = .string(line) }
        return node
    }

    static func edge(_ from: String, _ kind: String, _ to: String, _ confidence: Double = 1) -> H.Object {
        ["from_node": .string(from), "kind": .string(kind), "to_node": .string(to), "confidence": .number(confidence)]
    }

    @Test(.timeLimit(.minutes(2)))
    func causesAreRankedByPathConfidenceWithTheirEvidenceAndCyclesEnd() async throws {
        try await H.withApp { client, headers, database in
            let anomaly = try await H.expect(client, .post, "/api/factory/anomalies", headers, H.anomaly(), .created)
            let anomalyID = try #require(anomaly["anomaly_id"]?.stringValue)
            let problem = try await H.expect(client, .post, "/api/factory/anomalies/\(anomalyID)/problem", headers, nil, .created)
            let problemID = try #require(problem["node_id"]?.stringValue)
            #expect(problem["line_id"] == .string("L1") && problem["kind"] == .string("problem"))
            try await H.expect(client, .post, "/api/factory/anomalies/\(anomalyID)/problem", headers, nil, .ok)  // once per anomaly

            for (id, confidence) in [("worn-nozzle", 0.9), ("gas-flow", 0.5), ("bad-batch", 0.8), ("supplier-change", 0.7), ("deep-cause", 0.9)] {
                try await H.expect(client, .post, "/api/factory/graph/nodes", headers, Self.node(id, "cause", confidence: confidence), .created)
            }
            try await H.expect(client, .post, "/api/factory/graph/nodes", headers, Self.node("xray-scan", "evidence"), .created)
            try await H.expect(client, .post, "/api/factory/graph/nodes", headers, Self.node("operator-note", "evidence"), .created)
            for edge in [
                Self.edge(problemID, "caused_by", "worn-nozzle"), Self.edge(problemID, "caused_by", "gas-flow"),
                Self.edge("gas-flow", "caused_by", "bad-batch"), Self.edge("bad-batch", "caused_by", "supplier-change"),
                Self.edge("supplier-change", "caused_by", "gas-flow"),  // a cycle
                Self.edge("supplier-change", "caused_by", "deep-cause"),  // depth 4
                Self.edge("worn-nozzle", "has_evidence", "xray-scan"), Self.edge("operator-note", "supports", "worn-nozzle"),
            ] {
                try await H.expect(client, .post, "/api/factory/graph/edges", headers, edge, .created)
            }
            // The edge's kind must fit its ends; a node that is not there is 404; nothing written.
            let wrongKinds = try await H.expect(
                client,
                .post,
                "/api/factory/graph/edges",
                headers,
                Self.edge("xray-scan", "caused_by", "worn-nozzle"),
                .unprocessableContent
            )
            #expect(wrongKinds["errors"]?.arrayValue?.first?["field"] == .string("kind"))
            try await H.expect(
                client,
                .post,
                "/api/factory/graph/edges",
                headers,
                Self.edge("worn-nozzle", "supports", "gas-flow"),
                .unprocessableContent
            )
            try await H.expect(client, .post, "/api/factory/graph/edges", headers, Self.edge("worn-nozzle", "caused_by", "nowhere"), .notFound)
            try await H.expect(
                client,
                .post,
                "/api/factory/graph/nodes",
                headers,
                Self.node("evidence-with-confidence", "evidence", confidence: 0.5),
                .unprocessableContent
            )
            #expect(try await H.count(database, "SELECT count(*) FROM factory.graph_edges") == 8)
            // The table refuses a wrong kind even from a statement that skips the service.
            await #expect(throws: (any Error).self) {
                try await database.pool.query(
                    "INSERT INTO factory.graph_edges (from_node, from_kind, kind, to_node, to_kind, created_by) VALUES ('xray-scan', 'evidence', 'caused_by', 'gas-flow', 'cause', 't')"
                )
            }

            let causes = try await H.expect(client, .get, "/api/factory/graph/nodes/\(problemID)/causes?depth=3", headers)
            let ranked = causes["items"]?.arrayValue ?? []
            #expect(ranked.compactMap { $0["node"]?["node_id"]?.stringValue } == ["worn-nozzle", "gas-flow", "bad-batch", "supplier-change"])
            #expect(ranked.compactMap { $0["path_confidence"]?.numberValue }.map { ($0 * 1000).rounded() / 1000 } == [0.9, 0.5, 0.4, 0.28])
            #expect(ranked.first?["evidence"]?.arrayValue?.compactMap { $0["node_id"]?.stringValue } == ["operator-note", "xray-scan"])
            #expect(ranked.last?["path"] == .array([.string(problemID), .string("gas-flow"), .string("bad-batch"), .string("supplier-change")]))
            // A cause's confidence changes: its edges follow (a trigger), and so does the ranking.
            try await database.pool.query("UPDATE factory.graph_nodes SET confidence = 0.1 WHERE node_id = 'worn-nozzle'")
            let reranked = try await H.expect(client, .get, "/api/factory/graph/nodes/\(problemID)/causes?depth=3", headers)
            #expect(
                reranked["items"]?.arrayValue?.compactMap { $0["node"]?["node_id"]?.stringValue } == [
                    "gas-flow", "bad-batch", "supplier-change", "worn-nozzle",
                ]
            )
            let deeper = try await H.expect(client, .get, "/api/factory/graph/nodes/\(problemID)/causes?depth=10", headers)
            #expect(deeper["items"]?.arrayValue?.count == 5, "the cycle ends; depth 4 reaches deep-cause once")

            let explained = try await H.expect(client, .get, "/api/factory/graph/nodes/supplier-change/problems?depth=5", headers)
            #expect(explained["items"]?.arrayValue?.compactMap { $0["node"]?["node_id"]?.stringValue } == [problemID])
            #expect(explained["items"]?.arrayValue?.first?["depth"] == .number(3))
            try await H.expect(client, .get, "/api/factory/graph/nodes/\(problemID)/causes?depth=0", headers, nil, .unprocessableContent)
            try await H.expect(client, .get, "/api/factory/graph/nodes/xray-scan/problems", headers, nil, .notFound)
            // A walk that finds no cause: a problem without causes has none; an evidence node or
            // a node that is not there has no walk at all.
            try await H.expect(client, .post, "/api/factory/graph/nodes", headers, Self.node("lonely-problem", "problem"), .created)
            let lonely = try await H.expect(client, .get, "/api/factory/graph/nodes/lonely-problem/causes", headers)
            #expect(lonely["items"]?.arrayValue?.isEmpty == true)
            try await H.expect(client, .get, "/api/factory/graph/nodes/xray-scan/causes", headers, nil, .notFound)
            try await H.expect(client, .get, "/api/factory/graph/nodes/nowhere/causes", headers, nil, .notFound)
        }
    }

    @Test(.timeLimit(.minutes(2)))
    func aLinesNodesAndTheirEdgesAreOutsideAnotherLinesScope() async throws {
        try await H.withApp { client, headers, database in
            try await H.expect(client, .post, "/api/factory/graph/nodes", headers, Self.node("l2-problem", "problem", line: "L2"), .created)
            try await H.expect(client, .post, "/api/factory/graph/nodes", headers, Self.node("shared-cause", "cause", confidence: 0.6), .created)
            try await H.expect(client, .post, "/api/factory/graph/edges", headers, Self.edge("l2-problem", "caused_by", "shared-cause"), .created)
            let key = try await APIKeyStore(pool: database.pool).create(
                .init(name: "l1", permissions: ["factory.read", "factory.write"], scopes: [FactoryScope.lines: ["L1"]])
            ).secret
            let scoped: HTTPFields = [.xAPIKey: key, .contentType: "application/json"]
            try await H.expect(client, .get, "/api/factory/graph/nodes/l2-problem", scoped, nil, .notFound)
            try await H.expect(client, .get, "/api/factory/graph/nodes/shared-cause", scoped)
            try await H.expect(client, .get, "/api/factory/graph/nodes/l2-problem/causes", scoped, nil, .notFound)
            let explained = try await H.expect(client, .get, "/api/factory/graph/nodes/shared-cause/problems", scoped)
            #expect(explained["items"]?.arrayValue?.isEmpty == true, "the edge to L2's problem is not there for L1")
            try await H.expect(client, .post, "/api/factory/graph/nodes", scoped, Self.node("l2-note", "evidence", line: "L2"), .forbidden)
            try await H.expect(client, .post, "/api/factory/graph/edges", scoped, Self.edge("l2-problem", "has_evidence", "shared-cause"), .notFound)
            #expect(try await H.count(database, "SELECT count(*) FROM factory.graph_nodes") == 2)
        }
    }
}
