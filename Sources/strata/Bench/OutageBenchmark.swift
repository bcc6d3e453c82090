import Foundation
import Logging
import NIOCore
import NIOHTTP1
import PostgresNIO
import StrataCore
import StrataHTTP
import StrataPostgres
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// `strata serve` while its database goes away and comes back, as an operator sees it: the
/// server runs as a child process on a throw-away PostgreSQL given by `DATABASE_URL` (not one it
/// manages), eight keep-alive clients create work orders, and each round the postmaster is
/// killed with SIGKILL, kept down, and started again on the same port (what `pg_ctl start`
/// does). Each round prints the time from PostgreSQL accepting connections again to the first
/// acknowledged create, the latency of the 503s while it was down, and the server's resident
/// memory before, at its peak while down, and after. At the end every acknowledged create is
/// looked up (none may be missing) and titles are checked for duplicates (none applied twice).
struct OutageBenchmark {
    struct Plan: Sendable {
        var rounds: Int
        var down: Duration
        var writers: Int
    }

    let plan: Plan
    let logger: Logger
    let report: Report

    /// What the writers saw.
    final class Ledger: Sendable {
        private struct State {
            var acknowledged: [UUID] = []
            var refusals: [(at: ContinuousClock.Instant, latency: Duration)] = []
            var successes: [ContinuousClock.Instant] = []
            var otherStatuses: [UInt: Int] = [:]
        }
        private let state = Mutex(State())
        private let next = Atomic<Int>(0)

        func nextTitle() -> String { "outage \(next.wrappingAdd(1, ordering: .relaxed).newValue)" }

        func record(_ answer: HTTPLoad.Answer, started: ContinuousClock.Instant) {
            let now = ContinuousClock.now
            state.withLock { state in
                switch answer.status {
                case 201:
                    if let id = Self.id(in: answer.body) { state.acknowledged.append(id) }
                    state.successes.append(now)
                case 503: state.refusals.append((started, started.duration(to: now)))
                default: state.otherStatuses[answer.status, default: 0] += 1
                }
            }
        }

        /// The `id` of a created order's JSON.
        static func id(in body: ByteBuffer) -> UUID? {
            guard let object = try? JSONSerialization.jsonObject(with: Data(body.readableBytesView)) as? [String: Any] else { return nil }
            return (object["id"] as? String).flatMap(UUID.init(uuidString:))
        }

        var acknowledged: [UUID] { state.withLock { $0.acknowledged } }
        var otherStatuses: [UInt: Int] { state.withLock { $0.otherStatuses } }
        func refusals(startedAfter instant: ContinuousClock.Instant) -> [Duration] {
            state.withLock { $0.refusals.filter { $0.at >= instant }.map(\.latency) }
        }
        func firstSuccess(after instant: ContinuousClock.Instant) -> ContinuousClock.Instant? {
            state.withLock { $0.successes.first { $0 > instant } }
        }
    }

    func run() async throws {
        let folder = NSTemporaryDirectory() + "strata-bench-outage-\(UUID().uuidString.prefix(8))"
        defer { try? FileManager.default.removeItem(atPath: folder) }
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        let cluster = try await EmbeddedCluster.start(.init(directory: folder + "/postgres"), logger: logger)
        do {
            try await measure(cluster: cluster, folder: folder)
            await cluster.stop()
        } catch {
            await cluster.stop()
            throw error
        }
    }

    private func measure(cluster: EmbeddedCluster, folder: String) async throws {
        let port = try FileSystem.freeLoopbackPort()
        var environment = ProcessInfo.processInfo.environment
        environment["DATABASE_URL"] = cluster.url.revealedURL
        environment["STRATA_HOME"] = folder + "/home"
        environment["PORT"] = "\(port)"
        environment["LOG_LEVEL"] = "warning"
        environment["RATE_LIMIT_ANONYMOUS"] = "1000000"
        let logPath = folder + "/serve.log"
        _ = FileManager.default.createFile(atPath: logPath, contents: nil)
        let output = open(logPath, O_WRONLY | O_APPEND | O_CLOEXEC)
        let null = open("/dev/null", O_RDONLY | O_CLOEXEC)
        let binary = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath().path
        let server = try ChildProcess.spawn([binary, "serve"], environment: environment, input: null, output: output, newSession: true)
        close(output)
        close(null)
        defer {
            kill(server, SIGKILL)
            _ = ChildProcess.waitForExit(server)
        }
        try await waitUntilServing(port: port, logPath: logPath)

        let pool = PostgresPool(url: cluster.url, configuration: .init(poolSize: 1, maxOverflow: 1), logger: logger)
        let key = try await pool.withRunning {
            try await APIKeyStore(pool: pool).create(.init(name: "outage-bench", permissions: ["workorders.write"], rateLimitPerMinute: 1_000_000))
                .secret
        }
        report.note(
            "strata serve (pid \(server)) on \(cluster.url.endpointDescription); \(plan.writers) writers; "
                + "\(plan.rounds) rounds of SIGKILL, \(plan.down) down, restart"
        )

        let ledger = Ledger()
        let stop = Latch()
        let writers = Task { await write(port: port, key: key, ledger: ledger, until: stop) }
        var recoveries: [Double] = []
        var refusalP99s: [Double] = []
        do {
            try await Task.sleep(for: .seconds(2))
            for round in 1...plan.rounds {
                let before = residentMegabytes(field: "VmRSS", process: "\(server)") ?? 0
                kill(cluster.serverPID, SIGKILL)
                let killed = ContinuousClock.now
                var peak = before
                while killed.duration(to: .now) < plan.down {
                    peak = max(peak, residentMegabytes(field: "VmRSS", process: "\(server)") ?? 0)
                    try await Task.sleep(for: .milliseconds(100))
                }
                try await cluster.restart()
                let back = ContinuousClock.now
                let deadline = back + .seconds(30)
                var first = ledger.firstSuccess(after: back)
                while first == nil && ContinuousClock.now < deadline {
                    try await Task.sleep(for: .milliseconds(5))
                    first = ledger.firstSuccess(after: back)
                }
                guard let first else {
                    throw StrataError(.internalError, "No create succeeded within 30 s of PostgreSQL coming back (round \(round)).")
                }
                try await Task.sleep(for: .seconds(2))
                let after = residentMegabytes(field: "VmRSS", process: "\(server)") ?? 0
                // Steady refusals: requests started half a second after the kill (the first ones
                // meet connections that die under them).
                let refusals = ledger.refusals(startedAfter: killed + .milliseconds(500)).sorted()
                let recovery = back.duration(to: first).secondsDouble * 1000
                let p50 = refusals.isEmpty ? 0 : refusals[refusals.count / 2].secondsDouble * 1000
                let p99 = refusals.isEmpty ? 0 : refusals[refusals.count * 99 / 100].secondsDouble * 1000
                recoveries.append(recovery)
                refusalP99s.append(p99)
                report.emit([
                    ("workload", "outage.round"), ("round", round), ("recovery_ms", recovery), ("refusals", refusals.count),
                    ("refusal_p50_ms", p50), ("refusal_p99_ms", p99), ("rss_before_mb", before), ("rss_down_peak_mb", peak),
                    ("rss_after_mb", after),
                ])
            }
        } catch {
            stop.set()
            await writers.value
            throw error
        }
        stop.set()
        await writers.value

        let acknowledged = ledger.acknowledged
        // A pool runs once: the check gets one of its own.
        let checking = PostgresPool(url: cluster.url, configuration: .init(poolSize: 1, maxOverflow: 1), logger: logger)
        let (found, duplicated) = try await checking.withRunning {
            let pool = checking
            let found =
                try await pool.query("SELECT count(*) FROM workorders.work_orders WHERE id = ANY(\(acknowledged))")
                .first?.decode(Int64.self) ?? 0
            let duplicated =
                try await pool.query(
                    "SELECT count(*) FROM (SELECT title FROM workorders.work_orders WHERE title LIKE 'outage %' GROUP BY title HAVING count(*) > 1) AS twice"
                ).first?.decode(Int64.self) ?? 0
            return (Int(found), Int(duplicated))
        }
        report.emit([
            ("workload", "outage"), ("rounds", plan.rounds), ("recovery_ms_median", median(recoveries)),
            ("refusal_p99_ms_median", median(refusalP99s)), ("acknowledged", acknowledged.count),
            ("missing", acknowledged.count - found), ("duplicated", duplicated),
            ("other_statuses", ledger.otherStatuses.map { "\($0.key):\($0.value)" }.sorted().joined(separator: ",")),
        ])
        if found != acknowledged.count || duplicated != 0 {
            throw StrataError(.internalError, "Acknowledged writes were lost (\(acknowledged.count - found)) or applied twice (\(duplicated)).")
        }
    }

    private func median(_ values: [Double]) -> Double {
        let sorted = values.sorted()
        return sorted.isEmpty ? 0 : sorted[sorted.count / 2]
    }

    /// Waits until `/health` answers (the server migrates first), or fails with its log.
    private func waitUntilServing(port: Int, logPath: String) async throws {
        let deadline = ContinuousClock.now + .seconds(120)
        while ContinuousClock.now < deadline {
            if let channel = try? await HTTPLoad.connect(host: "127.0.0.1", port: port) {
                defer { channel.close(promise: nil) }
                if let answer = try? await HTTPLoad.send(.init(path: "/health"), on: channel, host: "127.0.0.1", port: port), answer.status == 200 {
                    return
                }
            }
            try await Task.sleep(for: .milliseconds(100))
        }
        let log = (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? ""
        throw StrataError(.serverStartFailed, "strata serve did not start; its output:\n\(log.suffixLines(10))")
    }

    /// Each writer creates orders on its own keep-alive connection until `stop` is set,
    /// reconnecting if the connection fails.
    private func write(port: Int, key: String, ledger: Ledger, until stop: Latch) async {
        await withDiscardingTaskGroup { group in
            for _ in 0..<plan.writers {
                group.addTask {
                    var channel: (any Channel)?
                    while !stop.isSet {
                        do {
                            if channel == nil { channel = try await HTTPLoad.connect(host: "127.0.0.1", port: port) }
                            let body =
                                #"{"title":"\#(ledger.nextTitle())","owner_id":"m-1","owner_name":"Manager","steps":[{"step_code":"s1","step_name":"Assembly","expected_quantity":10}]}"#
                            let request = HTTPLoad.Request(
                                method: .POST,
                                path: "/api/workorders/orders",
                                headers: [("X-API-Key", key), ("Content-Type", "application/json")],
                                body: Array(body.utf8)
                            )
                            let started = ContinuousClock.now
                            let answer = try await HTTPLoad.send(request, on: channel!, host: "127.0.0.1", port: port)
                            ledger.record(answer, started: started)
                            if answer.status == 503 { try? await Task.sleep(for: .milliseconds(1)) }
                        } catch {
                            channel?.close(promise: nil)
                            channel = nil
                            try? await Task.sleep(for: .milliseconds(50))
                        }
                    }
                    channel?.close(promise: nil)
                }
            }
        }
    }
}
