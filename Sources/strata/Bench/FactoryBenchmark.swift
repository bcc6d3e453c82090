import Factory
import Foundation
import Hummingbird
import Logging
import NIOCore
import NIOHTTP1
import PostgresNIO
import ServiceLifecycle
import StrataCore
import StrataHTTP
import StrataPostgres
import StrataRedis
import StrataServer

/// The factory app over loopback, through the real router, in a scratch database
/// (`strata_bench_factory`, dropped afterwards):
/// - `factory.ingest`: line-protocol points per second through `POST /api/v2/write` in batches
///   of 5,000, beside `COPY` of the same rows into the same table (`ceiling_ratio`) and beside
///   InfluxDB (Debian's `influxd`, started here on a free loopback port) taking the same batches
///   on its `/write` (`ratio`);
/// - `factory.rollup_query`: hourly means over 7 days of one line, one client, beside InfluxDB's
///   `GROUP BY time(1h)` over the same raw points (`ratio`: InfluxDB's p99 ÷ Strata's);
/// - `factory.graph`: depth-3 cause walks on a graph of 100,000 nodes and 500,000 edges;
/// - `factory.mixed`: 60 % overview, 20 % anomaly list, 15 % anomaly detail, 5 % transitions,
///   as a signed-in user scoped to half the lines, with the overview cached in Redis;
/// - `factory.memory`: the process's peak resident memory (server and load driver).
struct FactoryBenchmark {
    struct Plan: Sendable {
        var points: Int
        var ingestConnections: Int
        var queries: Int
        var graphNodes: Int
        var graphEdges: Int
        var walks: Int
        var connections: Int
        var requests: Int
        var influx: Bool
    }

    let plan: Plan
    let configuration: ServerConfiguration
    let logger: Logger
    let report: Report
    let database = "strata_bench_factory"
    static let lines = (1...10).map { "BL\($0)" }

    func run() async throws {
        var poolConfiguration = configuration.pool
        poolConfiguration.poolSize = 8
        poolConfiguration.maxOverflow = 0
        let migrations = try StrataApplication.migrationLines()
        try await ScratchDatabase.withPlatform(database, configuration: configuration, pool: poolConfiguration, lines: migrations, logger: logger) {
            pool,
            hotLayer in
            try await measure(pool: pool, redis: hotLayer.client, url: try await scratchURL())
        }
    }

    /// The scratch database's URL (for COPY through psql).
    private func scratchURL() async throws -> DatabaseURL {
        let endpoint = try await DatabaseEndpoint.open(configuration: configuration, logger: logger)
        return endpoint.url.with(database: database)
    }

    private func measure(pool: PostgresPool, redis: RedisClient?, url: DatabaseURL) async throws {
        var serverConfiguration = configuration
        serverConfiguration.anonymousRateLimit = 1_000_000
        serverConfiguration.userRateLimit = 1_000_000
        let (_, key) = try await APIKeyStore(pool: pool).create(.init(name: "bench", permissions: ["factory.*"], rateLimitPerMinute: 1_000_000))
        let tokens = try TokenIssuer(secret: Array(SecureRandom.hex(bytes: 32).utf8))
        let environment = ModuleEnvironment(pool: pool, redis: redis, tokens: tokens, logger: logger)
        let modules = StrataApplication.modules(configuration: serverConfiguration)
        let router = StrataApplication.buildRouter(
            configuration: serverConfiguration,
            pool: pool,
            modules: modules,
            redis: redis,
            environment: environment,
            logger: logger
        )
        let port = try FileSystem.freeLoopbackPort()
        let app = Application(
            router: router,
            configuration: .init(address: .hostname("127.0.0.1", port: port), serverName: "strata-bench"),
            logger: logger
        )
        try await seedPlant(pool: pool)
        try await withRunningServices([app], logger: logger) {
            try await HTTPLoad.waitUntilListening(port: port)
            report.note(
                "factory benchmark: \(plan.points) points in batches of 5,000 over \(plan.ingestConnections) connections; "
                    + "\(plan.queries) 7-day hourly queries; \(plan.walks) walks over \(plan.graphNodes) nodes and \(plan.graphEdges) edges; "
                    + "\(plan.requests) mixed requests over \(plan.connections) connections (Redis \(redis == nil ? "off" : "on"))"
            )
            // Strata is measured first; InfluxDB runs only afterwards, for its side of the
            // workloads it is compared in: neither its start nor its background work (cache
            // snapshots, compactions) shares the machine with Strata's figures.
            var ingest = try await ingest(port: port, key: key, pool: pool, url: url)
            var rollups = try await rollupQuery(port: port, key: key, pool: pool)
            if plan.influx {
                let influx = try await InfluxPeer.start(logger: logger)
                do {
                    ingest.fields += try await peerIngest(influx, ingest)
                    rollups.fields += try await peerRollupQuery(influx, rollups)
                } catch {
                    await influx.stop()
                    throw error
                }
                await influx.stop()
            }
            report.emit(ingest.fields)
            report.emit(rollups.fields)
            try await graph(port: port, key: key, pool: pool)
            try await mixed(port: port, pool: pool)
            report.emit([("workload", "factory.memory"), ("peak_rss_mb", peakResidentMegabytes())])
        }
    }

    /// Ten lines of one factory (three stations each), and ten of another for the scope.
    private func seedPlant(pool: PostgresPool) async throws {
        let plant = PlantService(pool: pool, logger: logger)
        for (index, line) in (Self.lines + (1...10).map { "OL\($0)" }).enumerated() {
            _ = try await plant.createLine(.init(lineID: line, lineName: "Line \(line)", factoryID: index < 10 ? "BF1" : "BF2"), by: .job("bench"))
            for station in 1...3 {
                _ = try await plant.createStation(
                    on: line,
                    .init(stationID: "\(line)-S\(station)", stationName: "Station \(station)"),
                    by: .job("bench")
                )
            }
        }
    }

    // MARK: Ingest

    /// The `index`th batch of line protocol: 5,000 points, every line and station, one second apart per series.
    static func batch(_ index: Int, size: Int = 5_000, base: Int64) -> String {
        var text = ""
        text.reserveCapacity(size * 96)
        for offset in 0..<size {
            let point = index * size + offset
            let line = lines[point % 10]
            let station = "\(line)-S\(point / 10 % 3 + 1)"
            let time = base + Int64(point / 30)
            text +=
                "production_metrics,line_id=\(line),station_id=\(station) yield_rate=\(90 + Double(point % 97) / 10),cycle_time=\(40 + point % 13) \(time)\n"
        }
        return text
    }

    /// A measured workload's figures, and what its peer's side needs.
    struct Measured {
        var fields: [(String, Any)]
        /// What the peer's ratio is taken of (points per second; a p99 in ms).
        var figure: Double
        var bodies: [[UInt8]]
        var base: Int64 = 0
        var start: Int64 = 0
        var end: Int64 = 0
    }

    /// Strata's ingest and the COPY ceiling.
    private func ingest(port: Int, key: String, pool: PostgresPool, url: DatabaseURL) async throws -> Measured {
        let batches = max(1, plan.points / 5_000)
        let base = Int64(Date().timeIntervalSince1970) - 86_400 * 20
        let bodies = (0..<batches).map { Array(Self.batch($0, base: base).utf8) }
        let headers = [("Authorization", "Token \(key)"), ("Content-Type", "text/plain; charset=utf-8")]
        // Warm up on another day's points.
        _ = try await HTTPLoad.run(host: "127.0.0.1", port: port, connections: plan.ingestConnections, requests: 4) { index in
            .init(
                method: .POST,
                path: "/api/v2/write?org=company&bucket=production&precision=s",
                headers: headers,
                body: Array(Self.batch(index, base: base - 86_400 * 5).utf8)
            )
        }
        let result = try await HTTPLoad.run(host: "127.0.0.1", port: port, connections: plan.ingestConnections, requests: batches) { index in
            .init(method: .POST, path: "/api/v2/write?org=company&bucket=production&precision=s", headers: headers, body: bodies[index])
        }
        let points = Double(batches * 5_000)
        let pointsPerSecond = points / result.seconds
        var fields: [(String, Any)] = [
            ("workload", "factory.ingest"), ("ops_per_s", pointsPerSecond), ("p50_ms", result.p50), ("p99_ms", result.p99), ("points", Int(points)),
            ("batch_points", 5_000),
        ]
        // The ceiling: COPY of the same rows (another day) into the same table, by psql.
        let copySeconds = try await copyCeiling(batches: batches, base: base - 86_400 * 10, url: url)
        fields += [
            ("ceiling", "COPY of the same rows, psql"), ("ceiling_ops_per_s", points / copySeconds),
            ("ceiling_ratio", pointsPerSecond / (points / copySeconds)),
        ]
        return Measured(fields: fields, figure: pointsPerSecond, bodies: bodies, base: base)
    }

    /// InfluxDB taking the same batches on its `/write`.
    private func peerIngest(_ influx: InfluxPeer, _ measured: Measured) async throws -> [(String, Any)] {
        let (bodies, base) = (measured.bodies, measured.base)
        let points = Double(bodies.count * 5_000)
        try await influx.createDatabase()
        _ = try await HTTPLoad.run(host: "127.0.0.1", port: influx.port, connections: plan.ingestConnections, requests: 4) { index in
            .init(
                method: .POST,
                path: "/write?db=production&precision=s",
                headers: [("Content-Type", "text/plain")],
                body: Array(Self.batch(index, base: base - 86_400 * 5).utf8)
            )
        }
        let peer = try await HTTPLoad.run(host: "127.0.0.1", port: influx.port, connections: plan.ingestConnections, requests: bodies.count) {
            index in
            .init(method: .POST, path: "/write?db=production&precision=s", headers: [("Content-Type", "text/plain")], body: bodies[index])
        }
        return [
            ("peer", "InfluxDB \(influx.version) /write, the same batches"), ("peer_ops_per_s", points / peer.seconds),
            ("ratio", measured.figure / (points / peer.seconds)),
        ]
    }

    /// COPY of `batches` batches' rows through psql; its seconds.
    private func copyCeiling(batches: Int, base: Int64, url: DatabaseURL) async throws -> Double {
        var csv = ""
        csv.reserveCapacity(batches * 5_000 * 80)
        let formatter = ISO8601DateFormatter()
        for point in 0..<(batches * 5_000) {
            let line = Self.lines[point % 10]
            let time = formatter.string(from: Date(timeIntervalSince1970: TimeInterval(base + Int64(point / 30))))
            csv += "\(time),BF1,\(line),\(line)-S\(point / 10 % 3 + 1),\(90 + Double(point % 97) / 10),\(40 + point % 13)\n"
        }
        let file = NSTemporaryDirectory() + "strata-bench-copy-\(UUID().uuidString.prefix(8)).csv"
        try csv.write(toFile: file, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: file) }
        let psql = try PostgresBinaries.locate().tool("psql")
        let connection = ["-h", url.socketDirectory ?? url.host ?? "127.0.0.1", "-p", "\(url.port)", "-U", url.username, "-d", url.database]
        let began = ContinuousClock.now
        _ = try await runProgram(
            psql,
            connection + [
                "-v", "ON_ERROR_STOP=1", "-c",
                "\\copy factory.production_metrics (time, factory_id, line_id, station_id, yield_rate, cycle_time) FROM '\(file)' CSV",
            ],
            environment: DumpTools.libpqEnvironment(url)
        )
        let elapsed = ContinuousClock.now - began
        return Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
    }

    // MARK: Rollup query

    /// Strata's hourly aggregates over 7 days of one line.
    private func rollupQuery(port: Int, key: String, pool: PostgresPool) async throws -> Measured {
        // Seven days of one line, every minute per station (written to both).
        let end = (Int64(Date().timeIntervalSince1970) / 3_600) * 3_600
        let start = end - 7 * 86_400
        var batches: [String] = []
        var text = ""
        var count = 0
        for minute in stride(from: start, to: end, by: 60) {
            for station in 1...3 {
                text +=
                    "production_metrics,line_id=BL1,station_id=BL1-R\(station) yield_rate=\(90 + Double((minute / 60 + Int64(station)) % 97) / 10),cycle_time=\(40 + (minute / 60) % 13) \(minute)\n"
                count += 1
                if count % 5_000 == 0 {
                    batches.append(text)
                    text = ""
                }
            }
        }
        if !text.isEmpty { batches.append(text) }
        let bodies = batches.map { Array($0.utf8) }
        let headers = [("Authorization", "Token \(key)"), ("Content-Type", "text/plain")]
        _ = try await HTTPLoad.run(host: "127.0.0.1", port: port, connections: 2, requests: bodies.count) { index in
            .init(method: .POST, path: "/api/v2/write?bucket=production&precision=s", headers: headers, body: bodies[index])
        }
        try await MetricsService(pool: pool, logger: logger).rollUp()
        let from = ISO8601DateFormatter().string(from: Date(timeIntervalSince1970: TimeInterval(start)))
        let to = ISO8601DateFormatter().string(from: Date(timeIntervalSince1970: TimeInterval(end)))
        let path = "/api/factory/metrics/aggregate?line_id=BL1&from=\(from)&to=\(to)&window=1h"
        _ = try await HTTPLoad.run(host: "127.0.0.1", port: port, path: path, headers: [("X-API-Key", key)], connections: 1, requests: 200)
        let result = try await HTTPLoad.run(
            host: "127.0.0.1",
            port: port,
            path: path,
            headers: [("X-API-Key", key)],
            connections: 1,
            requests: plan.queries
        )
        let fields: [(String, Any)] = [
            ("workload", "factory.rollup_query"), ("ops_per_s", result.opsPerSecond), ("p50_ms", result.p50), ("p99_ms", result.p99),
            ("windows", 168),
            ("raw_points", count),
        ]
        return Measured(fields: fields, figure: result.p99, bodies: bodies, start: start, end: end)
    }

    /// InfluxDB's `GROUP BY time(1h)` over the same raw points.
    private func peerRollupQuery(_ influx: InfluxPeer, _ measured: Measured) async throws -> [(String, Any)] {
        let (bodies, start, end) = (measured.bodies, measured.start, measured.end)
        _ = try await HTTPLoad.run(host: "127.0.0.1", port: influx.port, connections: 2, requests: bodies.count) { index in
            .init(method: .POST, path: "/write?db=production&precision=s", headers: [("Content-Type", "text/plain")], body: bodies[index])
        }
        let query =
            "SELECT mean(yield_rate), min(yield_rate), max(yield_rate), count(yield_rate), mean(cycle_time), min(cycle_time), max(cycle_time), count(cycle_time) "
            + "FROM production_metrics WHERE line_id = 'BL1' AND time >= \(start)s AND time < \(end)s GROUP BY time(1h)"
        let influxPath = "/query?db=production&q=" + (query.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? "")
        _ = try await HTTPLoad.run(host: "127.0.0.1", port: influx.port, path: influxPath, headers: [], connections: 1, requests: 200)
        let peer = try await HTTPLoad.run(host: "127.0.0.1", port: influx.port, path: influxPath, headers: [], connections: 1, requests: plan.queries)
        return [
            ("peer", "InfluxDB \(influx.version) GROUP BY time(1h)"), ("peer_p99_ms", peer.p99), ("peer_p50_ms", peer.p50),
            ("ratio", peer.p99 / measured.figure),
        ]
    }

    // MARK: Graph

    /// A graph of `graphNodes` nodes (10 % problems, 80 % causes, 10 % evidence) and
    /// `graphEdges` edges (problems and causes to five causes each, causes to evidence), then
    /// depth-3 cause walks from random problems, one client.
    private func graph(port: Int, key: String, pool: PostgresPool) async throws {
        let nodes = plan.graphNodes
        let problems = nodes / 10
        let causes = nodes * 8 / 10
        let evidence = nodes - problems - causes
        let fanout = max(1, (plan.graphEdges - evidence * 5) / (problems + causes))
        try await pool.withConnection { connection in
            try await connection.run(
                """
                INSERT INTO factory.graph_nodes (node_id, kind, label, confidence, created_by)
                SELECT 'p' || n, 'problem', 'Problem ' || n, NULL, 'bench' FROM generate_series(1, \(problems)) AS n
                UNION ALL SELECT 'c' || n, 'cause', 'Cause ' || n, 0.5 + (n % 50) / 100.0, 'bench' FROM generate_series(1, \(causes)) AS n
                UNION ALL SELECT 'e' || n, 'evidence', 'Evidence ' || n, NULL, 'bench' FROM generate_series(1, \(evidence)) AS n
                """,
                logger: logger
            )
            // Problems and causes to `fanout` causes each (a cause to causes further on, some back: cycles).
            try await connection.run(
                """
                INSERT INTO factory.graph_edges (from_node, from_kind, kind, to_node, to_kind, confidence, to_confidence, created_by)
                SELECT id, kind, 'caused_by', 'c' || target, 'cause', confidence, 0.5 + (target % 50) / 100.0, 'bench' FROM (
                    SELECT src.id, src.kind, (src.n * 7919 + k * 104729) % \(causes) + 1 AS target, 0.6 + (k % 4) / 10.0 AS confidence
                    FROM (SELECT 'p' || n AS id, 'problem' AS kind, n FROM generate_series(1, \(problems)) AS n
                          UNION ALL SELECT 'c' || n, 'cause', n + \(problems) FROM generate_series(1, \(causes)) AS n) AS src,
                         generate_series(1, \(fanout)) AS k
                ) AS edges
                WHERE 'c' || target <> id
                ON CONFLICT DO NOTHING
                """,
                logger: logger
            )
            try await connection.run(
                """
                INSERT INTO factory.graph_edges (from_node, from_kind, kind, to_node, to_kind, confidence, created_by)
                SELECT 'c' || ((n * 31 + k * 17) % \(causes) + 1), 'cause', 'has_evidence', 'e' || n, 'evidence', 1, 'bench'
                FROM generate_series(1, \(evidence)) AS n, generate_series(1, 5) AS k
                ON CONFLICT DO NOTHING
                """,
                logger: logger
            )
            // The graph as it is once it has been there a while: vacuumed (its visibility map
            // set), not being vacuumed by autovacuum under the walks.
            try await connection.run("VACUUM ANALYZE factory.graph_nodes", logger: logger)
            try await connection.run("VACUUM ANALYZE factory.graph_edges", logger: logger)
        }
        let edges = try await pool.query("SELECT count(*) FROM factory.graph_edges").first?.decode(Int64.self) ?? 0
        let request: @Sendable (Int) -> HTTPLoad.Request = { index in
            .init(path: "/api/factory/graph/nodes/p\(index * 7 % problems + 1)/causes?depth=3&limit=20", headers: [("X-API-Key", key)])
        }
        _ = try await HTTPLoad.run(host: "127.0.0.1", port: port, connections: 1, requests: 300, make: request)
        let result = try await HTTPLoad.run(host: "127.0.0.1", port: port, connections: 1, requests: plan.walks, make: request)
        report.emit([
            ("workload", "factory.graph"), ("ops_per_s", result.opsPerSecond), ("p50_ms", result.p50), ("p99_ms", result.p99), ("nodes", nodes),
            ("edges", Int(edges)), ("depth", 3),
        ])
    }

    // MARK: Mixed

    private func mixed(port: Int, pool: PostgresPool) async throws {
        // The scoped user: half of the factory's lines.
        let scoped = Array(Self.lines.prefix(5))
        let password = SecureRandom.hex(bytes: 12)
        _ = try await UserService(pool: pool, logger: logger).create(
            .init(userID: "bench-engineer", username: "Bench Engineer", password: password, role: .engineer, factoryIDs: ["BF1"], lineIDs: scoped),
            by: .job("bench")
        )
        // 20,000 open anomalies over the ten lines; a third of the scoped ones move during the run.
        try await pool.withConnection { connection in
            try await connection.run(
                """
                INSERT INTO factory.anomalies (anomaly_id, factory_id, line_id, station_id, defect_type, severity, detected_at, created_by)
                SELECT gen_random_uuid(), 'BF1', 'BL' || (n % 10 + 1), 'BL' || (n % 10 + 1) || '-S' || (n % 3 + 1), 'defect ' || (n % 17),
                       (ARRAY['low', 'medium', 'high', 'critical'])[n % 4 + 1], now() - n * interval '1 minute', 'bench'
                FROM generate_series(1, 20000) AS n
                """,
                logger: logger
            )
            // The earlier workloads' bulk writes (points, graph, anomalies) are vacuumed before
            // the measured run, as pgbench vacuums before its runs: the figure is the requests',
            // not autovacuum's catching up with the loads.
            try await connection.run("VACUUM ANALYZE", logger: logger)
        }
        let ids = try await pool.query("SELECT anomaly_id::text FROM factory.anomalies WHERE line_id = ANY(\(scoped)) ORDER BY anomaly_id")
            .map { try $0.decode(String.self) }
        let anomalies = ids.enumerated().filter { $0.offset % 3 != 0 }.map(\.element)
        let transitions = ids.enumerated().filter { $0.offset % 3 == 0 }.map(\.element)
        let login = try await HTTPLoad.once(
            .init(
                method: .POST,
                path: "/api/factory/login",
                headers: [("Content-Type", "application/json")],
                body: Array(#"{"login":"Bench Engineer","password":"\#(password)"}"#.utf8)
            ),
            port: port
        )
        guard login.status == 200, let object = try? JSONSerialization.jsonObject(with: Data(login.body.readableBytesView)) as? [String: Any],
            let token = object["token"] as? String
        else { throw StrataError(.internalError, "The benchmark's user could not sign in (\(login.status)).") }
        let auth = [("Authorization", "Bearer \(token)"), ("Content-Type", "application/json")]
        let (reads, moves) = (anomalies, transitions)
        let request: @Sendable (Int) -> HTTPLoad.Request = { index in
            switch index % 20 {
            case 0..<12: .init(path: "/api/factory/lines/\(scoped[index % scoped.count])/overview", headers: auth)
            case 12..<16: .init(path: "/api/factory/anomalies?line_id=\(scoped[index % scoped.count])&limit=20", headers: auth)
            case 16..<19: .init(path: "/api/factory/anomalies/\(reads[index % reads.count])", headers: auth)
            default:
                .init(
                    method: .POST,
                    path: "/api/factory/anomalies/\(moves[index / 20 % moves.count])/transition",
                    headers: auth,
                    body: Array(#"{"status":"\#(index / 20 < moves.count ? "diagnosing" : "cancelled")"}"#.utf8)
                )
            }
        }
        let requests = min(plan.requests, moves.count * 2 * 20)
        _ = try await HTTPLoad.run(host: "127.0.0.1", port: port, connections: plan.connections, requests: 2_000) { index in
            request(index % 20 == 19 ? index - 1 : index)  // warm-up without transitions
        }
        // The process's resident memory, sampled every 100 ms while the load runs.
        let sampler = Task {
            var highest = 0.0
            while !Task.isCancelled {
                highest = max(highest, residentMegabytes(field: "VmRSS", process: "self") ?? 0)
                try? await Task.sleep(for: .milliseconds(100))
            }
            return highest
        }
        let result = try await HTTPLoad.run(host: "127.0.0.1", port: port, connections: plan.connections, requests: requests, make: request)
        sampler.cancel()
        report.emit([
            ("workload", "factory.mixed"), ("ops_per_s", result.opsPerSecond), ("p50_ms", result.p50), ("p99_ms", result.p99),
            ("connections", plan.connections), ("requests", requests), ("rss_max_mb", await sampler.value),
        ])
    }
}

/// InfluxDB 1 (Debian's `influxd`) on free loopback ports in a folder of its own, for the
/// benchmark's side-by-side figures.
struct InfluxPeer: Sendable {
    let pid: Int32
    let port: Int
    let folder: String
    let version: String

    static func start(logger: Logger) async throws -> InfluxPeer {
        guard let program = ["/usr/bin/influxd", "/usr/local/bin/influxd"].first(where: FileManager.default.isExecutableFile(atPath:)) else {
            throw StrataError(
                .dependencyMissing,
                "The factory benchmark compares with InfluxDB: install it (apt-get install influxdb) or pass --no-influx."
            )
        }
        let folder = NSTemporaryDirectory() + "strata-bench-influx-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        let (port, rpc) = (try FileSystem.freeLoopbackPort(), try FileSystem.freeLoopbackPort())
        let config = """
            reporting-disabled = true
            bind-address = "127.0.0.1:\(rpc)"
            [meta]
              dir = "\(folder)/meta"
            [data]
              dir = "\(folder)/data"
              wal-dir = "\(folder)/wal"
              query-log-enabled = false
            [http]
              bind-address = "127.0.0.1:\(port)"
              log-enabled = false
            [continuous_queries]
              enabled = false
            [monitor]
              store-enabled = false
            """
        try config.write(toFile: "\(folder)/influxdb.conf", atomically: true, encoding: .utf8)
        let version = (try? ChildProcess.output(of: program, ["version"]))?.split(separator: " ").dropFirst().first.map(String.init) ?? "1.x"
        let log = open("\(folder)/influxd.log", O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        let null = open("/dev/null", O_RDONLY | O_CLOEXEC)
        defer {
            close(log)
            close(null)
        }
        let pid = try ChildProcess.spawn(
            [program, "-config", "\(folder)/influxdb.conf"],
            environment: nil,
            input: null,
            output: log,
            newSession: true
        )
        let peer = InfluxPeer(pid: pid, port: port, folder: folder, version: version)
        for _ in 0..<100 {
            if let answer = try? await HTTPLoad.once(.init(path: "/ping"), port: port), answer.status == 204 {
                return peer
            }
            try await Task.sleep(for: .milliseconds(100))
        }
        await peer.stop()
        throw StrataError(.serverStartFailed, "influxd did not answer /ping within 10 s (its log: \(folder)/influxd.log)")
    }

    func createDatabase() async throws {
        let answer = try await HTTPLoad.once(
            .init(
                method: .POST,
                path: "/query?q=CREATE%20DATABASE%20production",
                headers: [("Content-Type", "application/x-www-form-urlencoded")],
                body: []
            ),
            port: port
        )
        guard answer.status == 200 else { throw StrataError(.internalError, "InfluxDB refused CREATE DATABASE (\(answer.status)).") }
    }

    func stop() async {
        kill(pid, SIGTERM)
        if await ChildProcess.exitCode(of: pid, within: .seconds(10)) == nil {
            kill(-pid, SIGKILL)
            _ = await ChildProcess.exitCode(of: pid, within: .seconds(5))
        }
        try? FileManager.default.removeItem(atPath: folder)
    }
}
