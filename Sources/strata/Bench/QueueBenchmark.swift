import Foundation
import Logging
import PostgresNIO
import ServiceLifecycle
import StrataCore
import StrataPostgres
import StrataServer
import Synchronization

/// The platform queue (`strata.jobs`) in a scratch database (`strata_bench_queue`):
/// - `queue.enqueue`: single enqueues, each one autocommit statement, 8 callers;
/// - `queue.enqueue.batch`: 100 enqueues per transaction, 8 callers;
/// - `queue.e2e`: no-op jobs already enqueued, run by one `JobWorker` with 8 slots (and 8
///   prefetched), until all are completed (ops/s = jobs ÷ time);
/// - `queue.latency`: jobs enqueued at `--rate` per second while the worker runs; the time from
///   the start of the enqueue (its transaction included) to the handler's start, p50/p99.
///
/// `worker.memory`: the resident memory of a `strata worker` with 8 GPU slots, idle and while
/// it runs 8 tasks (children excluded).
///
/// With a peer Python (`--peer-python`), pgqueuer and procrastinate run the same four workloads
/// right after ours against the same server, each in a scratch database of its own
/// (`Benchmarks/peers/queue_peers.py`); each of our lines then names the faster peer with
/// `ratio` (ours ÷ its ops/s), and `queue.latency` the peer with the lower p50 with
/// `latency_ratio` (our p50 ÷ its p50). Every peer figure is printed too
/// (`<peer>.queue.<workload>`).
struct QueueBenchmark {
    struct Plan: Sendable {
        var jobs: Int
        var rate: Int
        var latencySeconds: Int
        var peerPython: String?
    }

    static let peers = ["pgqueuer", "procrastinate"]
    static let workloads = ["enqueue", "enqueue.batch", "e2e", "latency"]

    let plan: Plan
    let configuration: ServerConfiguration
    let logger: Logger
    let report: Report
    let database = "strata_bench_queue"

    func run() async throws {
        var poolConfiguration = configuration.pool
        poolConfiguration.poolSize = 12
        try await ScratchDatabase.withPlatform(database, configuration: configuration, pool: poolConfiguration, logger: logger) { pool, _ in
            let ours = try await measure(pool)
            var peers: [String: [String: BenchResult]] = [:]
            if let python = plan.peerPython {
                for peer in Self.peers { peers[peer] = try await runPeer(peer, python: python, server: pool.url) }
            }
            report.note("queue benchmark: \(plan.jobs) jobs per workload, 8 callers / 8 worker slots, latency at \(plan.rate) jobs/s")
            for workload in Self.workloads { emit(workload, ours[workload]!, peers: peers) }
            for peer in Self.peers {
                for workload in Self.workloads {
                    guard let result = peers[peer]?[workload] else { continue }
                    report.emit([
                        ("workload", "\(peer).queue.\(workload)"), ("ops_per_s", result.opsPerSecond), ("p50_ms", result.p50),
                        ("p99_ms", result.p99),
                    ])
                }
            }
            let worker = try await WorkerMemoryProbe(pool: pool, logger: logger).measure()
            report.emit([("workload", "worker.memory"), ("idle_rss_mb", worker.idleMegabytes), ("running_8_rss_mb", worker.runningMegabytes)])
        }
    }

    /// Runs a peer's workloads in a scratch database of its own on the same server.
    private func runPeer(_ peer: String, python: String, server: DatabaseURL) async throws -> [String: BenchResult] {
        try await ScratchDatabase.with("strata_bench_\(peer)", on: server, logger: logger) { url in
            let script = PythonPeerScript(python: python, name: "queue_peers.py", url: url)
            let common = [
                "--system", peer, "--count", "\(plan.jobs)", "--concurrency", "8", "--rate", "\(plan.rate)", "--seconds",
                "\(plan.latencySeconds)",
            ]
            try await script.run(common + ["--workload", "setup"], expectResult: false)
            var results: [String: BenchResult] = [:]
            for workload in Self.workloads { results[workload] = try await script.run(common + ["--workload", workload]) }
            return results
        }
    }

    /// Enqueues `count` no-op jobs in one transaction (one statement); `args` is called per job.
    private func enqueue(_ pool: PostgresPool, count: Int, args: @Sendable () -> String = { "{}" }) async throws {
        let jobs = (0..<count).map { _ in NewJob(queue: "bench", kind: "noop", argsJSON: args(), maxAttempts: 1) }
        _ = try await pool.withTransaction { connection in
            try await JobQueue().enqueue(jobs, on: connection, logger: pool.statementLogger)
        }
    }

    /// Enqueues one no-op job on its own: one autocommit statement, as the peers' are.
    private func enqueueOne(_ pool: PostgresPool, argsJSON: String = "{}") async throws {
        let job = NewJob(queue: "bench", kind: "noop", argsJSON: argsJSON, maxAttempts: 1)
        _ = try await pool.withConnection { try await JobQueue().enqueue(job, on: $0, logger: pool.statementLogger) }
    }

    private func reset(_ pool: PostgresPool) async throws {
        try await pool.query("TRUNCATE strata.jobs")
    }

    /// Our four workloads, by name.
    private func measure(_ pool: PostgresPool) async throws -> [String: BenchResult] {
        var results: [String: BenchResult] = [:]
        results["enqueue"] = try await measureConcurrently(plan.jobs, concurrency: 8) { _ in try await enqueueOne(pool) }
        try await reset(pool)

        let batches = max(1, plan.jobs / 100)
        let batched = try await measureConcurrently(batches, concurrency: 8) { _ in try await enqueue(pool, count: 100) }
        results["enqueue.batch"] = BenchResult(operations: batches * 100, seconds: batched.seconds, p50: batched.p50, p99: batched.p99)
        try await reset(pool)

        // End to end: every job waits; the worker drains them.
        for _ in 0..<max(1, plan.jobs / 500) { try await enqueue(pool, count: 500) }
        let total = max(1, plan.jobs / 500) * 500
        let noop: JobHandler = { _ in nil }
        let e2e = try await withWorker(pool, handler: noop) {
            let started = ContinuousClock.now
            while try await unfinished(pool) { try await Task.sleep(for: .milliseconds(5)) }
            return started.duration(to: .now).secondsDouble
        }
        results["e2e"] = BenchResult(operations: total, seconds: e2e, p50: 0, p99: 0)
        try await reset(pool)

        // Latency at a steady rate: each job carries the time its enqueue began.
        let latencies = Mutex<[Double]>([])
        let count = plan.rate * plan.latencySeconds
        let record: JobHandler = { context in
            let sent = (try? JSONValue(parsing: context.job.argsJSON))?["t"]?.numberValue ?? 0
            let now = Date().timeIntervalSince1970 * 1000
            latencies.withLock { $0.append(now - sent) }
            return nil
        }
        let paced = try await withWorker(pool, handler: record) {
            let started = ContinuousClock.now
            let interval = Duration.seconds(1) / plan.rate
            var next = ContinuousClock.now
            for _ in 0..<count {
                next += interval
                try await enqueueOne(pool, argsJSON: "{\"t\":\(Date().timeIntervalSince1970 * 1000)}")
                try await Task.sleep(until: next)
            }
            let seconds = started.duration(to: .now).secondsDouble
            while try await unfinished(pool) { try await Task.sleep(for: .milliseconds(5)) }
            return seconds
        }
        let sorted = latencies.withLock { $0 }.sorted()
        results["latency"] = BenchResult(operations: count, seconds: paced, p50: sorted.percentile(0.5), p99: sorted.percentile(0.99))
        return results
    }

    /// Whether a job is still available or running (both states are indexed: a cheap look).
    private func unfinished(_ pool: PostgresPool) async throws -> Bool {
        try await pool.query("SELECT EXISTS (SELECT 1 FROM strata.jobs WHERE state IN ('available', 'running'))").first?.decode(Bool.self) ?? false
    }

    private func withWorker<T: Sendable>(_ pool: PostgresPool, handler: @escaping JobHandler, _ body: () async throws -> T) async throws -> T {
        let worker = JobWorker(
            pool: pool,
            handlers: ["noop": handler],
            configuration: .init(queues: ["bench"], concurrency: 8, prefetch: 8, pollInterval: .seconds(1), name: "bench"),
            logger: logger
        )
        return try await withRunningServices([worker], logger: logger, body)
    }

    /// Prints our figure of a workload beside the best peer's: for throughput the faster one
    /// (`ratio`), for latency the one with the lower p50 (`latency_ratio`).
    private func emit(_ workload: String, _ result: BenchResult, peers: [String: [String: BenchResult]]) {
        var fields: [(String, Any)] = [
            ("workload", "queue.\(workload)"), ("ops_per_s", result.opsPerSecond), ("p50_ms", result.p50), ("p99_ms", result.p99),
        ]
        let candidates = peers.compactMap { name, results in results[workload].map { (name: name, result: $0) } }
        let best =
            workload == "latency"
            ? candidates.min { $0.result.p50 < $1.result.p50 } : candidates.max { $0.result.opsPerSecond < $1.result.opsPerSecond }
        if let best {
            fields += [
                ("peer", best.name), ("peer_ops_per_s", best.result.opsPerSecond), ("peer_p50_ms", best.result.p50),
                ("peer_p99_ms", best.result.p99), ("ratio", result.opsPerSecond / best.result.opsPerSecond),
            ]
            if workload == "latency" { fields.append(("latency_ratio", result.p50 / best.result.p50)) }
        }
        report.emit(fields)
    }
}
