import Foundation
import Logging
import PostgresNIO
import StrataCore
import StrataPostgres
import StrataServer

/// Runs the CRUD workloads with Strata's pool, then (per workload) the asyncpg peer, and
/// pgbench's read ceiling, against the same server, and prints the figures and ratios.
struct CRUDBenchmark {
    struct Plan: Sendable {
        var concurrency: Int
        var inserts: Int
        var reads: Int
        var updates: Int
        var peerPython: String?
        var pgbenchSeconds: Int
    }

    let plan: Plan
    let configuration: ServerConfiguration
    let logger: Logger
    let report: Report

    func run() async throws {
        var poolConfiguration = configuration.pool
        poolConfiguration.poolSize = plan.concurrency
        poolConfiguration.maxOverflow = 0
        try await withDatabase(configuration, logger: logger, poolConfiguration: poolConfiguration) { pool, endpoint in
            try await runWorkloads(pool: pool, url: endpoint.url)
        }
    }

    private func runWorkloads(pool: PostgresPool, url: DatabaseURL) async throws {

        for statement in CRUDSchema.create(table: "anomalies") {
            try await pool.query(PostgresQuery(unsafeSQL: statement))
        }
        let peer = plan.peerPython.map { AsyncpgPeer(python: $0, url: url, concurrency: plan.concurrency) }
        try await peer?.prepare()
        report.note("crud benchmark: \(plan.concurrency) tasks, server \(url.endpointDescription)")

        let ids = (0..<plan.inserts).map { _ in UUID() }
        let insert = try await measure(plan.inserts, pool: pool) { connection, index in
            _ = try await connection.execute(InsertAnomaly(id: ids[index], index: index), logger: pool.statementLogger)
        }
        emit("crud.insert", insert, peer: try await peer?.run("insert", count: plan.inserts))

        let read = try await measure(plan.reads, pool: pool) { connection, index in
            let rows = try await connection.execute(ReadAnomaly(id: ids[(index &* 7919) % ids.count]), logger: pool.statementLogger)
            var found = 0
            for try await _ in rows { found += 1 }
            if found != 1 { throw StrataError(.internalError, "a benchmark read found \(found) rows") }
        }
        let peerRead = try await peer?.run("read", count: plan.reads)
        let ceiling =
            plan.pgbenchSeconds > 0
            ? try await PgbenchCeiling(url: url, concurrency: plan.concurrency).run(seconds: plan.pgbenchSeconds, logger: logger) : nil
        emit("crud.read", read, peer: peerRead, ceiling: ceiling)

        let statuses = ["acknowledged", "investigating", "resolved"]
        let update = try await measure(plan.updates, pool: pool) { connection, index in
            _ = try await connection.execute(
                UpdateAnomalyStatus(id: ids[(index &* 104_729) % ids.count], status: statuses[index % 3]),
                logger: pool.statementLogger
            )
        }
        emit("crud.update", update, peer: try await peer?.run("update", count: plan.updates))

        report.emit([("workload", "memory"), ("peak_rss_mb", peakResidentMegabytes())])
        try await pool.query("DROP SCHEMA strata_bench CASCADE")
    }

    private func emit(_ workload: String, _ result: BenchResult, peer: BenchResult? = nil, ceiling: Double? = nil) {
        var fields: [(String, Any)] = [
            ("workload", workload), ("ops_per_s", result.opsPerSecond), ("p50_ms", result.p50), ("p99_ms", result.p99),
        ]
        if let peer {
            fields += [
                ("peer", "asyncpg"), ("peer_ops_per_s", peer.opsPerSecond), ("peer_p50_ms", peer.p50), ("peer_p99_ms", peer.p99),
                ("ratio", result.opsPerSecond / peer.opsPerSecond),
            ]
        }
        if let ceiling {
            fields += [("ceiling", "pgbench -S -M prepared"), ("ceiling_ops_per_s", ceiling), ("ceiling_ratio", result.opsPerSecond / ceiling)]
        }
        report.emit(fields)
    }

    /// Runs `count` operations on `plan.concurrency` tasks, each op on a leased connection.
    private func measure(
        _ count: Int,
        pool: PostgresPool,
        _ operation: @escaping @Sendable (PostgresConnection, Int) async throws -> Void
    ) async throws -> BenchResult {
        try await measureConcurrently(count, concurrency: plan.concurrency) { index in
            try await pool.withConnection { connection in try await operation(connection, index) }
        }
    }
}
