import Foundation
import Hummingbird
import HummingbirdTesting
import PostgresNIO
import StrataCore
import StrataHTTP
import StrataPostgres
import StrataServer
import StrataTestSupport
import Testing

@Suite struct AuditMiddlewareTests {
    struct Entry: Equatable {
        var app: String
        var actor: String?
        var action: String
        var status: Int16?
        var body: String?
        var requestID: String?
        var traceID: String?
    }

    func entries(_ pool: PostgresPool) async throws -> [Entry] {
        try await pool.query(
            "SELECT app, actor, action, response_status, request_body::text, request_id, trace_id FROM strata.audit_log ORDER BY id"
        ).map { row in
            let (app, actor, action, status, body, requestID, traceID) = try row.decode(
                (String, String?, String, Int16?, String?, String?, String?).self
            )
            return Entry(app: app, actor: actor, action: action, status: status, body: body, requestID: requestID, traceID: traceID)
        }
    }

    @Test(.timeLimit(.minutes(1)))
    func everyMutatingRequestLeavesOneEntryWithSecretsRedacted() async throws {
        try await withTestApplication(modules: [ProbeModule()]) { database, client, _ in
            let pool = database.pool
            // Rejected: the middleware records it with the status.
            let trace = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
            try await client.execute(
                uri: "/api/probe/items",
                method: .post,
                headers: [.contentType: "application/json", .xRequestID: "req-bad", .traceparent: trace],
                body: ByteBuffer(string: #"{"name":"bolt","quantity":"many","password":"hunter2"}"#)
            ) { response in
                #expect(response.status == .badRequest)
            }
            // Recorded by the route in its transaction: exactly one entry, the route's.
            try await client.execute(
                uri: "/api/probe/audited",
                method: .post,
                headers: [.contentType: "application/json", .xRequestID: "req-ok"],
                body: ByteBuffer(string: #"{"name":"nut","quantity":3,"api_key":"sk-123"}"#)
            ) { response in
                #expect(response.status == .ok)
            }
            // Reads are not audited.
            try await client.execute(uri: "/health", method: .get) { _ in }
            let recorded = try await entries(pool)
            #expect(
                recorded == [
                    Entry(
                        app: "probe",
                        actor: nil,
                        action: "http.post",
                        status: 400,
                        body: #"{"name": "bolt", "password": "[REDACTED]", "quantity": "many"}"#,
                        requestID: "req-bad",
                        traceID: "4bf92f3577b34da6a3ce929d0e0e4736"
                    ),
                    Entry(
                        app: "probe",
                        actor: "tester",
                        action: "create",
                        status: 200,
                        body: #"{"name": "nut", "api_key": "[REDACTED]", "quantity": 3}"#,
                        requestID: "req-ok",
                        traceID: nil
                    ),
                ]
            )
            #expect(!recorded.contains { $0.body?.contains("hunter2") == true || $0.body?.contains("sk-123") == true })
        }
    }

    @Test(.timeLimit(.minutes(1)))
    func aRejectedRequestWithAKeyIsAuditedUnderItsActor() async throws {
        try await withTestApplication(modules: [ProbeModule()]) { database, client, _ in
            let pool = database.pool
            let (_, key) = try await APIKeyStore(pool: pool).create(.init(name: "auditor", permissions: ["probe.read"]))
            try await client.execute(
                uri: "/api/probe/items",
                method: .post,
                headers: [.contentType: "application/json", .xAPIKey: key],
                body: ByteBuffer(string: #"{"name":"bolt"}"#)
            ) { response in
                #expect(response.status == .badRequest)
            }
            #expect(try await entries(pool).map(\.actor) == ["api_key:auditor"])
        }
    }
}
