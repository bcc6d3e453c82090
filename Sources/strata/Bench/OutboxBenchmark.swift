import Foundation
import Logging
import PostgresNIO
import StrataCore
import StrataEvents
import StrataPostgres
import StrataRedis
import StrataServer
import Synchronization

/// The outbox from append to stream entry, in a scratch database of its own
/// (`strata_bench_outbox`, migrated, dropped afterwards) and streams under a scratch prefix.
///
/// - `outbox.throughput`: `writers` tasks append one event per transaction while the relay
///   runs; events/s from the first append until the relay has published the last one. The
///   percentiles are the writers' commit latencies.
/// - `outbox.lag`: events appended at a fixed `rate`; the percentiles are the time from each
///   transaction's commit to its entry being read from the stream (`XREAD BLOCK`).
struct OutboxBenchmark {
    struct Plan: Sendable {
        var writers: Int
        var events: Int
        var rate: Int
        var lagSeconds: Int
    }

    let plan: Plan
    let configuration: ServerConfiguration
    let logger: Logger
    let report: Report
    let database = "strata_bench_outbox"

    func run() async throws {
        var poolConfiguration = configuration.pool
        poolConfiguration.poolSize = plan.writers + 2
        poolConfiguration.maxOverflow = 4
        try await ScratchDatabase.withPlatform(database, configuration: configuration, pool: poolConfiguration, logger: logger) { pool, hotLayer in
            guard let redis = hotLayer.client else {
                throw StrataError(.redisUnavailable, "No Redis to relay to: \(hotLayer.disabledReason ?? "set REDIS_URL")")
            }
            try await measure(pool: pool, redis: redis)
        }
    }

    private func measure(pool: PostgresPool, redis: RedisClient) async throws {
        let streams = EventStreams(prefix: "strata:bench:\(UUID().uuidString.prefix(8)):")
        let stream = streams.key(for: "bench")
        let relay = OutboxRelay(pool: pool, redis: redis, configuration: .init(streams: streams), logger: logger)
        let relaying = Task { try await relay.run() }
        defer { relaying.cancel() }
        report.note("outbox benchmark: \(plan.writers) writers, \(plan.events) events; then \(plan.rate) events/s for \(plan.lagSeconds) s")

        // Throughput: append as fast as the writers can, until the relay has published all.
        let started = ContinuousClock.now
        let appended = try await measureConcurrently(plan.events, concurrency: plan.writers) { index in
            try await append(index, pool: pool)
        }
        for await round in relay.rounds where round.publishedThrough >= Int64(plan.events) { break }
        let seconds = started.duration(to: .now).secondsDouble
        report.emit([
            ("workload", "outbox.throughput"), ("ops_per_s", Double(plan.events) / seconds), ("p50_ms", appended.p50), ("p99_ms", appended.p99),
            ("writers", plan.writers), ("append_ops_per_s", appended.opsPerSecond),
        ])

        // Lag: a steady rate; commit instants by outbox id, read instants from the stream.
        let count = plan.rate * plan.lagSeconds
        let committed = CommitTimes()
        let reader = RedisClient(configuration: .init(url: redis.configuration.url, connections: 1, commandTimeout: .seconds(2)), logger: logger)
        let lastID = try await redis.streamLastEntryID(stream)
        let reading = Task { () throws -> [Int64: ContinuousClock.Instant] in
            var received: [Int64: ContinuousClock.Instant] = [:]
            var position = lastID
            let deadline = ContinuousClock.now + .seconds(plan.lagSeconds + 30)
            while received.count < count, ContinuousClock.now < deadline {
                for (_, entries) in try await reader.streamRead(after: [(stream, position)], count: 1000, block: .milliseconds(500)) {
                    let now = ContinuousClock.now
                    for entry in entries {
                        if let id = entry["id"].flatMap({ Int64($0) }) { received[id] = now }
                        position = entry.id
                    }
                }
            }
            return received
        }
        let interval = Duration.seconds(1) / plan.rate
        let pacedStart = ContinuousClock.now + .milliseconds(100)
        let pacers = max(2, min(plan.writers, 8))
        try await withThrowingTaskGroup(of: Void.self) { group in
            for pacer in 0..<pacers {
                group.addTask {
                    var index = pacer
                    while index < count {
                        try await Task.sleep(until: pacedStart + interval * index, clock: .continuous)
                        let id = try await append(plan.events + index, pool: pool)
                        let now = ContinuousClock.now
                        committed.record(id, at: now)
                        index += pacers
                    }
                }
            }
            try await group.waitForAll()
        }
        let received = try await reading.value
        await reader.close()
        let lags = committed.all.compactMap { id, commit in received[id].map { commit.duration(to: $0).millisecondsDouble } }.sorted()
        guard !lags.isEmpty else { throw StrataError(.internalError, "no relayed event was read back from the stream") }
        let rate = Double(count) / pacedStart.duration(to: .now).secondsDouble
        report.emit([
            ("workload", "outbox.lag"), ("ops_per_s", rate), ("p50_ms", lags.percentile(0.5)), ("p99_ms", lags.percentile(0.99)),
            ("max_ms", lags.last ?? 0), ("delivered", lags.count), ("appended", count),
        ])
        _ = try? await redis.delete(stream)
    }

    @discardableResult
    private func append(_ index: Int, pool: PostgresPool) async throws -> Int64 {
        try await pool.withTransaction { connection in
            try await OutboxWriter().append(
                OutboxEvent(
                    app: "bench",
                    aggregateType: "work_order",
                    aggregateID: "wo-\(index % 1000)",
                    kind: "work_order.updated",
                    payloadJSON: #"{"status":"IN_PROGRESS","completed_quantity":\#(index)}"#,
                    actor: "bench"
                ),
                on: connection,
                logger: pool.statementLogger
            )
        }
    }
}

/// Commit instants by outbox id, shared by the pacing writers.
final class CommitTimes: Sendable {
    private let times = Mutex<[Int64: ContinuousClock.Instant]>([:])

    func record(_ id: Int64, at instant: ContinuousClock.Instant) { times.withLock { $0[id] = instant } }
    var all: [Int64: ContinuousClock.Instant] { times.withLock { $0 } }
}
