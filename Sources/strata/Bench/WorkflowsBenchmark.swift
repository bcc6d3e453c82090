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
import StrataServer
import Synchronization
import Workflows

/// The workflows API over loopback, through the real router (API key, audit, outbox), in a
/// scratch database (`strata_bench_workflows`, dropped afterwards):
/// - `workflows.details`: `?include=details` of 50-node, 32-connection workflows, beside pgbench
///   running the same statement (`ceiling_ratio`);
/// - `workflows.executions`: executions of 5-node workflows started over HTTP while 8 workers
///   claim them (up to 10 at a time) and finish them through the worker protocol, end to end
///   per second;
/// - `workflows.stats`: the statistics route of a workflow with 1,000,000 ended executions, one
///   client at a time (the read's latency);
/// - `workflows.memory`: the process's peak resident memory (server and load driver).
struct WorkflowsBenchmark {
    struct Plan: Sendable {
        var connections: Int
        var requests: Int
        var executions: Int
        var workers: Int
        var statsExecutions: Int
        var pgbenchSeconds: Int
    }

    let plan: Plan
    let configuration: ServerConfiguration
    let logger: Logger
    let report: Report
    let database = "strata_bench_workflows"

    func run() async throws {
        var poolConfiguration = configuration.pool
        poolConfiguration.poolSize = 8
        poolConfiguration.maxOverflow = 0
        let endpoint = try await DatabaseEndpoint.open(configuration: configuration, logger: logger)
        do {
            try await ScratchDatabase.with(database, on: endpoint.url, logger: logger) { url in
                let pool = PostgresPool(url: url, configuration: poolConfiguration, logger: logger)
                try await pool.withRunning {
                    _ = try await Migrator(lines: try StrataApplication.migrationLines(), pool: pool, logger: logger).migrate()
                    try await measure(pool: pool, url: url, serverPID: endpoint.cluster?.serverPID)
                }
            }
            await endpoint.cluster?.stop()
        } catch {
            await endpoint.cluster?.stop()
            throw error
        }
    }

    private func measure(pool: PostgresPool, url: DatabaseURL, serverPID: Int32?) async throws {
        var serverConfiguration = configuration
        serverConfiguration.anonymousRateLimit = 1_000_000
        serverConfiguration.userRateLimit = 1_000_000
        let (_, key) = try await APIKeyStore(pool: pool).create(.init(name: "bench", permissions: ["workflows.*"], rateLimitPerMinute: 1_000_000))
        let workflows = try await seedWorkflows(pool: pool)
        let environment = ModuleEnvironment(pool: pool, logger: logger)
        let modules = StrataApplication.modules(configuration: serverConfiguration)
        let router = StrataApplication.buildRouter(
            configuration: serverConfiguration,
            pool: pool,
            modules: modules,
            redis: nil,
            environment: environment,
            logger: logger
        )
        let port = try FileSystem.freeLoopbackPort()
        let app = Application(
            router: router,
            configuration: .init(address: .hostname("127.0.0.1", port: port), serverName: "strata-bench"),
            logger: logger
        )
        try await withRunningServices(modules.flatMap { $0.services(environment: environment) } + [app], logger: logger) {
            try await HTTPLoad.waitUntilListening(port: port)
            report.note(
                "workflows benchmark: \(plan.connections) connections, \(plan.requests) detail reads over \(workflows.count) workflows of 50 nodes; "
                    + "\(plan.executions) executions through \(plan.workers) workers; stats over \(plan.statsExecutions) executions"
            )
            try await details(port: port, key: key, workflows: workflows, url: url, serverPID: serverPID)
            try await executions(port: port, key: key, workflows: try await seedSmallWorkflows(pool: pool))
            try await stats(pool: pool, port: port, key: key, workflow: workflows[0])
            report.emit([("workload", "workflows.memory"), ("peak_rss_mb", peakResidentMegabytes())])
        }
    }

    /// 100 workflows of 50 nodes and 32 connections, each with a few tags.
    private func seedWorkflows(pool: PostgresPool) async throws -> [UUID] {
        let service = WorkflowService(pool: pool, logger: logger)
        var ids: [UUID] = []
        for index in 0..<100 {
            let names = (0..<50).map { "Node \($0) of flow \(index)" }
            let nodes = names.enumerated().map { position, name in
                JSONValue.object([
                    "name": .string(name),
                    "kind": .string(["n8n-nodes-base.set", "n8n-nodes-base.httpRequest", "n8n-nodes-base.code"][position % 3]),
                    "position": .array([.number(Double(position * 220)), .number(Double((position % 4) * 160))]),
                    "parameters": .object(["url": .string("https://api.example.com/items/\(position)"), "method": .string("POST")]),
                ])
            }
            let connections = (0..<32).map {
                JSONValue.object(["source_node": .string(names[$0]), "target_node": .string(names[$0 + 1]), "kind": .string("main")])
            }
            let workflow = try await service.create(
                .init(name: "Bench flow \(index)", nodes: nodes, connections: connections, tags: ["bench", "team-\(index % 5)"]),
                by: .job("bench")
            )
            ids.append(workflow.id)
        }
        return ids
    }

    /// 10 workflows of 5 nodes in a chain: the size of a typical automation, for the executions.
    private func seedSmallWorkflows(pool: PostgresPool) async throws -> [UUID] {
        let service = WorkflowService(pool: pool, logger: logger)
        var ids: [UUID] = []
        for index in 0..<10 {
            let names = ["Trigger", "Fetch order", "Map fields", "Upsert customer", "Notify"]
            let nodes = names.map { JSONValue.object(["name": .string($0), "kind": .string("n8n-nodes-base.set"), "parameters": .object([:])]) }
            let connections = zip(names, names.dropFirst()).map {
                JSONValue.object(["source_node": .string($0), "target_node": .string($1), "kind": .string("main")])
            }
            ids.append(
                try await service.create(.init(name: "Bench automation \(index)", nodes: nodes, connections: connections), by: .job("bench")).id
            )
        }
        return ids
    }

    private func details(port: Int, key: String, workflows: [UUID], url: DatabaseURL, serverPID: Int32?) async throws {
        let auth = [("X-API-Key", key)]
        let request: @Sendable (Int) -> HTTPLoad.Request = { index in
            .init(path: "/api/workflows/workflows/\(workflows[index % workflows.count].uuidString.lowercased())?include=details", headers: auth)
        }
        _ = try await HTTPLoad.run(host: "127.0.0.1", port: port, connections: plan.connections, requests: 2_000, make: request)
        let result = try await HTTPLoad.run(host: "127.0.0.1", port: port, connections: plan.connections, requests: plan.requests, make: request)
        var fields: [(String, Any)] = [
            ("workload", "workflows.details"), ("ops_per_s", result.opsPerSecond), ("p50_ms", result.p50), ("p99_ms", result.p99),
        ]
        if plan.pgbenchSeconds > 0 {
            let ceiling = try await PgbenchStatement(url: url, concurrency: plan.connections, serverPID: serverPID)
                .run(WorkflowService.detailsStatementText(workflows[0]) + ";\n", seconds: plan.pgbenchSeconds)
            fields += [
                ("ceiling", "pgbench -M prepared, the same statement"), ("ceiling_ops_per_s", ceiling.figures.opsPerSecond),
                ("ceiling_ratio", result.opsPerSecond / ceiling.figures.opsPerSecond),
            ]
        }
        report.emit(fields)
    }

    /// Executions started over HTTP and run by `plan.workers` workers through the worker
    /// protocol; the figure is executions finished per second, from the first start to the last
    /// finish, and the latency from start to finish.
    private func executions(port: Int, key: String, workflows: [UUID]) async throws {
        let json = [("X-API-Key", key), ("Content-Type", "application/json")]
        let total = plan.executions
        let began = ContinuousClock.now
        let starts = Shared<BenchResult?>(nil)
        let finished = try await withThrowingTaskGroup(of: Int.self) { group in
            group.addTask {
                starts.value = try await HTTPLoad.run(host: "127.0.0.1", port: port, connections: 8, requests: total) { index in
                    let workflow = workflows[index % workflows.count].uuidString.lowercased()
                    return .init(
                        method: .POST,
                        path: "/api/workflows/workflows/\(workflow)/executions",
                        headers: json,
                        body: Array(#"{"input":{"n":\#(index)}}"#.utf8)
                    )
                }
                return 0
            }
            let done = Shared(0)
            for worker in 0..<plan.workers {
                group.addTask {
                    let channel = try await HTTPLoad.connect(host: "127.0.0.1", port: port)
                    defer { channel.close(promise: nil) }
                    var mine = 0
                    let claimBody = Array(#"{"worker":"bench-\#(worker)","limit":10,"lease_seconds":60}"#.utf8)
                    while done.value < total {
                        let answer = try await HTTPLoad.send(
                            .init(method: .POST, path: "/api/workflows/worker/claim", headers: json, body: claimBody),
                            on: channel,
                            host: "127.0.0.1",
                            port: port
                        )
                        guard answer.status == 200,
                            let page = try? JSONSerialization.jsonObject(with: Data(answer.body.readableBytesView)) as? [String: Any]
                        else {
                            throw StrataError(.internalError, "POST /api/workflows/worker/claim answered \(answer.status) in the benchmark")
                        }
                        let claimed = page["items"] as? [[String: Any]] ?? []
                        if claimed.isEmpty {
                            try await Task.sleep(for: .milliseconds(2))
                            continue
                        }
                        for claim in claimed {
                            guard let id = (claim["execution"] as? [String: Any])?["id"] as? String, let lease = claim["lease"] as? String else {
                                continue
                            }
                            let body = Array(#"{"lease":"\#(lease)","status":"success","result":{"ok":true}}"#.utf8)
                            let end = try await HTTPLoad.send(
                                .init(method: .POST, path: "/api/workflows/executions/\(id)/finish", headers: json, body: body),
                                on: channel,
                                host: "127.0.0.1",
                                port: port
                            )
                            guard end.status == 200 else {
                                throw StrataError(.internalError, "POST …/finish answered \(end.status) in the benchmark")
                            }
                            mine += 1
                            done.update { $0 += 1 }
                        }
                    }
                    return mine
                }
            }
            return try await group.reduce(0, +)
        }
        let seconds = Double((ContinuousClock.now - began).components.seconds) + Double((ContinuousClock.now - began).components.attoseconds) / 1e18
        let startFigures = starts.value
        report.emit([
            ("workload", "workflows.executions"), ("ops_per_s", Double(finished) / seconds), ("executions", finished),
            ("workers", plan.workers), ("seconds", seconds), ("starts_per_s", startFigures?.opsPerSecond ?? 0),
            ("start_p50_ms", startFigures?.p50 ?? 0), ("start_p99_ms", startFigures?.p99 ?? 0),
        ])
    }

    /// A workflow with `plan.statsExecutions` ended executions over the last 90 days (inserted
    /// in bulk, the hourly rollups built from them as the finishing statement builds them), then
    /// its statistics route.
    private func stats(pool: PostgresPool, port: Int, key: String, workflow: UUID) async throws {
        let count = plan.statsExecutions
        try await pool.withConnection { connection in
            try await connection.run(
                """
                INSERT INTO workflows.execution_entity (id, workflow_id, version_id, status, mode, started_at, finished_at, created_at)
                SELECT gen_random_uuid(), w.id, w.version_id, CASE WHEN n % 10 = 0 THEN 99 ELSE 100 END, 2,
                       now() - (n % 129600) * interval '1 minute', now() - (n % 129600) * interval '1 minute' + (n % 900) * interval '1 millisecond',
                       now() - (n % 129600) * interval '1 minute'
                FROM generate_series(1, \(Int32(count))) AS n, workflows.workflow_entity AS w WHERE w.id = \(workflow)
                """,
                logger: logger
            )
            try await connection.run(
                """
                INSERT INTO workflows.execution_rollup_hourly AS r (workflow_id, hour, total, successful, failed, timed, duration_ms)
                SELECT workflow_id, date_trunc('hour', coalesce(started_at, created_at), 'UTC'), count(*), count(*) FILTER (WHERE status = 100),
                       count(*) FILTER (WHERE status = 99), count(finished_at),
                       coalesce(sum((extract(epoch FROM finished_at - started_at) * 1000)::bigint), 0)
                FROM workflows.execution_entity WHERE workflow_id = \(workflow) AND status IN (97, 98, 99, 100) GROUP BY 1, 2
                ON CONFLICT (workflow_id, hour) DO UPDATE SET total = excluded.total, successful = excluded.successful,
                    failed = excluded.failed, timed = excluded.timed, duration_ms = excluded.duration_ms
                """,
                logger: logger
            )
            try await connection.run("ANALYZE workflows.execution_entity", logger: logger)
        }
        let path = "/api/workflows/workflows/\(workflow.uuidString.lowercased())/stats?days=30"
        // One client: the read's latency, not a queue's.
        _ = try await HTTPLoad.run(host: "127.0.0.1", port: port, path: path, headers: [("X-API-Key", key)], connections: 1, requests: 500)
        let result = try await HTTPLoad.run(
            host: "127.0.0.1",
            port: port,
            path: path,
            headers: [("X-API-Key", key)],
            connections: 1,
            requests: 5_000
        )
        report.emit([
            ("workload", "workflows.stats"), ("ops_per_s", result.opsPerSecond), ("p50_ms", result.p50), ("p99_ms", result.p99),
            ("executions", count),
        ])
    }
}

/// A value the benchmark's tasks share.
private final class Shared<Value: Sendable>: Sendable {
    private let state: Mutex<Value>
    init(_ value: Value) { state = Mutex(value) }
    var value: Value {
        get { state.withLock { $0 } }
        set { state.withLock { $0 = newValue } }
    }

    func update(_ change: (inout Value) -> Void) { state.withLock { change(&$0) } }
}
