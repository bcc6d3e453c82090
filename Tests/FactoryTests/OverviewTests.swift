import Foundation
import HTTPTypes
import HummingbirdTesting
import NIOCore
import PostgresNIO
import StrataCore
import StrataHTTP
import StrataPostgres
import StrataRedis
import StrataTestSupport
import Testing

@testable import Factory

@Suite struct OverviewTests {
    typealias H = FactoryHarness

    /// The app with a Redis, an unscoped key and the small plant.
    static func withCachedApp(
        redis: RedisClient,
        _ body: @escaping @Sendable (any TestClientProtocol, HTTPFields, TestDatabase) async throws -> Void
    ) async throws {
        try await withTestModule(FactoryModule()) { database in
            ModuleEnvironment(pool: database.pool, redis: redis, tokens: try TestModule.tokens(), logger: TestPostgres.logger)
        } _: { database, client, _ in
            let key = try await APIKeyStore(pool: database.pool).create(.init(name: "plant-admin", permissions: ["factory.*"])).secret
            let headers: HTTPFields = [.xAPIKey: key, .contentType: "application/json"]
            try await H.seedPlant(client, headers)
            try await body(client, headers, database)
        }
    }

    @Test(.timeLimit(.minutes(2)))
    func theOverviewIsCachedUnderTheSeedsKeyAndNeverStaleAfterAWrite() async throws {
        try await withTestRedis { redis, _ in
            try await Self.withCachedApp(redis: redis) { client, headers, database in
                // Each test database starts its lines afresh: clear what another run cached.
                _ = try await redis.delete(["production:overview:L1", "production:overview:L2"])
                let empty = try await H.expect(client, .get, "/api/factory/lines/L1/overview", headers)
                #expect(empty["open_anomalies"]?["high"] == .number(0) && empty["work_orders"]?["pending"] == .number(0))
                let cached = String(decoding: try #require(try await redis.get("production:overview:L1")), as: UTF8.self)
                #expect(cached.hasPrefix("\(Int(empty["version"]?.numberValue ?? -1)):"))

                let anomaly = try await H.expect(client, .post, "/api/factory/anomalies", headers, H.anomaly(severity: "critical"), .created)
                let after = try await H.expect(client, .get, "/api/factory/lines/L1/overview", headers)
                #expect(after["open_anomalies"]?["critical"] == .number(1), "the write made the cached overview stale at once")
                #expect((after["version"]?.numberValue ?? 0) > (empty["version"]?.numberValue ?? 0))

                let now = Int64(Date().timeIntervalSince1970)
                // The last hour of every station of the line (and of none), not older points, not
                // another line's.
                let body =
                    ((0..<3).map { "production_metrics,line_id=L1,station_id=S1 yield_rate=9\($0),cycle_time=40 \(now - Int64($0) * 60)" } + [
                        "production_metrics,line_id=L1,station_id=S2 yield_rate=80,cycle_time=41 \(now - 120)",
                        "production_metrics,line_id=L1,station_id=S2 yield_rate=100,cycle_time=39 \(now - 3000)",
                        "production_metrics,line_id=L1,station_id=S2 yield_rate=10,cycle_time=90 \(now - 7200)",
                        "production_metrics,line_id=L1 yield_rate=95 \(now - 30)",
                        "production_metrics,line_id=L2,station_id=S2 yield_rate=1,cycle_time=1 \(now - 30)",
                    ]).joined(separator: "\n")
                let status = try await client.execute(
                    uri: "/api/v2/write?bucket=production&precision=s",
                    method: .post,
                    headers: [.xAPIKey: headers[.xAPIKey]!],
                    body: ByteBuffer(string: body)
                ) { $0.status }
                #expect(status == .noContent)
                let metrics = try await H.expect(client, .get, "/api/factory/lines/L1/overview", headers)
                let yield = metrics["last_hour"]?["yield_rate"]
                #expect(yield?["count"] == .number(6) && yield?["min"] == .number(80) && yield?["max"] == .number(100))
                #expect(abs((yield?["mean"]?.numberValue ?? 0) - 548.0 / 6) < 1e-9)
                let cycle = metrics["last_hour"]?["cycle_time"]
                #expect(cycle?["count"] == .number(5) && cycle?["min"] == .number(39) && cycle?["max"] == .number(41))

                let id = try #require(anomaly["anomaly_id"]?.stringValue)
                // A move between open states changes nothing the overview shows: its version stays
                // and the cached overview is served as it was (the same generation time).
                try await H.expect(client, .post, "/api/factory/anomalies/\(id)/transition", headers, ["status": .string("diagnosing")])
                #expect(try await H.expect(client, .get, "/api/factory/lines/L1/overview", headers) == metrics)
                try await H.expect(client, .post, "/api/factory/anomalies/\(id)/transition", headers, ["status": .string("cancelled")])
                let cancelled = try await H.expect(client, .get, "/api/factory/lines/L1/overview", headers)
                #expect(cancelled["open_anomalies"]?["critical"] == .number(0))
                #expect((cancelled["version"]?.numberValue ?? 0) > (metrics["version"]?.numberValue ?? 0))
                try await H.expect(client, .get, "/api/factory/lines/L9/overview", headers, nil, .notFound)

                // A scoped caller is refused another line's overview even when it is cached.
                _ = try await H.expect(client, .get, "/api/factory/lines/L2/overview", headers)
                #expect(try await redis.get("production:overview:L2") != nil)
                let key = try await APIKeyStore(pool: database.pool).create(
                    .init(name: "l1", permissions: ["factory.read"], scopes: [FactoryScope.lines: ["L1"]])
                ).secret
                try await H.expect(client, .get, "/api/factory/lines/L2/overview", [.xAPIKey: key], nil, .notFound)
                try await H.expect(client, .get, "/api/factory/lines/L1/overview", [.xAPIKey: key])
                // So is a caller limited to another factory; the cached overview is the same
                // document whoever reads it.
                let f1 = try await APIKeyStore(pool: database.pool).create(
                    .init(name: "f1", permissions: ["factory.read"], scopes: [FactoryScope.factories: ["F1"]])
                ).secret
                try await H.expect(client, .get, "/api/factory/lines/L2/overview", [.xAPIKey: f1], nil, .notFound)
                let f2 = try await APIKeyStore(pool: database.pool).create(
                    .init(name: "f2", permissions: ["factory.read"], scopes: [FactoryScope.factories: ["F2"]])
                ).secret
                #expect(
                    try await H.expect(client, .get, "/api/factory/lines/L2/overview", [.xAPIKey: f2])
                        == (try await H.expect(client, .get, "/api/factory/lines/L2/overview", headers))
                )
            }
        }
    }

    @Test(.timeLimit(.minutes(2)))
    func theOpenCountsEqualARawRecountAfterBulkInsertsMovesAndDeletes() async throws {
        try await H.withApp { client, headers, database in
            let pool = database.pool
            let recount = """
                SELECT line_id, factory_id, severity, count(*) FROM factory.anomalies
                WHERE status NOT IN ('closed', 'cancelled') GROUP BY 1, 2, 3 ORDER BY 1, 2, 3
                """
            let kept = "SELECT line_id, factory_id, severity, open_count FROM factory.line_open_anomalies WHERE open_count > 0 ORDER BY 1, 2, 3"
            @Sendable func rows(_ sql: String) async throws -> [String] {
                try await pool.query(PostgresQuery(unsafeSQL: sql)).map { row in
                    let (line, factory, severity, count) = try row.decode((String, String, String, Int64).self)
                    return "\(line)/\(factory)/\(severity)=\(count)"
                }
            }
            let steps = [
                """
                INSERT INTO factory.anomalies (anomaly_id, factory_id, line_id, defect_type, severity, detected_at, created_by)
                SELECT gen_random_uuid(), 'F' || (n % 2 + 1), 'L' || (n % 2 + 1), 'scratch',
                       (ARRAY['low', 'medium', 'high', 'critical'])[n % 4 + 1], now(), 'test'
                FROM generate_series(1, 400) AS n
                """,
                "UPDATE factory.anomalies SET status = 'cancelled' WHERE random() < 0.3",
                "UPDATE factory.anomalies SET severity = 'low' WHERE severity = 'high' AND random() < 0.5",
                "UPDATE factory.anomalies SET status = 'diagnosing' WHERE status = 'open' AND random() < 0.5",
                "DELETE FROM factory.anomalies WHERE random() < 0.2",
                "UPDATE factory.anomalies SET status = 'open' WHERE status = 'cancelled' AND random() < 0.5",
            ]
            for step in steps {
                try await pool.query(PostgresQuery(unsafeSQL: step))
                let expected = try await rows(recount)
                #expect(try await rows(kept) == expected, "after \(step.prefix(40))")
                #expect(!expected.isEmpty)
            }
            // The overview shows them.
            let line1 = try await rows(recount).filter { $0.hasPrefix("L1/") }
            let overview = try await H.expect(client, .get, "/api/factory/lines/L1/overview", headers)
            for entry in line1 {
                let severity = String(entry.split(separator: "/")[2].split(separator: "=")[0])
                let count = Double(entry.split(separator: "=")[1]) ?? -1
                #expect(overview["open_anomalies"]?[severity] == .number(count), "\(entry)")
            }
        }
    }

    @Test(.timeLimit(.minutes(2)))
    func withoutRedisTheOverviewIsReadFromPostgreSQL() async throws {
        let port = try FileSystem.freeLoopbackPort()
        let redis = RedisClient(
            configuration: .init(url: RedisURL(address: .tcp(host: "127.0.0.1", port: port)), commandTimeout: .milliseconds(100)),
            logger: TestPostgres.logger
        )
        try await Self.withCachedApp(redis: redis) { client, headers, _ in
            try await H.expect(client, .post, "/api/factory/anomalies", headers, H.anomaly(severity: "low"), .created)
            let overview = try await H.expect(client, .get, "/api/factory/lines/L1/overview", headers)
            #expect(overview["open_anomalies"]?["low"] == .number(1))
        }
        await redis.close()
    }
}
