import Foundation
import Hummingbird
import HummingbirdTesting
import Logging
import StrataCore
import StrataHTTP
import StrataPostgres
import StrataServer
import StrataTestSupport
import Testing

/// A module with routes that exercise the HTTP conventions.
struct ProbeModule: StrataModule {
    let name = "probe"
    func migrationLine() throws -> MigrationLine { try MigrationLine(module: name, migrations: []) }

    struct Item: Codable, ResponseEncodable {
        var name: String
        var quantity: Int
    }

    func addRoutes(to router: any RouterMethods<StrataRequestContext>, environment: ModuleEnvironment) {
        router.post("/api/probe/items") { request, context -> Item in
            try await request.decodeJSON(as: Item.self, context: context)
        }
        router.post("/api/probe/audited") { request, context -> Item in
            let item = try await request.decodeJSON(as: Item.self, context: context)
            let pool = environment.pool
            _ = try await pool.withTransaction { connection in
                try await context.audit.record(
                    AuditRecord(app: "probe", actor: "tester", action: "create", resourceType: "item", resourceID: item.name, responseStatus: 200),
                    on: connection,
                    logger: pool.statementLogger
                )
            }
            return item
        }
        router.get("/api/probe/busy") { _, _ -> String in
            throw StrataError(.databaseBusy, "No database connection became free in time; retry shortly.")
        }
        router.get("/api/probe/crash") { _, _ -> String in
            struct Secret: Error { var password = "hunter2" }
            throw Secret()
        }
    }
}

@Suite struct StrataApplicationTests {
    struct Problem: Decodable {
        var type: String
        var title: String
        var status: Int
        var detail: String
        var code: String
        var request_id: String?
        var details: [String: String]?
    }

    func withApplication(
        migrated: Bool = true,
        readiness: Readiness = Readiness(),
        _ body: @escaping @Sendable (any TestClientProtocol) async throws -> Void
    ) async throws {
        let checks: @Sendable (TestDatabase) throws -> [ReadinessCheck] = { database in
            let migrator = Migrator(lines: try StrataApplication.migrationLines(), pool: database.pool, logger: TestPostgres.logger)
            return StrataApplication.readinessChecks(pool: database.pool, migrator: migrator)
        }
        try await withTestApplication(
            modules: [ProbeModule()],
            variables: ["HTTP_MAX_BODY_SIZE": "1024"],
            migrated: migrated,
            readiness: readiness,
            checks: checks
        ) { _, client, _ in try await body(client) }
    }

    /// The problem's code, or nil when the body is not a problem document.
    func code(_ response: TestResponse) -> String? {
        (try? problem(response))?.code
    }

    func problem(_ response: TestResponse) throws -> Problem {
        #expect(response.headers[.contentType] == "application/problem+json")
        return try JSONDecoder().decode(Problem.self, from: Data(String(buffer: response.body).utf8))
    }

    @Test(.timeLimit(.minutes(1)))
    func healthAnswersAndEveryResponseCarriesARequestID() async throws {
        try await withApplication { client in
            try await client.execute(uri: "/health", method: .get) { response in
                #expect(response.status == .ok)
                #expect(String(buffer: response.body) == #"{"status":"ok"}"#)
                #expect(response.headers[.xRequestID]?.count == 32)
            }
            try await client.execute(uri: "/health", method: .get, headers: [.xRequestID: "trace-42.a_b"]) { response in
                #expect(response.headers[.xRequestID] == "trace-42.a_b")
            }
            try await client.execute(uri: "/health", method: .get, headers: [.xRequestID: "bad id\u{7f}"]) { response in
                #expect(response.headers[.xRequestID] != "bad id\u{7f}")
                #expect(response.headers[.xRequestID]?.count == 32)
            }
        }
    }

    @Test(.timeLimit(.minutes(1)))
    func readyWhenTheDatabaseAnswersAndMigrationsAreCurrent() async throws {
        try await withApplication { client in
            try await client.execute(uri: "/ready", method: .get) { response in
                #expect(response.status == .ok)
                #expect(String(buffer: response.body).contains(#""migrations":"current""#))
            }
        }
    }

    @Test(.timeLimit(.minutes(1)))
    func notReadyWhileMigrationsArePending() async throws {
        try await withApplication(migrated: false) { client in
            try await client.execute(uri: "/ready", method: .get) { response in
                #expect(response.status == .serviceUnavailable)
                #expect(response.headers[.retryAfter] == "1")
                let problem = try self.problem(response)
                #expect(problem.code == "not_ready")
                #expect(problem.details?["migrations"]?.contains("strata/0001_migration_ledger.sql") == true)
                #expect(problem.details?["database"] == "ok")
            }
        }
    }

    @Test(.timeLimit(.minutes(1)))
    func notReadyWhileDraining() async throws {
        let readiness = Readiness()
        readiness.beginDraining()
        try await withApplication(readiness: readiness) { client in
            try await client.execute(uri: "/ready", method: .get) { response in
                #expect(response.status == .serviceUnavailable)
                let problem = try self.problem(response)
                #expect(problem.details?["server"] == "draining")
            }
            try await client.execute(uri: "/health", method: .get) { response in
                #expect(response.status == .ok)
            }
        }
    }

    @Test(.timeLimit(.minutes(1)))
    func unknownRoutesAnswerProblemJSON() async throws {
        try await withApplication { client in
            try await client.execute(uri: "/api/nowhere", method: .get, headers: [.xRequestID: "r-1"]) { response in
                #expect(response.status == .notFound)
                let problem = try self.problem(response)
                #expect(problem.code == "route_not_found")
                #expect(problem.status == 404)
                #expect(problem.request_id == "r-1")
                #expect(problem.type == "https://strata.dev/problems/route_not_found")
            }
        }
    }

    @Test(.timeLimit(.minutes(1)))
    func jsonBodiesAreCheckedForSyntaxShapeSizeAndMediaType() async throws {
        try await withApplication { client in
            let json: HTTPFields = [.contentType: "application/json"]
            try await client.execute(
                uri: "/api/probe/items",
                method: .post,
                headers: json,
                body: ByteBuffer(string: #"{"name":"bolt","quantity":3}"#)
            ) { response in
                #expect(response.status == .ok)
            }
            try await client.execute(
                uri: "/api/probe/items",
                method: .post,
                headers: json,
                body: ByteBuffer(string: #"{"name": "bolt", "quantity": "#)
            ) { response in
                #expect(response.status == .badRequest)
                #expect(self.code(response) == "malformed_body")
            }
            try await client.execute(uri: "/api/probe/items", method: .post, headers: json, body: ByteBuffer(string: #"{"name":"bolt"}"#)) {
                response in
                #expect(response.status == .badRequest)
                let problem = try self.problem(response)
                #expect(problem.detail.contains("quantity"))
            }
            let large = ByteBuffer(string: #"{"name":""# + String(repeating: "x", count: 4096) + #"","quantity":1}"#)
            try await client.execute(uri: "/api/probe/items", method: .post, headers: json, body: large) { response in
                #expect(response.status == .contentTooLarge)
                #expect(self.code(response) == "payload_too_large")
            }
            try await client.execute(uri: "/api/probe/items", method: .post, headers: [.contentType: "text/plain"], body: ByteBuffer(string: "bolt"))
            { response in
                #expect(response.status == .unsupportedMediaType)
                #expect(self.code(response) == "unsupported_media_type")
            }
        }
    }

    @Test(.timeLimit(.minutes(1)))
    func retryableErrorsAnswer503WithRetryAfterAndInternalOnesHideTheirCause() async throws {
        try await withApplication { client in
            try await client.execute(uri: "/api/probe/busy", method: .get) { response in
                #expect(response.status == .serviceUnavailable)
                #expect(response.headers[.retryAfter] == "1")
                #expect(self.code(response) == "database_busy")
            }
            try await client.execute(uri: "/api/probe/crash", method: .get) { response in
                #expect(response.status == .internalServerError)
                let problem = try self.problem(response)
                #expect(problem.code == "internal_error")
                #expect(!String(buffer: response.body).contains("hunter2"))
            }
        }
    }

    @Test(.timeLimit(.minutes(1)))
    func metricsExposeRequestsPoolAndDatabaseFigures() async throws {
        try await withApplication { client in
            try await client.execute(uri: "/health", method: .get) { _ in }
            try await client.execute(uri: "/metrics", method: .get) { response in
                #expect(response.status == .ok)
                let text = String(buffer: response.body)
                #expect(text.contains(#"strata_http_requests_total{method="GET",route="/health",status="200"}"#))
                #expect(text.contains("strata_http_request_duration_seconds_bucket"))
                #expect(text.contains(#"strata_db_pool_connections{state="leased"}"#))
                #expect(text.contains("strata_db_pool_acquire_wait_seconds_bucket"))
                #expect(text.contains("strata_pg_connections{database="))
                #expect(text.contains(#"strata_pg_table_live_rows{schema="strata",table="schema_migrations"}"#))
                #expect(text.contains("strata_backup_failed_last_week 0"), "where backups stand, even before the first")
            }
        }
    }
}

/// Each module reads its own variables when the server's configuration is read.
@Suite struct ModuleSettingsTests {
    @Test func everyModuleIsMadeFromTheEnvironmentAndABadVariableNamesItself() throws {
        let configuration = try ServerConfiguration(
            environment: EnvironmentReader(["AUDIT_RETENTION": "drop:24", "WORKORDERS_STORE": "memory", "FACTORY_METRICS_RETENTION": "400d"])
        )
        #expect(configuration.modules.map(\.name) == ["strata", "simjobs", "workorders", "workflows", "factory"])
        let metrics = configuration.modules.flatMap(\.partitionedTables).first { $0.table == "production_metrics" }
        #expect(metrics?.retention == .drop(after: 13), "the factory module read FACTORY_METRICS_RETENTION (400 days: 13 months)")
        let audit = configuration.modules.flatMap(\.partitionedTables).first { $0.table == "audit_log" }
        #expect(audit?.retention == .drop(after: 24), "the platform module read AUDIT_RETENTION")
        for (name, value) in [
            ("WORKORDERS_STORE", "paper"), ("SIMJOBS_UPLOAD_MAX_SIZE", "12"), ("SIMJOBS_ALERT_WEBHOOK_SECRET", "s"),
            ("FACTORY_METRICS_RETENTION", "2h"),
        ] {
            #expect {
                try ServerConfiguration(environment: EnvironmentReader([name: value]))
            } throws: { error in
                (error as? StrataError)?.code == .invalidConfiguration && (error as? StrataError)?.message.contains(name) == true
            }
        }
    }
}
