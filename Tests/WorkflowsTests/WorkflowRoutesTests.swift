import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NIOCore
import PostgresNIO
import StrataCore
import StrataHTTP
import StrataPostgres
import StrataTestSupport
import Testing

@testable import Workflows

/// What the workflow tests share: the app over HTTP with a writer key, and JSON helpers.
enum WorkflowsHarness {
    typealias Object = [String: JSONValue]

    /// The response's JSON object (empty when the body is not one: expectations on it then fail).
    static func json(_ response: TestResponse) -> Object {
        (try? JSONDecoder.api().decode(Object.self, from: Data(response.body.readableBytesView))) ?? [:]
    }

    static func body(_ value: Object) -> ByteBuffer {
        ByteBuffer(bytes: Array(JSONValue.object(value).text.utf8))
    }

    static func withApp(
        _ module: WorkflowsModule = WorkflowsModule(),
        _ body: @escaping @Sendable (any TestClientProtocol, HTTPFields, TestDatabase) async throws -> Void
    ) async throws {
        try await withTestModule(module) { database, client, _ in
            let writer = try await APIKeyStore(pool: database.pool).create(.init(name: "writer", permissions: ["workflows.*"])).secret
            try await body(client, [.xAPIKey: writer, .contentType: "application/json"], database)
        }
    }

    static func node(_ name: String, kind: String = "n8n-nodes-base.set") -> JSONValue {
        .object(["name": .string(name), "kind": .string(kind), "parameters": .object([:])])
    }

    static func connection(_ source: String, _ target: String) -> JSONValue {
        .object(["source_node": .string(source), "target_node": .string(target), "kind": .string("main")])
    }

    /// A workflow of `nodes` nodes in a chain.
    static func draft(name: String = "Orders to CRM", nodes count: Int = 3, settings: Object = [:]) -> Object {
        let names = (0..<count).map { "node \($0)" }
        return [
            "name": .string(name),
            "nodes": .array(names.map { node($0) }),
            "connections": .array(zip(names, names.dropFirst()).map { connection($0, $1) }),
            "settings": .object(settings),
            "tags": .array([.string("crm"), .string("sales")]),
        ]
    }
}

@Suite struct WorkflowRoutesTests {
    typealias H = WorkflowsHarness

    @Test(.timeLimit(.minutes(1)))
    func aWorkflowIsCreatedReadWithItsDetailsAndListedByTag() async throws {
        try await H.withApp { client, auth, _ in
            let path = "/api/workflows/workflows"
            let created = try await client.execute(uri: path, method: .post, headers: auth, body: H.body(H.draft())) { response in
                #expect(response.status == .created)
                #expect(response.headers[.eTag] == "\"1\"")
                return H.json(response)
            }
            let id = try #require(created["id"]?.stringValue)
            #expect(created["status"] == .string("draft") && created["tags"] == .array([.string("crm"), .string("sales")]))
            #expect(UUID(uuidString: id).map { $0.uuid.6 >> 4 } == 7, "ids are UUID v7")

            let plain = try await client.execute(uri: "\(path)/\(id)", method: .get, headers: auth) { H.json($0) }
            #expect(plain["nodes"] == nil, "the graph comes with ?include=details")
            let details = try await client.execute(uri: "\(path)/\(id)?include=details", method: .get, headers: auth) { H.json($0) }
            #expect(details["nodes"]?.arrayValue?.count == 3 && details["connections"]?.arrayValue?.count == 2)
            #expect(details["tags"] == .array([.string("crm"), .string("sales")]))

            // An empty workflow's details are empty arrays, not [null].
            let empty = try await client.execute(
                uri: path,
                method: .post,
                headers: auth,
                body: H.body(["name": .string("Empty"), "nodes": .array([]), "connections": .array([])])
            ) { H.json($0) }
            let emptyID = try #require(empty["id"]?.stringValue)
            let emptyDetails = try await client.execute(uri: "\(path)/\(emptyID)?include=details", method: .get, headers: auth) { H.json($0) }
            #expect(emptyDetails["nodes"] == .array([]) && emptyDetails["connections"] == .array([]) && emptyDetails["tags"] == .array([]))

            let tagged = try await client.execute(uri: "\(path)?tag=crm", method: .get, headers: auth) { H.json($0) }
            #expect(tagged["items"]?.arrayValue?.compactMap { $0["id"]?.stringValue } == [id])
            let all = try await client.execute(uri: "\(path)?limit=1", method: .get, headers: auth) { H.json($0) }
            #expect(all["items"]?.arrayValue?.count == 1 && all["next_cursor"]?.stringValue != nil)
            try await client.execute(uri: "\(path)/\(id)?include=everything", method: .get, headers: auth) {
                #expect($0.status == .unprocessableContent)
            }
            try await client.execute(uri: "\(path)/\(UUID.v7())", method: .get, headers: auth) { #expect($0.status == .notFound) }
        }
    }

    @Test(.timeLimit(.minutes(1)))
    func aBadGraphIsRefusedNamingEachFieldAndNothingIsWritten() async throws {
        let module = WorkflowsModule(configuration: .init(graphLimits: .init(maxNodes: 10, maxBytes: 4096)))
        try await H.withApp(module) { client, auth, database in
            let path = "/api/workflows/workflows"
            var dangling = H.draft()
            dangling["connections"] = .array([H.connection("node 0", "node 9")])
            try await client.execute(uri: path, method: .post, headers: auth, body: H.body(dangling)) { response in
                #expect(response.status == .unprocessableContent)
                let fields = H.json(response)["errors"]?.arrayValue?.compactMap { $0["field"]?.stringValue }
                #expect(fields == ["connections[0].target_node"])
            }
            var repeated = H.draft()
            repeated["nodes"] = .array([H.node("a"), H.node("a")])
            repeated["connections"] = .array([])
            try await client.execute(uri: path, method: .post, headers: auth, body: H.body(repeated)) { response in
                #expect(response.status == .unprocessableContent)
                #expect(H.json(response)["errors"]?.arrayValue?.compactMap { $0["field"]?.stringValue } == ["nodes[1].name"])
            }
            let big = H.draft(nodes: 10).merging(["meta": .object([:])]) { $1 }
            var oversized = big
            oversized["nodes"] = .array(
                (0..<10).map {
                    .object([
                        "name": .string("n\($0)"), "kind": .string(String(repeating: "k", count: 200)),
                        "notes": .string(String(repeating: "x", count: 400)),
                    ])
                }
            )
            oversized["connections"] = .array([])
            try await client.execute(uri: path, method: .post, headers: auth, body: H.body(oversized)) { #expect($0.status == .contentTooLarge) }
            var tooMany = H.draft(nodes: 11)
            tooMany["connections"] = .array([])
            try await client.execute(uri: path, method: .post, headers: auth, body: H.body(tooMany)) { response in
                #expect(response.status == .unprocessableContent)
                #expect(H.json(response)["errors"]?.arrayValue?.compactMap { $0["field"]?.stringValue } == ["nodes"])
            }
            let count = try await database.pool.query("SELECT count(*) FROM workflows.workflow_entity").first?.decode(Int64.self)
            #expect(count == 0)
        }
    }

    @Test(.timeLimit(.minutes(1)))
    func editsNeedTheCurrentETagAndOnlyGraphChangesMakeVersionsWhichRestoreAsNewOnes() async throws {
        try await H.withApp { client, auth, _ in
            let path = "/api/workflows/workflows"
            let id = try await client.execute(uri: path, method: .post, headers: auth, body: H.body(H.draft())) {
                try #require(H.json($0)["id"]?.stringValue)
            }
            let rename = H.body(["name": .string("Orders to CRM (EU)")])
            try await client.execute(uri: "\(path)/\(id)", method: .patch, headers: auth, body: rename) {
                #expect($0.status == .preconditionRequired)
            }
            var ifMatch = auth
            ifMatch[.ifMatch] = "\"1\""
            let renamed = try await client.execute(uri: "\(path)/\(id)", method: .patch, headers: ifMatch, body: rename) { response in
                #expect(response.status == .ok && response.headers[.eTag] == "\"2\"")
                return H.json(response)
            }
            // The same If-Match again is stale: a lost update is refused, never silent.
            try await client.execute(uri: "\(path)/\(id)", method: .patch, headers: ifMatch, body: H.body(["name": .string("Overwrite")])) {
                #expect($0.status == .preconditionFailed)
            }
            let firstVersion = try #require(renamed["version_id"]?.stringValue)
            ifMatch[.ifMatch] = "\"2\""
            let regraphed = try await client.execute(
                uri: "\(path)/\(id)",
                method: .patch,
                headers: ifMatch,
                body: H.body(["nodes": .array([H.node("only")]), "connections": .array([])])
            ) { H.json($0) }
            #expect(regraphed["version_id"]?.stringValue != firstVersion && regraphed["nodes"]?.arrayValue?.count == 1)
            let versions = try await client.execute(uri: "\(path)/\(id)/versions", method: .get, headers: auth) { H.json($0) }
            #expect(versions["items"]?.arrayValue?.compactMap { $0["number"]?.numberValue } == [2, 1], "the rename made no version")

            let restored = try await client.execute(uri: "\(path)/\(id)/versions/\(firstVersion)/restore", method: .post, headers: auth) {
                H.json($0)
            }
            #expect(restored["nodes"]?.arrayValue?.count == 3 && restored["version_id"]?.stringValue != firstVersion)
            let after = try await client.execute(uri: "\(path)/\(id)/versions?limit=1", method: .get, headers: auth) { H.json($0) }
            let newest = try #require(after["items"]?.arrayValue?.first)
            #expect(newest["number"] == .number(3) && newest["restored_from"] == .string(firstVersion))
            let cursor = try #require(after["next_cursor"]?.stringValue)
            let older = try await client.execute(uri: "\(path)/\(id)/versions?cursor=\(cursor)", method: .get, headers: auth) { H.json($0) }
            #expect(older["items"]?.arrayValue?.compactMap { $0["number"]?.numberValue } == [2, 1])
            let one = try await client.execute(uri: "\(path)/\(id)/versions/\(firstVersion)", method: .get, headers: auth) { H.json($0) }
            #expect(one["nodes"]?.arrayValue?.count == 3)
        }
    }

    @Test(.timeLimit(.minutes(1)))
    func activationPinsTheVersionAndAnArchivedWorkflowCannotBeActivatedEditedOrRun() async throws {
        try await H.withApp { client, auth, _ in
            let path = "/api/workflows/workflows"
            let created = try await client.execute(uri: path, method: .post, headers: auth, body: H.body(H.draft())) { H.json($0) }
            let id = try #require(created["id"]?.stringValue)
            // A draft runs manually, not by trigger.
            try await client.execute(uri: "\(path)/\(id)/executions", method: .post, headers: auth, body: H.body(["mode": .string("trigger")])) {
                #expect($0.status == .conflict && H.json($0)["code"] == .string("workflows.inactive"))
            }
            let active = try await client.execute(uri: "\(path)/\(id)/activate", method: .post, headers: auth) { H.json($0) }
            #expect(active["status"] == .string("active") && active["active_version_id"] == created["version_id"])
            var ifMatch = auth
            ifMatch[.ifMatch] = "\"\(Int(active["version"]?.numberValue ?? 0))\""
            let edited = try await client.execute(
                uri: "\(path)/\(id)",
                method: .patch,
                headers: ifMatch,
                body: H.body(["nodes": .array([H.node("changed")]), "connections": .array([])])
            ) { H.json($0) }
            #expect(edited["active_version_id"] == created["version_id"], "an edit does not move the pinned version")
            let triggered = try await client.execute(
                uri: "\(path)/\(id)/executions",
                method: .post,
                headers: auth,
                body: H.body(["mode": .string("trigger")])
            ) {
                H.json($0)
            }
            #expect(triggered["version_id"] == created["version_id"], "a trigger runs the pinned version")
            let manual = try await client.execute(uri: "\(path)/\(id)/executions", method: .post, headers: auth) { H.json($0) }
            #expect(manual["version_id"] == edited["version_id"], "a manual run runs the current graph")

            let archived = try await client.execute(uri: "\(path)/\(id)/archive", method: .post, headers: auth) { H.json($0) }
            #expect(archived["is_archived"] == .bool(true) && archived["status"] == .string("disabled"))
            try await client.execute(uri: "\(path)/\(id)/activate", method: .post, headers: auth) {
                #expect($0.status == .conflict && H.json($0)["code"] == .string("workflows.archived"))
            }
            ifMatch[.ifMatch] = "\"\(Int(archived["version"]?.numberValue ?? 0))\""
            try await client.execute(uri: "\(path)/\(id)", method: .patch, headers: ifMatch, body: H.body(["name": .string("x")])) {
                #expect($0.status == .conflict && H.json($0)["code"] == .string("workflows.archived"))
            }
            try await client.execute(uri: "\(path)/\(id)/executions", method: .post, headers: auth) {
                #expect($0.status == .conflict && H.json($0)["code"] == .string("workflows.archived"))
            }
            let back = try await client.execute(uri: "\(path)/\(id)/unarchive", method: .post, headers: auth) { H.json($0) }
            #expect(back["is_archived"] == .bool(false))
            try await client.execute(uri: "\(path)/\(id)/deactivate", method: .post, headers: auth) {
                #expect($0.status == .conflict && H.json($0)["code"] == .string("transition_refused"))
            }
        }
    }
}
