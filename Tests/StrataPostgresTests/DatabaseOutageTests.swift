import Foundation
import PostgresNIO
import ServiceLifecycle
import StrataCore
import StrataPostgres
import StrataTestSupport
import Synchronization
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// The database going away and coming back under load, on clusters of their own: the server
/// is killed with SIGKILL (as an operator's `kill -9` or the OOM killer would) and started again.
@Suite(.serialized) struct DatabaseOutageTests {
    let logger = TestPostgres.logger

    /// What the writers saw: the ids whose commit was acknowledged, and every error code.
    final class Ledger: Sendable {
        private struct State {
            var acknowledged: [Int] = []
            var failures: [String: Int] = [:]
            var failureLatencies: [Duration] = []
            var lastSuccess = ContinuousClock.now
            var firstSuccessAfter: [ContinuousClock.Instant: ContinuousClock.Instant] = [:]
        }
        private let state = Mutex(State())
        private let nextID = Atomic<Int>(0)

        func takeID() -> Int { nextID.wrappingAdd(1, ordering: .relaxed).newValue }

        func succeeded(_ id: Int) {
            state.withLock { state in
                state.acknowledged.append(id)
                state.lastSuccess = .now
            }
        }

        func failed(_ code: String, after latency: Duration) {
            state.withLock { state in
                state.failures[code, default: 0] += 1
                state.failureLatencies.append(latency)
            }
        }

        var acknowledged: [Int] { state.withLock { $0.acknowledged } }
        var failures: [String: Int] { state.withLock { $0.failures } }
        var failureLatencies: [Duration] { state.withLock { $0.failureLatencies } }
        var successCount: Int { state.withLock { $0.acknowledged.count } }
    }

    func withCluster<T>(_ body: (EmbeddedCluster) async throws -> T) async throws -> T {
        let directory = NSTemporaryDirectory() + "strata-outage-\(UUID().uuidString.prefix(8))"
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let cluster = try await EmbeddedCluster.start(.init(directory: directory, durable: true), logger: logger)
        do {
            let result = try await body(cluster)
            await cluster.stop()
            return result
        } catch {
            await cluster.stop()
            throw error
        }
    }

    func makePool(_ cluster: EmbeddedCluster) -> PostgresPool {
        PostgresPool(
            url: cluster.url,
            configuration: .init(poolSize: 4, maxOverflow: 4, acquireTimeout: .seconds(30), connectTimeout: .seconds(5)),
            logger: logger
        )
    }

    func createLedgerTable(_ pool: PostgresPool) async throws {
        try await pool.query("CREATE TABLE IF NOT EXISTS public.ledger (id bigint PRIMARY KEY, writer int NOT NULL)")
    }

    /// Eight writers insert rows, each in its own transaction, until `stop` is set.
    func write(_ pool: PostgresPool, ledger: Ledger, writers: Int = 8, until stop: Latch) async {
        await withDiscardingTaskGroup { group in
            for writer in 0..<writers {
                group.addTask {
                    while !stop.isSet {
                        let id = ledger.takeID()
                        let started = ContinuousClock.now
                        do {
                            try await pool.withTransaction { connection in
                                try await connection.run("INSERT INTO public.ledger (id, writer) VALUES (\(id), \(writer))", logger: logger)
                            }
                            ledger.succeeded(id)
                        } catch {
                            ledger.failed((error as? StrataError)?.code.rawValue ?? "\(type(of: error))", after: started.duration(to: .now))
                            try? await Task.sleep(for: .milliseconds(5))
                        }
                    }
                }
            }
        }
    }

    /// Every acknowledged id is in the table; and rows committed without their acknowledgement
    /// are at most the writes in flight when the server was killed (one per writer), so nothing
    /// was committed again behind a caller's back.
    func expectNothingLost(_ pool: PostgresPool, ledger: Ledger, writers: Int = 8) async throws {
        let stored = Set(try await pool.query("SELECT id FROM public.ledger").map { try $0.decode(Int.self) })
        let acknowledged = Set(ledger.acknowledged)
        let missing = acknowledged.subtracting(stored)
        #expect(missing.isEmpty, "acknowledged writes missing after the outage: \(missing.sorted().prefix(10))")
        let unacknowledged = stored.subtracting(acknowledged)
        #expect(unacknowledged.count <= writers, "rows committed without an acknowledgement: \(unacknowledged.count)")
    }

    /// Runs eight writers on `pool` while `body` runs (after a second of writes and at least one
    /// acknowledged), then stops them and checks the ledger against the table.
    func underLoad<T: Sendable>(_ pool: PostgresPool, _ body: (Ledger) async throws -> T) async throws -> T {
        try await createLedgerTable(pool)
        let ledger = Ledger()
        let stop = Latch()
        let writers = Task { await write(pool, ledger: ledger, until: stop) }
        let result: T
        do {
            // A second of steady writes — at least one acknowledged, however loaded the machine.
            try await Task.sleep(for: .seconds(1))
            _ = try await timeToFirstWrite(after: .now, ledger: ledger, before: 0, limit: .seconds(30))
            result = try await body(ledger)
        } catch {
            stop.set()
            await writers.value
            throw error
        }
        stop.set()
        await writers.value
        try await expectNothingLost(pool, ledger: ledger)
        return result
    }

    /// Starts the killed server again (what `pg_ctl start` does) and returns the time from its
    /// accepting connections to the first acknowledged write; then lets the writers go on a second.
    func restartAndTimeFirstWrite(_ cluster: EmbeddedCluster, ledger: Ledger) async throws -> Duration {
        let before = ledger.successCount
        try await cluster.restart()
        let recovery = try await timeToFirstWrite(after: .now, ledger: ledger, before: before, limit: .seconds(5))
        try await Task.sleep(for: .seconds(1))
        return recovery
    }

    /// Waits until a write succeeds after `instant`; returns the time it took.
    func timeToFirstWrite(after instant: ContinuousClock.Instant, ledger: Ledger, before: Int, limit: Duration) async throws -> Duration {
        while ledger.successCount == before {
            if instant.duration(to: .now) > limit { throw StrataError(.databaseUnavailable, "no write succeeded within \(limit) of the restart") }
            try await Task.sleep(for: .milliseconds(5))
        }
        return instant.duration(to: .now)
    }

    static func residentMegabytes() -> Double {
        guard let statm = try? String(contentsOfFile: "/proc/self/statm", encoding: .utf8),
            let pages = statm.split(separator: " ").dropFirst().first.flatMap({ Double($0) })
        else { return 0 }
        return pages * Double(sysconf(Int32(_SC_PAGESIZE))) / 1_048_576
    }

    @Test(.timeLimit(.minutes(3)))
    func aKilledAndRestartedServerUnderConcurrentWritersLosesNoAcknowledgedWrite() async throws {
        try await withCluster { cluster in
            let pool = makePool(cluster)
            try await pool.withRunning {
                try await underLoad(pool) { ledger in
                    #expect(ledger.successCount > 0)
                    kill(cluster.serverPID, SIGKILL)
                    try await Task.sleep(for: .seconds(3))
                    #expect(!pool.isAvailable)
                    let duringOutage = ledger.successCount
                    try await Task.sleep(for: .milliseconds(500))
                    #expect(ledger.successCount == duringOutage, "no write can succeed while the server is down")

                    let recovery = try await restartAndTimeFirstWrite(cluster, ledger: ledger)
                    #expect(pool.isAvailable)
                    let failures = ledger.failures
                    #expect(Set(failures.keys).isSubset(of: ["database_unavailable"]), "failures: \(failures)")
                    print(
                        "outage.kill_restart: first write \(recovery.milliseconds) ms after the restart; \(ledger.successCount) writes acknowledged, failures \(failures)"
                    )
                }
            }
        }
    }

    @Test(.timeLimit(.minutes(3)))
    func aServerDownForThirtySecondsIsAnsweredFastWithBoundedMemory() async throws {
        try await withCluster { cluster in
            let pool = makePool(cluster)
            try await pool.withRunning {
                let before = Self.residentMegabytes()
                let (latencies, peakWaiting, peakResident, recovery) = try await underLoad(pool) { ledger in
                    kill(cluster.serverPID, SIGKILL)
                    try await Task.sleep(for: .seconds(1))
                    let failuresAtStart = ledger.failureLatencies.count
                    var peakWaiting = 0
                    var peakResident = before
                    let down = ContinuousClock.now
                    while down.duration(to: .now) < .seconds(30) {
                        peakWaiting = max(peakWaiting, pool.statistics.waiting)
                        peakResident = max(peakResident, Self.residentMegabytes())
                        try await Task.sleep(for: .milliseconds(100))
                    }
                    let latencies = ledger.failureLatencies.dropFirst(failuresAtStart).sorted()
                    let recovery = try await restartAndTimeFirstWrite(cluster, ledger: ledger)
                    return (Array(latencies), peakWaiting, peakResident, recovery)
                }
                let after = Self.residentMegabytes()

                try #require(latencies.count > 1000, "the writers kept asking during the outage")
                let p50 = latencies[latencies.count / 2]
                let p99 = latencies[latencies.count * 99 / 100]
                #expect(p99 < .milliseconds(100), "503s while down must be fast, not wait for a timeout (p99 \(p99))")
                #expect(peakWaiting == 0, "no caller queues while the database is known to be down")
                #expect(peakResident - before < 64, "memory stays bounded while down: \(before) → \(peakResident) MB")
                print(
                    "outage.down_30s: \(latencies.count) refusals, p50 \(Int(p50.secondsDouble * 1_000_000)) µs, p99 \(Int(p99.secondsDouble * 1_000_000)) µs; first write \(recovery.milliseconds) ms after the restart; RSS \(Int(before)) / \(Int(peakResident)) / \(Int(after)) MB (before / peak while down / after)"
                )
            }
        }
    }

    @Test(.timeLimit(.minutes(3)))
    func aKilledEmbeddedServerIsRestartedByItsKeeper() async throws {
        try await withCluster { cluster in
            let pool = makePool(cluster)
            let keeper = EmbeddedClusterKeeper(cluster: cluster, logger: logger)
            // The keeper first: a group stops its services in reverse order.
            let group = ServiceGroup(services: [keeper, pool], logger: logger)
            let services = Task { try await group.run() }
            do {
                try await underLoad(pool) { ledger in
                    let killed = cluster.serverPID
                    kill(killed, SIGKILL)
                    let start = ContinuousClock.now
                    // Writes in flight at the kill may still be acknowledged; count from the outage.
                    while pool.isAvailable && start.duration(to: .now) < .seconds(10) { try await Task.sleep(for: .milliseconds(5)) }
                    #expect(!pool.isAvailable, "the pool noticed the outage")
                    // Backends outlive a killed postmaster for a moment, so a write may still
                    // land before the restart: count writes only once the new server runs.
                    let restarted = try await eventually(within: .seconds(60)) { cluster.serverPID != killed && cluster.isRunning }
                    #expect(restarted, "the keeper started a new server")
                    let recovery = try await timeToFirstWrite(after: start, ledger: ledger, before: ledger.successCount, limit: .seconds(60))
                    print("outage.embedded_kill: writes resumed \(recovery.milliseconds) ms after the kill")
                }
            } catch {
                await group.triggerGracefulShutdown()
                _ = try? await services.value
                throw error
            }
            await group.triggerGracefulShutdown()
            try await services.value
        }
    }

    @Test(.timeLimit(.minutes(2)))
    func aKeeperThatCannotRestartTheServerEndsWithTheReason() async throws {
        try await withCluster { cluster in
            let keeper = EmbeddedClusterKeeper(
                cluster: cluster,
                configuration: .init(restartAttempts: 2, restartBackoff: Backoff(initial: .milliseconds(50), maximum: .milliseconds(50))),
                logger: logger
            )
            let data = cluster.configuration.directory + "/data"
            let running = Task { try await keeper.run() }
            try await Task.sleep(for: .milliseconds(300))
            kill(cluster.serverPID, SIGKILL)
            // The data folder is gone: no restart can succeed.
            try FileManager.default.moveItem(atPath: data, toPath: data + ".moved")
            defer { try? FileManager.default.moveItem(atPath: data + ".moved", toPath: data) }
            let error = await #expect(throws: StrataError.self) { try await running.value }
            #expect(error?.code == .serverStartFailed)
            #expect(error?.message.contains("could not be started again") == true)
        }
    }
}
