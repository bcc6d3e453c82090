import Foundation
import Hummingbird
import Logging
import PostgresNIO
import ServiceLifecycle
import StrataCore
import StrataHTTP
import StrataPostgres
import StrataRedis
import StrataServer

/// The same trivial route served by the real router (every middleware, the hot layer as
/// configured), driven over loopback by `connections` keep-alive connections: without
/// credentials (`auth.none`), with an API key (`auth.apikey`) and with a user's token
/// (`auth.jwt`). Runs in a scratch database (`strata_bench_auth`, dropped afterwards); rate
/// limits are raised out of the way. The workloads alternate over 48 short rounds, each in the next
/// of their six orders (so that drift on a shared machine favours none of them); `ratio` is the
/// median of the rounds' ratios (each round's runs are a fraction of a second apart),
/// `total_ratio` the ratio of the totals; percentiles are the rounds' medians.
struct AuthBenchmark {
    struct Plan: Sendable {
        var connections: Int
        var requests: Int
    }

    /// The benchmark's route.
    struct PingModule: StrataModule {
        let name = "bench"
        func migrationLine() throws -> MigrationLine { try MigrationLine(module: name, migrations: []) }
        func addRoutes(to router: any RouterMethods<StrataRequestContext>, environment: ModuleEnvironment) {
            router.get("/api/bench/ping") { _, _ in "pong" }
        }
    }

    let plan: Plan
    let configuration: ServerConfiguration
    let logger: Logger
    let report: Report
    let database = "strata_bench_auth"

    func run() async throws {
        var poolConfiguration = configuration.pool
        poolConfiguration.poolSize = 4
        try await ScratchDatabase.withPlatform(database, configuration: configuration, pool: poolConfiguration, logger: logger) { pool, hotLayer in
            try await measure(pool: pool, hotLayer: hotLayer)
        }
    }

    private func measure(pool: PostgresPool, hotLayer: HotLayer) async throws {
        var serverConfiguration = configuration
        serverConfiguration.anonymousRateLimit = 1_000_000
        serverConfiguration.userRateLimit = 1_000_000
        let tokens = try TokenIssuer(secret: Array(UUID().uuidString.utf8) + Array(UUID().uuidString.utf8))
        let environment = ModuleEnvironment(pool: pool, redis: hotLayer.client, tokens: tokens, logger: logger)
        let router = StrataApplication.buildRouter(
            configuration: serverConfiguration,
            pool: pool,
            modules: StrataApplication.modules + [PingModule()],
            redis: hotLayer.client,
            environment: environment,
            logger: logger
        )
        let (_, key) = try await APIKeyStore(pool: pool).create(.init(name: "bench", permissions: ["bench.read"], rateLimitPerMinute: 1_000_000))
        let user = Principal(id: "bench-user", name: "bench", kind: .user, permissions: ["bench.read"])
        let (token, _) = tokens.issue(for: user, app: "bench")
        let port = try FileSystem.freeLoopbackPort()
        let application = Application(
            router: router,
            configuration: .init(address: .hostname("127.0.0.1", port: port), serverName: "strata-bench"),
            logger: logger
        )
        try await withRunningServices([application], logger: logger) {
            try await drive(port: port, key: key, token: token)
        }
    }

    private func drive(port: Int, key: String, token: String) async throws {
        try await HTTPLoad.waitUntilListening(port: port)
        report.note("auth benchmark: \(plan.connections) connections, \(plan.requests) requests per workload, GET /api/bench/ping")

        // Rounds alternate the three workloads so that a noisy neighbour slows all of them alike.
        let workloads: [(name: String, headers: [(String, String)])] = [
            ("auth.none", []), ("auth.apikey", [("X-API-Key", key)]), ("auth.jwt", [("Authorization", "Bearer \(token)")]),
        ]
        for workload in workloads {
            _ = try await HTTPLoad.run(
                host: "127.0.0.1",
                port: port,
                path: "/api/bench/ping",
                headers: workload.headers,
                connections: plan.connections,
                requests: 2000
            )
        }
        // Short rounds, each taking the workloads in the next of their six orders: a slow patch of
        // the shared machine falls on each workload and each position alike.
        let orders = [[0, 1, 2], [2, 1, 0], [1, 2, 0], [0, 2, 1], [2, 0, 1], [1, 0, 2]]
        let rounds = 48
        var results: [String: [BenchResult]] = [:]
        for round in 0..<rounds {
            for workload in orders[round % orders.count].map({ workloads[$0] }) {
                results[workload.name, default: []].append(
                    try await HTTPLoad.run(
                        host: "127.0.0.1",
                        port: port,
                        path: "/api/bench/ping",
                        headers: workload.headers,
                        connections: plan.connections,
                        requests: max(1, plan.requests / rounds)
                    )
                )
            }
        }
        func combined(_ name: String) -> BenchResult { .combined(results[name] ?? []) }
        // Each round's ratio compares runs moments apart; their median resists the machine's drift.
        func medianRatio(_ name: String) -> Double {
            let ratios = zip(results[name] ?? [], results["auth.none"] ?? []).map { $0.opsPerSecond / $1.opsPerSecond }.sorted()
            return ratios.isEmpty ? 0 : ratios[ratios.count / 2]
        }
        let none = combined("auth.none")
        emit("auth.none", none, peer: nil, ratio: nil)
        emit("auth.apikey", combined("auth.apikey"), peer: none, ratio: medianRatio("auth.apikey"))
        emit("auth.jwt", combined("auth.jwt"), peer: none, ratio: medianRatio("auth.jwt"))
        report.emit([("workload", "memory"), ("peak_rss_mb", peakResidentMegabytes())])
    }

    private func emit(_ workload: String, _ result: BenchResult, peer: BenchResult?, ratio: Double?) {
        var fields: [(String, Any)] = [("workload", workload), ("ops_per_s", result.opsPerSecond), ("p50_ms", result.p50), ("p99_ms", result.p99)]
        if let peer, let ratio {
            fields += [
                ("peer", "auth.none"), ("peer_ops_per_s", peer.opsPerSecond), ("ratio", ratio),
                ("total_ratio", result.opsPerSecond / peer.opsPerSecond),
            ]
        }
        report.emit(fields)
    }
}
