import Foundation
import Logging
import PostgresNIO
import ServiceLifecycle
import StrataCore
import StrataPostgres
import StrataServer
import Synchronization

/// The platform queue (`strata.jobs`) in a scratch database (`strata_bench_queue`):
/// - `queue.enqueue`: single enqueues, each its own transaction, 8 callers;
/// - `queue.enqueue.batch`: 100 enqueues per transaction, 8 callers;
/// - `queue.e2e`: no-op jobs already enqueued, run by one `JobWorker` with 8 slots, until all
///   are completed (ops/s = jobs ÷ time);
/// - `queue.latency`: jobs enqueued at `--rate` per second while the worker runs; the time from
///   the start of the enqueue (its transaction included) to the handler's start, p50/p99.
struct QueueBenchmark {
    struct Plan: Sendable {
        var jobs: Int
        var rate: Int
        var latencySeconds: Int
    }

    let plan: Plan
    let configuration: ServerConfiguration
    let logger: Logger
    let report: Report
    let database = "strata_bench_queue"

    func run() async throws {
        var poolConfiguration = configuration.pool
        poolConfiguration.poolSize = 12
        try await ScratchDatabase.withPlatform(database, configuration: configuration, pool: poolConfiguration, logger: logger) { pool, _ in
            try await measure(pool)
        }
    }

    /// Enqueues `count` no-op jobs in one transaction; `args` is called per job.
    private func enqueue(_ pool: PostgresPool, count: Int, args: @Sendable () -> String = { "{}" }) async throws {
        try await pool.withTransaction { connection in
            for _ in 0..<count {
                try await JobQueue().enqueue(
                    NewJob(queue: "bench", kind: "noop", argsJSON: args(), maxAttempts: 1),
                    on: connection,
                    logger: pool.statementLogger
                )
            }
        }
    }

    private func reset(_ pool: PostgresPool) async throws {
        try await pool.query("TRUNCATE strata.jobs")
    }

    private func measure(_ pool: PostgresPool) async throws {
        report.note("queue benchmark: \(plan.jobs) jobs per workload, 8 callers / 8 worker slots, latency at \(plan.rate) jobs/s")
        let single = try await measureConcurrently(plan.jobs, concurrency: 8) { _ in try await enqueue(pool, count: 1) }
        emit("queue.enqueue", single)
        try await reset(pool)

        let batches = max(1, plan.jobs / 100)
        let batched = try await measureConcurrently(batches, concurrency: 8) { _ in try await enqueue(pool, count: 100) }
        emit("queue.enqueue.batch", BenchResult(operations: batches * 100, seconds: batched.seconds, p50: batched.p50, p99: batched.p99))
        try await reset(pool)

        // End to end: every job waits; the worker drains them.
        for _ in 0..<max(1, plan.jobs / 500) { try await enqueue(pool, count: 500) }
        let total = max(1, plan.jobs / 500) * 500
        let noop: JobHandler = { _ in nil }
        let e2e = try await withWorker(pool, handler: noop) {
            let started = ContinuousClock.now
            while try await completed(pool) < total { try await Task.sleep(for: .milliseconds(10)) }
            return started.duration(to: .now).secondsDouble
        }
        emit("queue.e2e", BenchResult(operations: total, seconds: e2e, p50: 0, p99: 0))
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
        try await withWorker(pool, handler: record) {
            let interval = Duration.seconds(1) / plan.rate
            var next = ContinuousClock.now
            for _ in 0..<count {
                next += interval
                try await enqueue(pool, count: 1) { "{\"t\":\(Date().timeIntervalSince1970 * 1000)}" }
                try await Task.sleep(until: next)
            }
            while try await completed(pool) < count { try await Task.sleep(for: .milliseconds(10)) }
        }
        let sorted = latencies.withLock { $0 }.sorted()
        report.emit([
            ("workload", "queue.latency"), ("ops_per_s", Double(plan.rate)), ("p50_ms", sorted.percentile(0.5)), ("p99_ms", sorted.percentile(0.99)),
        ])
        report.emit([("workload", "memory"), ("peak_rss_mb", peakResidentMegabytes())])
    }

    private func completed(_ pool: PostgresPool) async throws -> Int {
        Int(try await pool.query("SELECT count(*) FROM strata.jobs WHERE state = 'completed'").first?.decode(Int64.self) ?? 0)
    }

    private func withWorker<T: Sendable>(_ pool: PostgresPool, handler: @escaping JobHandler, _ body: () async throws -> T) async throws -> T {
        let worker = JobWorker(
            pool: pool,
            handlers: ["noop": handler],
            configuration: .init(queues: ["bench"], concurrency: 8, pollInterval: .seconds(1), name: "bench"),
            logger: logger
        )
        return try await withRunningServices([worker], logger: logger, body)
    }

    private func emit(_ workload: String, _ result: BenchResult) {
        report.emit([("workload", workload), ("ops_per_s", result.opsPerSecond), ("p50_ms", result.p50), ("p99_ms", result.p99)])
    }
}
