import Foundation
import HTTPTypes
import HummingbirdTesting
import Logging
import NIOCore
import PostgresNIO
import StrataCore
import StrataHTTP
import StrataPostgres
import StrataTestSupport
import Testing

@testable import Factory

@Suite struct ScopeTests {
    typealias H = FactoryHarness

    /// Two anomalies, one per line, made by the unscoped key; their ids.
    static func anomalies(_ client: any TestClientProtocol, _ headers: HTTPFields) async throws -> (l1: String, l2: String) {
        let l1 = try await H.expect(client, .post, "/api/factory/anomalies", headers, H.anomaly(line: "L1", station: "S1"), .created)
        let l2 = try await H.expect(client, .post, "/api/factory/anomalies", headers, H.anomaly(line: "L2", station: "S2"), .created)
        return (try #require(l1["anomaly_id"]?.stringValue), try #require(l2["anomaly_id"]?.stringValue))
    }

    /// Every scoped table's policy reads the scope once per statement (init plans), not
    /// `current_setting` for every row it filters.
    @Test(.timeLimit(.minutes(2)))
    func everyPolicyReadsTheScopeOncePerStatement() async throws {
        try await H.withApp { _, _, database in
            let policies = try await database.pool.query(
                "SELECT tablename, coalesce(qual, ''), coalesce(with_check, '') FROM pg_policies WHERE schemaname = 'factory' ORDER BY 1"
            ).map { try $0.decode((String, String, String).self) }
            #expect(policies.count == 12, "\(policies.map(\.0))")
            for (table, using, check) in policies {
                #expect(using.contains("SELECT factory.scope_values('line_ids'"), "\(table): \(using)")
                #expect(!using.contains("current_setting") && !check.contains("current_setting"), "\(table): \(using) \(check)")
            }
            let plan = try await database.pool.withTransaction { connection in
                try await FactoryScope.security.apply([FactoryScope.lines: ["L1"]], on: connection, logger: TestPostgres.logger)
                return try await connection.run("EXPLAIN (COSTS OFF) SELECT count(*) FROM factory.anomalies", logger: TestPostgres.logger)
                    .collect().map { try $0.decode(String.self) }.joined(separator: "\n")
            }
            #expect(plan.contains("InitPlan"), "\(plan)")
            #expect(!plan.contains("current_setting"), "\(plan)")
        }
    }

    /// The anomaly list pages through exactly the rows each filter selects, newest first, under
    /// the caller's scope — also once its prepared statements run on generic plans (after five
    /// runs on a connection: the test runs each about 18 times).
    @Test(.timeLimit(.minutes(2)))
    func theAnomalyListPagesThroughExactlyWhatEachFilterSelects() async throws {
        try await H.withApp { client, headers, database in
            for n in 0..<9 {
                let (line, station) = n % 3 == 2 ? ("L2", "S2") : ("L1", n % 2 == 0 ? "S1" : nil)
                let severity = ["low", "high", "critical"][n % 3 == 1 ? 1 : n % 2 * 2]
                _ = try await H.expect(
                    client,
                    .post,
                    "/api/factory/anomalies",
                    headers,
                    H.anomaly(line: line, station: station, severity: severity),
                    .created
                )
            }
            let store = AnomalyStore(logger: TestPostgres.logger)
            let filters: [(AnomalyStore.Filter, String)] = [
                (.init(), "true"),
                (.init(lineID: "L1"), "line_id = 'L1'"),
                (.init(stationID: "S1"), "station_id = 'S1'"),
                (.init(lineID: "L1", severity: .high), "line_id = 'L1' AND severity = 'high'"),
                (.init(status: .open, severity: .critical), "status = 'open' AND severity = 'critical'"),
                (.init(lineID: "L2", stationID: "S1"), "false"),
            ]
            for scopes in [[:], [FactoryScope.lines: ["L1"]]] as [[String: [String]]] {
                for (filter, condition) in filters {
                    let scope = scopes.isEmpty ? "true" : "line_id = 'L1'"
                    let expected = try await database.pool.query(
                        PostgresQuery(
                            unsafeSQL:
                                "SELECT anomaly_id FROM factory.anomalies WHERE \(condition) AND \(scope) ORDER BY created_at DESC, anomaly_id DESC"
                        )
                    ).map { try $0.decode(UUID.self) }
                    var listed: [UUID] = []
                    var cursor: Cursor?
                    repeat {
                        let after = cursor
                        let page = try await FactoryScope.security.read(on: database.pool, for: scopes, logger: store.logger) { connection in
                            try await store.anomalies(filter, limit: 2, cursor: after, on: connection)
                        }
                        #expect(page.items.count <= 2)
                        listed += page.items.map(\.anomalyID)
                        cursor = try page.nextCursor.map { try Cursor(decoding: $0) }
                    } while cursor != nil && listed.count < 20
                    #expect(listed == expected, "\(condition) in \(scopes)")
                }
            }
        }
    }

    @Test(.timeLimit(.minutes(2)))
    func theRepositoryReachesOnlyTheScopedLinesWithoutAnyFilterOfItsOwn() async throws {
        try await H.withApp { client, headers, database in
            _ = try await Self.anomalies(client, headers)
            let store = AnomalyStore(logger: TestPostgres.logger)
            let security = FactoryScope.security
            let filter = AnomalyStore.Filter()

            let scoped = try await security.read(on: database.pool, for: [FactoryScope.lines: ["L1"]], logger: store.logger) { connection in
                try await store.anomalies(filter, limit: 50, cursor: nil, on: connection).items
            }
            #expect(scoped.map(\.lineID) == ["L1"])
            let byFactory = try await security.read(on: database.pool, for: [FactoryScope.factories: ["F2"]], logger: store.logger) { connection in
                try await store.anomalies(filter, limit: 50, cursor: nil, on: connection).items
            }
            #expect(byFactory.map(\.lineID) == ["L2"])
            let everything = try await security.read(on: database.pool, for: [:], logger: store.logger) { connection in
                try await store.anomalies(filter, limit: 50, cursor: nil, on: connection).items
            }
            #expect(everything.count == 2)

            // The scoped role with no scope set reaches nothing: forgetting the scope cannot leak.
            let unset = try await database.pool.withTransaction { connection in
                try await connection.run("SET LOCAL ROLE strata_factory_scoped", logger: store.logger)
                return try await store.anomalies(filter, limit: 50, cursor: nil, on: connection).items
            }
            #expect(unset.isEmpty)

            // Writing another line's row is refused by the policy, whatever the statement says.
            let caller = Caller(actor: "user:l1", name: "l1", scopes: [FactoryScope.lines: ["L1"]])
            let refused = await #expect(throws: StrataError.self) {
                try await security.transaction(on: database.pool, for: caller, logger: store.logger) { connection in
                    try await connection.run(
                        """
                        INSERT INTO factory.anomalies (anomaly_id, factory_id, line_id, defect_type, severity, detected_at, created_by)
                        VALUES (\(UUID.v7()), 'F2', 'L2', 'crack', 'low', now(), 'test')
                        """,
                        logger: store.logger
                    )
                    return ((), nil as Change?)
                }
            }
            #expect(refused?.code == .forbidden)
            let moved = await #expect(throws: StrataError.self) {
                try await security.transaction(on: database.pool, for: caller, logger: store.logger) { connection in
                    try await connection.run("UPDATE factory.production_lines SET factory_id = 'F2' WHERE line_id = 'L1'", logger: store.logger)
                    return ((), nil as Change?)
                }
            }
            #expect(moved != nil)
            #expect(try await H.count(database, "SELECT count(*) FROM factory.anomalies") == 2)
        }
    }

    @Test(.timeLimit(.minutes(2)))
    func aSignedInUserScopedToALineSeesAndChangesOnlyItsRows() async throws {
        try await H.withApp { client, headers, database in
            let (l1, l2) = try await Self.anomalies(client, headers)
            try await H.expect(
                client,
                .post,
                "/api/factory/users",
                headers,
                [
                    "user_id": .string("u-li"), "username": .string("Li Wei"), "password": .string("correct horse battery"),
                    "role": .string("engineer"), "factory_ids": .array([.string("F1")]), "line_ids": .array([.string("L1")]),
                    "email": .string("li@example.com"),
                ],
                .created
            )
            try await H.expect(
                client,
                .post,
                "/api/factory/users",
                headers,
                ["user_id": .string("u-bad"), "username": .string("x"), "password": .string("short")],
                .unprocessableContent
            )
            try await H.expect(
                client,
                .post,
                "/api/factory/login",
                [.contentType: "application/json"],
                ["login": .string("li wei"), "password": .string("wrong one!")],
                .unauthorized
            )
            let signedIn = try await H.expect(
                client,
                .post,
                "/api/factory/login",
                [.contentType: "application/json"],
                ["login": .string("LI@example.com"), "password": .string("correct horse battery")]
            )
            let token = try #require(signedIn["token"]?.stringValue)
            let user: HTTPFields = [.authorization: "Bearer \(token)", .contentType: "application/json"]
            #expect(try await H.count(database, "SELECT count(*) FROM factory.users WHERE user_id = 'u-li' AND last_login_at IS NOT NULL") == 1)

            // Reads: only L1; L2's rows are not found.
            let list = try await H.expect(client, .get, "/api/factory/anomalies", user)
            #expect(list["items"]?.arrayValue?.compactMap { $0["line_id"]?.stringValue } == ["L1"])
            try await H.expect(client, .get, "/api/factory/anomalies/\(l1)", user)
            try await H.expect(client, .get, "/api/factory/anomalies/\(l2)", user, nil, .notFound)
            try await H.expect(client, .get, "/api/factory/anomalies/\(l2)/history", user, nil, .notFound)
            try await H.expect(client, .get, "/api/factory/lines/L2", user, nil, .notFound)
            try await H.expect(client, .get, "/api/factory/lines/L2/stations", user, nil, .notFound)
            let lines = try await H.expect(client, .get, "/api/factory/lines", user)
            #expect(lines["items"]?.arrayValue?.compactMap { $0["line_id"]?.stringValue } == ["L1"])

            // Writes: reporting on L2 is 403, changing L2's anomaly is 404; nothing is written.
            let outside = try await H.expect(client, .post, "/api/factory/anomalies", user, H.anomaly(line: "L2", station: "S2"), .forbidden)
            #expect(outside["code"] == .string("forbidden"))
            try await H.expect(client, .post, "/api/factory/anomalies/\(l2)/transition", user, ["status": .string("diagnosing")], .notFound)
            try await H.expect(client, .post, "/api/factory/anomalies/\(l1)/transition", user, ["status": .string("diagnosing")])
            #expect(try await H.count(database, "SELECT count(*) FROM factory.anomalies") == 2)
            #expect(try await H.count(database, "SELECT count(*) FROM factory.anomalies WHERE status = 'open'") == 1)
            // An engineer manages no lines or users.
            try await H.expect(
                client,
                .post,
                "/api/factory/lines",
                user,
                ["line_id": .string("L3"), "line_name": .string("x"), "factory_id": .string("F1")],
                .forbidden
            )
            try await H.expect(client, .get, "/api/factory/users", user, nil, .forbidden)
        }
    }
}

@Suite struct FactoryEventScopeTests {
    typealias H = FactoryHarness

    static func event(_ payload: String) -> OutboxEvent {
        OutboxEvent(app: "factory", aggregateType: "anomaly", aggregateID: "a", kind: "anomaly.reported", payloadJSON: payload)
    }

    @Test func aScopedCallerSeesTheEventsOfItsLinesAndTheSharedGraphOnly() {
        let scopes = [FactoryScope.lines: ["L1"]]
        #expect(FactoryEventsController.visible(Self.event(#"{"factory_id":"F1","line_id":"L1"}"#), to: scopes))
        #expect(!FactoryEventsController.visible(Self.event(#"{"factory_id":"F2","line_id":"L2"}"#), to: scopes))
        #expect(FactoryEventsController.visible(Self.event(#"{"node_id":"worn-nozzle","line_id":null}"#), to: scopes))
        #expect(!FactoryEventsController.visible(Self.event(#"{"from_node":"a","kind":"caused_by","to_node":"b"}"#), to: scopes))
        #expect(!FactoryEventsController.visible(Self.event(#"{"user_id":"u-li"}"#), to: scopes))
        #expect(!FactoryEventsController.visible(Self.event(#"{"factory_id":"F2","line_id":"L1"}"#), to: [FactoryScope.factories: ["F1"]]))
        #expect(FactoryEventsController.visible(Self.event(#"{"user_id":"u-li"}"#), to: [:]))
    }
}

@Suite struct FactoryIdempotencyTests {
    typealias H = FactoryHarness

    @Test(.timeLimit(.minutes(2)))
    func scopedWritesWithAnIdempotencyKeyHappenOnceAndAnswerTheSameTwice() async throws {
        try await H.withApp { client, _, database in
            let key = try await APIKeyStore(pool: database.pool).create(
                .init(name: "l1", permissions: ["factory.write"], scopes: [FactoryScope.lines: ["L1"]])
            ).secret
            var scoped: HTTPFields = [.xAPIKey: key, .contentType: "application/json"]
            scoped[.idempotencyKey] = "report-1"
            let first = try await H.expect(client, .post, "/api/factory/anomalies", scoped, H.anomaly(), .created)
            let again = try await H.expect(client, .post, "/api/factory/anomalies", scoped, H.anomaly(), .created)
            #expect(first["anomaly_id"] != nil && first == again)
            #expect(try await H.count(database, "SELECT count(*) FROM factory.anomalies") == 1)
            // A scoped read (the anomaly) then a scoped write (the image) in one idempotent request.
            let id = try #require(first["anomaly_id"]?.stringValue)
            var upload: HTTPFields = [.xAPIKey: key, .contentType: "application/octet-stream"]
            upload[.idempotencyKey] = "image-1"
            for _ in 0..<2 {
                let status = try await client.execute(
                    uri: "/api/factory/anomalies/\(id)/images?file_name=a.png",
                    method: .post,
                    headers: upload,
                    body: ByteBuffer(bytes: ImageTests.png)
                ) { $0.status }
                #expect(status == .created)
            }
            #expect(try await H.count(database, "SELECT count(*) FROM factory.defect_images") == 1)
        }
    }
}
