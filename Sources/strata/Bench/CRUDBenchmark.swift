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
            try await runWorkloads(pool: pool, url: endpoint.url, serverPID: endpoint.cluster?.serverPID)
        }
    }

    private func runWorkloads(pool: PostgresPool, url: DatabaseURL, serverPID: Int32?) async throws {

        for statement in CRUDSchema.create(table: "anomalies") {
            try await pool.query(PostgresQuery(unsafeSQL: statement))
        }
        let peer = plan.peerPython.map { AsyncpgPeer(python: $0, url: url, concurrency: plan.concurrency) }
        try await peer?.prepare()
        report.note("crud benchmark: \(plan.concurrency) tasks, server \(url.endpointDescription)")

        let ids = (0..<plan.inserts).map { _ in UUID() }
        let insert = try await measure(plan.inserts, pool: pool, serverPID: serverPID) { connection, index in
            _ = try await connection.rows(InsertAnomaly(id: ids[index], index: index), logger: pool.statementLogger)
        }
        emit("crud.insert", insert, peer: try await runPeer(peer, "insert", count: plan.inserts, serverPID: serverPID))

        let readOne: @Sendable (PostgresConnection, Int) async throws -> Void = { connection, index in
            let found = try await connection.rows(ReadAnomaly(id: ids[(index &* 7919) % ids.count]), logger: pool.statementLogger).count
            if found != 1 { throw StrataError(.internalError, "a benchmark read found \(found) rows") }
        }
        let read = try await measure(plan.reads, pool: pool, serverPID: serverPID, readOne)
        emit("crud.read.held", try await measureOnHeldConnections(plan.reads, pool: pool, serverPID: serverPID, readOne))
        let peerRead = try await runPeer(peer, "read", count: plan.reads, serverPID: serverPID)
        let ceiling =
            plan.pgbenchSeconds > 0
            ? try await PgbenchCeiling(url: url, concurrency: plan.concurrency, serverPID: serverPID)
                .run(seconds: plan.pgbenchSeconds, logger: logger) : nil
        emit("crud.read", read, peer: peerRead, ceiling: ceiling)

        let statuses = ["acknowledged", "investigating", "resolved"]
        let update = try await measure(plan.updates, pool: pool, serverPID: serverPID) { connection, index in
            _ = try await connection.rows(
                UpdateAnomalyStatus(id: ids[(index &* 104_729) % ids.count], status: statuses[index % 3]),
                logger: pool.statementLogger
            )
        }
        emit("crud.update", update, peer: try await runPeer(peer, "update", count: plan.updates, serverPID: serverPID))

        report.emit([("workload", "memory"), ("peak_rss_mb", peakResidentMegabytes())])
        try await pool.query("DROP SCHEMA strata_bench CASCADE")
    }

    /// Prints a workload's line: its figures, the CPU one operation cost each side (`client_cpu_us`,
    /// `server_cpu_us`; the server's only for the embedded one), and the same for the peer and the
    /// ceiling that ran beside it.
    private func emit(_ workload: String, _ result: Costed, peer: Costed? = nil, ceiling: Costed? = nil) {
        var fields: [(String, Any)] = [
            ("workload", workload), ("ops_per_s", result.figures.opsPerSecond), ("p50_ms", result.figures.p50), ("p99_ms", result.figures.p99),
        ]
        fields += result.cpuFields(prefix: "")
        if let peer {
            fields += [
                ("peer", "asyncpg"), ("peer_ops_per_s", peer.figures.opsPerSecond), ("peer_p50_ms", peer.figures.p50),
                ("peer_p99_ms", peer.figures.p99), ("ratio", result.figures.opsPerSecond / peer.figures.opsPerSecond),
            ]
            fields += peer.cpuFields(prefix: "peer_")
        }
        if let ceiling {
            fields += [
                ("ceiling", "pgbench -S -M prepared"), ("ceiling_ops_per_s", ceiling.figures.opsPerSecond),
                ("ceiling_ratio", result.figures.opsPerSecond / ceiling.figures.opsPerSecond),
            ]
            fields += ceiling.cpuFields(prefix: "ceiling_")
        }
        report.emit(fields)
    }

    /// Runs `count` operations on `plan.concurrency` tasks, each op on a leased connection.
    private func measure(
        _ count: Int,
        pool: PostgresPool,
        serverPID: Int32?,
        _ operation: @escaping @Sendable (PostgresConnection, Int) async throws -> Void
    ) async throws -> Costed {
        let before = CPUTime.now(serverPID: serverPID)
        let figures = try await measureConcurrently(count, concurrency: plan.concurrency) { index in
            try await pool.withConnection { connection in try await operation(connection, index) }
        }
        let cost = CPUTime.perOperation(from: before, to: .now(serverPID: serverPID), operations: count)
        return Costed(figures: figures, clientCPU: cost.client, serverCPU: cost.server)
    }

    /// Runs `count` operations on `plan.concurrency` tasks that each hold one connection for the
    /// whole run: what the statements cost through postgres-nio alone, without a lease per operation.
    private func measureOnHeldConnections(
        _ count: Int,
        pool: PostgresPool,
        serverPID: Int32?,
        _ operation: @escaping @Sendable (PostgresConnection, Int) async throws -> Void
    ) async throws -> Costed {
        let before = CPUTime.now(serverPID: serverPID)
        let next = TicketDispenser()
        let started = ContinuousClock.now
        let latencies = try await withThrowingTaskGroup(of: [Double].self) { group in
            for _ in 0..<plan.concurrency {
                group.addTask {
                    try await pool.withConnection { connection in
                        var local: [Double] = []
                        while case let index = next.take(), index < count {
                            let start = ContinuousClock.now
                            try await operation(connection, index)
                            local.append(start.duration(to: .now).millisecondsDouble)
                        }
                        return local
                    }
                }
            }
            return try await group.reduce(into: [Double]()) { $0 += $1 }.sorted()
        }
        let seconds = started.duration(to: .now).secondsDouble
        let cost = CPUTime.perOperation(from: before, to: .now(serverPID: serverPID), operations: count)
        let figures = BenchResult(operations: count, seconds: seconds, p50: latencies.percentile(0.50), p99: latencies.percentile(0.99))
        return Costed(figures: figures, clientCPU: cost.client, serverCPU: cost.server)
    }

    /// Runs one peer workload; its client is the Python child process.
    private func runPeer(_ peer: AsyncpgPeer?, _ workload: String, count: Int, serverPID: Int32?) async throws -> Costed? {
        guard let peer else { return nil }
        let processes = serverPID.map(CPUTime.serverProcesses) ?? 0
        let before = CPUTime.now(serverPID: serverPID)
        guard let figures = try await peer.run(workload, count: count) else { return nil }
        await CPUTime.settle(postmaster: serverPID, to: processes)
        let cost = CPUTime.perOperation(from: before, to: .now(serverPID: serverPID), operations: figures.operations)
        return Costed(figures: figures, clientCPU: cost.children, serverCPU: cost.server)
    }
}

/// A workload's figures with the CPU one operation cost its client and the server, in microseconds.
struct Costed: Sendable {
    var figures: BenchResult
    var clientCPU: Double
    var serverCPU: Double?

    func cpuFields(prefix: String) -> [(String, Any)] {
        [("\(prefix)client_cpu_us", clientCPU)] + (serverCPU.map { [("\(prefix)server_cpu_us", $0)] } ?? [])
    }
}
