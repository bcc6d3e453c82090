import Foundation
import Hummingbird
import Logging
import NIOHTTP1
import ServiceLifecycle
import StrataCore
import StrataHTTP
import StrataPostgres
import StrataRedis
import StrataServer
import WorkOrders

/// The workorders API under a mixed load over loopback — 60 % order detail, 20 % list, 15 %
/// progress reports, 5 % creates — through the real router (every middleware, API-key auth,
/// audit, outbox) with the hot layer (`workorders.mixed.cached`) and without it
/// (`workorders.mixed.uncached`), in a scratch database (`strata_bench_workorders`, dropped
/// afterwards). The two alternate over rounds, every other round in reverse order; `ratio`
/// (cached ÷ uncached) is the median of the rounds' ratios. The load driver runs in the same
/// process as the server, so the memory figure (peak RSS) counts both. The server's pool holds
/// eight connections with no overflow.
struct WorkOrdersBenchmark {
    struct Plan: Sendable {
        var connections: Int
        var requests: Int
        var orders: Int
        /// Run only one kind of request (`detail`, `list`, `progress`, `create`) instead of the mix.
        var only: String?
    }

    let plan: Plan
    let configuration: ServerConfiguration
    let logger: Logger
    let report: Report
    let database = "strata_bench_workorders"

    func run() async throws {
        var poolConfiguration = configuration.pool
        // Eight connections and no overflow: on two cores, more backends only contend (measured:
        // 4, 6, 8 and 12 connections; 8 fixed was fastest, and 8 + 20 overflow 4 % slower).
        poolConfiguration.poolSize = 8
        poolConfiguration.maxOverflow = 0
        let lines = try StrataApplication.migrationLines()
        try await ScratchDatabase.withPlatform(database, configuration: configuration, pool: poolConfiguration, lines: lines, logger: logger) {
            pool,
            hotLayer in
            guard hotLayer.client != nil else {
                throw StrataError(
                    .dependencyMissing,
                    "The workorders benchmark compares the cache on and off: it needs Redis (REDIS_URL or redis-server)."
                )
            }
            try await measure(pool: pool, hotLayer: hotLayer)
        }
    }

    private func measure(pool: PostgresPool, hotLayer: HotLayer) async throws {
        var serverConfiguration = configuration
        serverConfiguration.anonymousRateLimit = 1_000_000
        serverConfiguration.userRateLimit = 1_000_000
        let (_, key) = try await APIKeyStore(pool: pool).create(.init(name: "bench", permissions: ["workorders.*"], rateLimitPerMinute: 1_000_000))
        let ids = try await seed(pool: pool)

        func application(redis: RedisClient?, port: Int) -> (Application<RouterResponder<StrataRequestContext>>, [any Service]) {
            let environment = ModuleEnvironment(pool: pool, redis: redis, logger: logger)
            let modules = StrataApplication.modules(configuration: serverConfiguration)
            let router = StrataApplication.buildRouter(
                configuration: serverConfiguration,
                pool: pool,
                modules: modules,
                redis: redis,
                environment: environment,
                logger: logger
            )
            let app = Application(
                router: router,
                configuration: .init(address: .hostname("127.0.0.1", port: port), serverName: "strata-bench"),
                logger: logger
            )
            return (app, modules.flatMap { $0.services(environment: environment) })
        }
        let cachedPort = try FileSystem.freeLoopbackPort()
        let uncachedPort = try FileSystem.freeLoopbackPort()
        let (cached, services) = application(redis: hotLayer.client, port: cachedPort)
        let (uncached, _) = application(redis: nil, port: uncachedPort)
        try await withRunningServices(services + [cached, uncached], logger: logger) {
            try await drive(cached: cachedPort, uncached: uncachedPort, key: key, ids: ids)
        }
    }

    /// Orders to read and report on: long steps, so that progress never completes them.
    private func seed(pool: PostgresPool) async throws -> [UUID] {
        let service = WorkOrdersService(repository: PostgresWorkOrdersRepository(pool: pool), redis: nil, logger: logger)
        var ids: [UUID] = []
        for index in 0..<plan.orders {
            let order = try await service.create(Self.draft(index), by: .job("bench"))
            ids.append(order.id)
        }
        return ids
    }

    static func draft(_ index: Int) -> WorkOrderDraft {
        WorkOrderDraft(
            title: "Bench order \(index)",
            description: "An order of the workorders benchmark with two long steps.",
            priority: [.low, .medium, .high][index % 3],
            ownerID: "manager-\(index % 10)",
            ownerName: "Manager \(index % 10)",
            watchers: ["Li Na", "Zhao Peng"],
            targetQuantity: 1_000_000,
            steps: [
                StepDraft(stepCode: "weld", stepName: "Welding", assigneeName: "Li Na", expectedQuantity: 10_000_000),
                StepDraft(stepCode: "inspect", stepName: "Inspection", assigneeName: "Zhao Peng", expectedQuantity: 10_000_000),
            ]
        )
    }

    /// The `index`th request of the mix (a fixed pattern of 20, spread over the orders).
    static func request(_ index: Int, ids: [UUID], key: String, only: String? = nil) -> HTTPLoad.Request {
        let auth = [("X-API-Key", key)]
        let json = auth + [("Content-Type", "application/json")]
        let order = ids[Int(UInt(bitPattern: index &* 2_654_435_761 &+ 7) % UInt(ids.count))]
        let slot =
            switch only {
            case "detail": 0
            case "list": 12
            case "progress": 16
            case "create": 19
            default: index % 20
            }
        switch slot {
        case 0..<12:
            return .init(path: "/api/workorders/orders/\(order.uuidString)", headers: auth)
        case 12..<16:
            return .init(path: "/api/workorders/orders?limit=20", headers: auth)
        case 16..<19:
            let body = #"{"completed_quantity":1,"confirmation":{"mode":"fingerprint","confirmed_by":["Li Na"]}}"#
            return .init(method: .POST, path: "/api/workorders/orders/\(order.uuidString)/steps/weld/progress", headers: json, body: Array(body.utf8))
        default:
            let body =
                #"{"title":"Bench create \#(index)","owner_id":"manager-1","owner_name":"Manager 1","steps":[{"step_code":"s1","step_name":"Assembly","expected_quantity":100}]}"#
            return .init(method: .POST, path: "/api/workorders/orders", headers: json, body: Array(body.utf8))
        }
    }

    private func drive(cached cachedPort: Int, uncached uncachedPort: Int, key: String, ids: [UUID]) async throws {
        for port in [cachedPort, uncachedPort] { try await HTTPLoad.waitUntilListening(port: port) }
        report.note(
            "workorders benchmark: \(plan.connections) connections, \(plan.requests) requests per workload over \(plan.orders) orders "
                + (plan.only.map { "(\($0) only)" } ?? "(60% detail, 20% list, 15% progress, 5% create)")
        )
        let kind = plan.only.map { "workorders.\($0)" } ?? "workorders.mixed"
        let workloads = ["\(kind).cached", "\(kind).uncached"]
        let ports = [workloads[0]: cachedPort, workloads[1]: uncachedPort]
        for workload in workloads {  // warm-up: connections, prepared plans, the cache
            _ = try await HTTPLoad.run(host: "127.0.0.1", port: ports[workload]!, connections: plan.connections, requests: 2000) {
                Self.request($0, ids: ids, key: key, only: plan.only)
            }
        }
        let rounds = 6
        var results: [String: [BenchResult]] = [:]
        for round in 0..<rounds {
            for workload in round.isMultiple(of: 2) ? workloads : workloads.reversed() {
                let offset = (round + 1) * 1_000_003
                results[workload, default: []].append(
                    try await HTTPLoad.run(
                        host: "127.0.0.1",
                        port: ports[workload]!,
                        connections: plan.connections,
                        requests: max(1, plan.requests / rounds)
                    ) {
                        Self.request($0 + offset, ids: ids, key: key, only: plan.only)
                    }
                )
            }
        }
        let ratios = zip(results[workloads[0]] ?? [], results[workloads[1]] ?? []).map { $0.opsPerSecond / $1.opsPerSecond }.sorted()
        let cached = BenchResult.combined(results[workloads[0]] ?? [])
        let uncached = BenchResult.combined(results[workloads[1]] ?? [])
        report.emit([
            ("workload", workloads[0]), ("ops_per_s", cached.opsPerSecond), ("p50_ms", cached.p50), ("p99_ms", cached.p99),
            ("peer", workloads[1]), ("peer_ops_per_s", uncached.opsPerSecond), ("ratio", ratios.isEmpty ? 0 : ratios[ratios.count / 2]),
        ])
        report.emit([("workload", workloads[1]), ("ops_per_s", uncached.opsPerSecond), ("p50_ms", uncached.p50), ("p99_ms", uncached.p99)])
        report.emit([("workload", "workorders.memory"), ("peak_rss_mb", peakResidentMegabytes())])
    }
}
