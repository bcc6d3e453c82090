import Foundation
import HTTPTypes
import HummingbirdTesting
import NIOCore
import PostgresNIO
import StrataCore
import StrataHTTP
import StrataPostgres
import StrataTestSupport
import Testing

@testable import Factory

@Suite struct MetricsTests {
    typealias H = FactoryHarness

    static func lines(_ count: Int, start: Int64 = 1_767_225_600, line: String = "L1", station: String = "S1") -> String {
        (0..<count).map {
            "production_metrics,line_id=\(line),station_id=\(station) yield_rate=\(90 + $0 % 10).5,cycle_time=\(40 + $0 % 7) \(start + Int64($0) * 60)"
        }
        .joined(separator: "\n")
    }

    static func write(
        _ client: any TestClientProtocol,
        _ key: String,
        _ body: String,
        uri: String = "/api/v2/write?org=company&bucket=production&precision=s"
    )
        async throws -> (HTTPResponse.Status, H.Object)
    {
        try await client.execute(
            uri: uri,
            method: .post,
            headers: [.authorization: "Token \(key)", .contentType: "text/plain; charset=utf-8"],
            body: ByteBuffer(string: body)
        ) {
            ($0.status, H.json($0))
        }
    }

    @Test(.timeLimit(.minutes(2)))
    func lineProtocolBatchesAreWrittenWholeOrNotAtAllAndAReplayAddsNothing() async throws {
        try await H.withApp { client, headers, database in
            let key = try await APIKeyStore(pool: database.pool).create(.init(name: "collector", permissions: ["factory.write", "factory.read"]))
                .secret
            let batch = Self.lines(120)
            #expect(try await Self.write(client, key, batch).0 == .noContent)
            #expect(try await Self.write(client, key, batch).0 == .noContent)
            #expect(try await H.count(database, "SELECT count(*) FROM factory.production_metrics") == 120)

            // A bad line: 400 naming it, nothing of the batch written.
            let bad = Self.lines(10, start: 1_767_312_000) + "\nproduction_metrics,line_id=L1 yield_rate=oops 1767312999"
            let (status, problem) = try await Self.write(client, key, bad)
            #expect(status == .badRequest && problem["code"] == .string("factory.bad_line"))
            #expect(problem["detail"]?.stringValue?.contains("(line 11)") == true)
            let unknownField = try await Self.write(client, key, "production_metrics,line_id=L1 temperature=80 1767312000")
            #expect(unknownField.0 == .badRequest)
            let unknownLine = try await Self.write(client, key, Self.lines(3, start: 1_767_312_000) + "\n" + Self.lines(1, line: "L9"))
            #expect(unknownLine.0 == .badRequest && unknownLine.1["details"]?["line"] == .string("4"))
            #expect(try await H.count(database, "SELECT count(*) FROM factory.production_metrics") == 120)

            // The bucket is production; v1's /write takes the key as its password.
            #expect(try await Self.write(client, key, batch, uri: "/api/v2/write?org=company&bucket=other").0 == .notFound)
            let v1 = try await client.execute(
                uri: "/write?db=production&precision=s&u=collector&p=\(key)",
                method: .post,
                headers: [:],
                body: ByteBuffer(string: Self.lines(5, start: 1_767_400_000))
            ) { $0.status }
            #expect(v1 == .noContent)
            let anonymous = try await client.execute(
                uri: "/write?db=production",
                method: .post,
                headers: [:],
                body: ByteBuffer(string: Self.lines(1))
            ) { $0.status }
            #expect(anonymous == .unauthorized)
            #expect(try await H.count(database, "SELECT count(*) FROM factory.production_metrics") == 125)

            // A point with one field, then the other: InfluxDB merges them.
            _ = try await Self.write(
                client,
                key,
                "production_metrics,line_id=L2 yield_rate=97 1767500000\nproduction_metrics,line_id=L2 cycle_time=33 1767500000"
            )
            let merged = try await database.pool.query("SELECT yield_rate, cycle_time FROM factory.production_metrics WHERE line_id = 'L2'")
            #expect(
                try merged.map { row in try [row.makeRandomAccess()[0].decode(Double?.self), row.makeRandomAccess()[1].decode(Double?.self)] } == [
                    [97, 33]
                ]
            )

            // Reads: a raw page and the windows.
            let page = try await H.expect(
                client,
                .get,
                "/api/factory/metrics?line_id=L1&from=2026-01-01T00:00:00Z&to=2026-01-01T01:00:00Z&limit=50",
                headers
            )
            #expect(page["items"]?.arrayValue?.count == 50 && page["next_cursor"]?.stringValue != nil)
            let next = try await H.expect(
                client,
                .get,
                "/api/factory/metrics?line_id=L1&from=2026-01-01T00:00:00Z&to=2026-01-01T01:00:00Z&limit=50&cursor=\(page["next_cursor"]?.stringValue ?? "")",
                headers
            )
            #expect(next["items"]?.arrayValue?.count == 10 && next["next_cursor"] == .null)
            let hourly = try await H.expect(
                client,
                .get,
                "/api/factory/metrics/aggregate?line_id=L1&from=2026-01-01T00:00:00Z&to=2026-01-01T02:00:00Z&window=1h",
                headers
            )
            #expect(hourly["source"] == .string("raw"))
            #expect(hourly["items"]?.arrayValue?.map { $0["yield_rate"]?["count"] } == [.number(60), .number(60)])
            try await MetricsService(pool: database.pool).rollUp()
            let rolled = try await H.expect(
                client,
                .get,
                "/api/factory/metrics/aggregate?line_id=L1&from=2026-01-01T00:00:00Z&to=2026-01-01T02:00:00Z&window=1h",
                headers
            )
            #expect(rolled["source"] == .string("rollup") && rolled["items"] == hourly["items"])
            try await H.expect(
                client,
                .get,
                "/api/factory/metrics/aggregate?line_id=L1&from=2000-01-01T00:00:00Z&to=2026-01-01T02:00:00Z&window=1m",
                headers,
                nil,
                .unprocessableContent
            )
            try await H.expect(client, .get, "/api/factory/metrics/aggregate?line_id=L1&from=nope&window=1h", headers, nil, .unprocessableContent)
        }
    }

    @Test(.timeLimit(.minutes(2)))
    func aScopedWriterCannotWriteAnotherLinesPoints() async throws {
        try await H.withApp { client, _, database in
            let key = try await APIKeyStore(pool: database.pool).create(
                .init(name: "l1-collector", permissions: ["factory.write"], scopes: [FactoryScope.lines: ["L1"]])
            ).secret
            #expect(try await Self.write(client, key, Self.lines(3)).0 == .noContent)
            let (status, problem) = try await Self.write(
                client,
                key,
                Self.lines(2, start: 1_767_300_000) + "\n" + Self.lines(1, line: "L2", station: "S2")
            )
            #expect(status == .forbidden && problem["details"]?["line"] == .string("3"))
            #expect(try await H.count(database, "SELECT count(*) FROM factory.production_metrics") == 3)
        }
    }

    @Test(.timeLimit(.minutes(2)))
    func theSeedsOwnInfluxDBClientWritesAPointToStrata() async throws {
        let python = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent(".venv/bin/python").path
        try #require(FileManager.default.isExecutableFile(atPath: python), "no \(python): run `make test` (it installs influxdb-client into .venv)")
        try await withTestModule(FactoryModule(), live: true) { database, client, _ in
            let admin = try await APIKeyStore(pool: database.pool).create(.init(name: "admin", permissions: ["factory.*"])).secret
            try await H.seedPlant(client, [.xAPIKey: admin, .contentType: "application/json"])
            let token = try await APIKeyStore(pool: database.pool).create(.init(name: "influx", permissions: ["factory.write"])).secret
            let port = try #require(client.port)
            // The seed's code: a Point written with the synchronous write API, the token as `Token …`.
            let script = """
                import sys
                from datetime import datetime, timezone
                from influxdb_client import InfluxDBClient, Point
                from influxdb_client.client.write_api import SYNCHRONOUS
                client = InfluxDBClient(url=sys.argv[1], token=sys.argv[2], org="company")
                write_api = client.write_api(write_options=SYNCHRONOUS)
                point = Point("production_metrics").tag("line_id", "L1").tag("station_id", "S1") \\
                    .field("yield_rate", 98.5).field("cycle_time", 42.0).time(datetime.now(timezone.utc))
                write_api.write(bucket="production", record=point)
                try:
                    write_api.write(bucket="production", record="production_metrics,line_id=L1 yield_rate=oops")
                except Exception as error:
                    print("refused", getattr(error, "status", None))
                client.close()
                print("written")
                """
            let process = try CommandProcess.start([python, "-c", script, "http://127.0.0.1:\(port)", token], input: "")
            var output: [String] = []
            for await line in process.lines { output.append(line.text) }
            #expect(await process.exitCode() == 0, "\(output)")
            #expect(output.contains("refused 400") && output.contains("written"), "\(output)")
            let rows = try await database.pool.query("SELECT line_id, station_id, yield_rate, cycle_time FROM factory.production_metrics")
            #expect(
                try rows.map { try $0.decode((String, String, Double, Double).self) }.map { "\($0.0) \($0.1) \($0.2) \($0.3)" } == ["L1 S1 98.5 42.0"]
            )
        }
    }
}

@Suite struct RollupPropertyTests {
    typealias H = FactoryHarness

    static func close(_ a: MetricsService.Summary, _ b: MetricsService.Summary) -> Bool {
        func near(_ x: Double?, _ y: Double?) -> Bool {
            switch (x, y) {
            case (nil, nil): true
            case (let x?, let y?): abs(x - y) <= 1e-9 * max(1, abs(x), abs(y))
            default: false
            }
        }
        return a.count == b.count && near(a.mean, b.mean) && near(a.min, b.min) && near(a.max, b.max)
    }

    @Test(.timeLimit(.minutes(2)))
    func rollupsEqualARawRecountForRandomWindowsAfterLateAndReplayedWrites() async throws {
        try await H.withApp { _, _, database in
            var random = SeededGenerator(state: 20_261_206)
            let metrics = MetricsService(pool: database.pool)
            let caller = Caller.job("rollup-test")
            let start = Date(timeIntervalSince1970: 1_767_225_600)  // 2026-01-01
            func batch(_ count: Int) -> [MetricPoint] {
                (0..<count).map { _ in
                    MetricPoint(
                        time: start.addingTimeInterval(Double(Int.random(in: 0..<(3 * 86_400), using: &random))),
                        lineID: Bool.random(using: &random) ? "L1" : "L2",
                        stationID: ["", "S1", "S2"].randomElement(using: &random)!,
                        yieldRate: Bool.random(using: &random) ? Double.random(in: 80...100, using: &random) : nil,
                        cycleTime: Double.random(in: 30...60, using: &random)
                    )
                }.filter { !($0.lineID == "L1" && $0.stationID == "S2") && !($0.lineID == "L2" && $0.stationID == "S1") }
            }
            for round in 0..<4 {
                let points = batch(800)
                try await metrics.write(points, by: caller)
                if round == 1 { try await metrics.write(points, by: caller) }  // a replay
                if round < 3 { try await metrics.rollUp() }  // the last round's writes arrive late
            }
            try await metrics.rollUp()
            #expect(try await H.count(database, "SELECT count(*) FROM factory.metric_rollup_dirty") == 0)

            let store = MetricsStore(logger: TestPostgres.logger)
            for _ in 0..<40 {
                let window: MetricsService.Window = Bool.random(using: &random) ? .hour : .day
                let from = start.addingTimeInterval(
                    Double(Int.random(in: -1...2, using: &random)) * 86_400 + Double(Int.random(in: 0..<24, using: &random)) * 3_600
                )
                let to = from.addingTimeInterval(window.seconds * Double(Int.random(in: 1...40, using: &random)))
                let alignedFrom = Date(timeIntervalSince1970: (from.timeIntervalSince1970 / window.seconds).rounded(.down) * window.seconds)
                let line = Bool.random(using: &random) ? "L1" : "L2"
                let station = [nil, "", "S1", "S2"].randomElement(using: &random)!
                let (raw, rolled) = try await FactoryScope.security.read(on: database.pool, for: [:], logger: store.logger) { connection in
                    (
                        try await store.aggregateRaw(line: line, station: station, from: alignedFrom, to: to, window: window, on: connection),
                        try await store.aggregateRollups(line: line, station: station, from: alignedFrom, to: to, window: window, on: connection)
                    )
                }
                #expect(raw.map(\.start) == rolled.map(\.start), "\(window) \(line) \(station ?? "-") \(alignedFrom)…\(to)")
                for (a, b) in zip(raw, rolled) {
                    #expect(Self.close(a.yieldRate, b.yieldRate) && Self.close(a.cycleTime, b.cycleTime), "\(a) ≠ \(b)")
                }
            }
        }
    }
}
