import Foundation
import PostgresNIO
import StrataCore
import StrataPostgres
import StrataServer
import StrataTestSupport
import Testing

/// An idempotent create whose server dies between the change and the stored response: the
/// response commits with the change or not at all, so the retry creates exactly once and later
/// retries get its answer.
@Suite struct IdempotencyCrashTests {
    static let draft =
        #"{"title":"Welding","owner_id":"manager-001","owner_name":"Wang Qiang","steps":[{"step_code":"s1","step_name":"Weld","expected_quantity":10}]}"#

    static func orders(_ pool: PostgresPool) async throws -> Int64 {
        try await pool.query("SELECT count(*) FROM workorders.work_orders").first?.decode(Int64.self) ?? -1
    }

    @Test(.timeLimit(.minutes(3)))
    func aServerKilledBetweenTheChangeAndTheResponseLeavesARetryThatCreatesOnce() async throws {
        try await withTestDatabase(lines: try StrataApplication.migrationLines()) { database in
            let pool = database.pool
            let secret = try await APIKeyStore(pool: pool).create(.init(name: "writer", permissions: ["workorders.*"])).secret
            let headers = ["Content-Type": "application/json", "X-API-Key": secret, "Idempotency-Key": "create-order-1"]
            let draft = Self.draft

            try await ServedProcess.with(database: database) { server in
                let port = server.port
                // Hold off the stored response: the table lock lets the key's read through and
                // stops its insert, which comes after the order's statements.
                try await pool.withConnection { locker in
                    try await locker.query("BEGIN", logger: pool.statementLogger)
                    try await locker.query("LOCK TABLE strata.idempotency_keys IN SHARE ROW EXCLUSIVE MODE", logger: pool.statementLogger)
                    let first = Task {
                        try await LoopbackSocket.onThread {
                            try LoopbackSocket.request(port: port, "POST", "/api/workorders/orders", headers: headers, body: draft)
                        }
                    }
                    let blocked = try await eventually(within: .seconds(30)) {
                        let rows = try await pool.query(
                            """
                            SELECT count(*) FROM pg_stat_activity
                            WHERE datname = current_database() AND wait_event_type = 'Lock' AND query LIKE 'INSERT INTO strata.idempotency_keys%'
                            """
                        )
                        return try rows.first?.decode(Int64.self) == 1
                    }
                    #expect(blocked, "the request reached its stored response")
                    #expect(try await Self.orders(pool) == 0, "the order is not committed before its response is stored")
                    server.kill()
                    try await locker.query("ROLLBACK", logger: pool.statementLogger)
                    let lost = try? await first.value
                    #expect(lost?.status == nil, "the client never got an answer: \(String(describing: lost))")
                }
            }
            // The dead server's transaction ends without a commit.
            let settled = try await eventually(within: .seconds(30)) {
                let rows = try await pool.query(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid() AND state <> 'idle'"
                )
                return try rows.first?.decode(Int64.self) == 0
            }
            #expect(settled)
            #expect(try await Self.orders(pool) == 0)

            try await ServedProcess.with(database: database) { server in
                let port = server.port
                let (retry, again) = try await LoopbackSocket.onThread {
                    (
                        try LoopbackSocket.request(port: port, "POST", "/api/workorders/orders", headers: headers, body: draft),
                        try LoopbackSocket.request(port: port, "POST", "/api/workorders/orders", headers: headers, body: draft)
                    )
                }
                #expect(retry.status == 201, "the retry runs again: \(retry.text)")
                #expect(again.status == 201 && again.text.lowercased().contains("idempotent-replayed: true"))
                let body = { (text: String) in text.components(separatedBy: "\r\n\r\n").dropFirst().joined(separator: "\r\n\r\n") }
                #expect(body(again.text) == body(retry.text), "the first result, byte for byte")
            }
            #expect(try await Self.orders(pool) == 1, "created exactly once")
        }
    }
}
