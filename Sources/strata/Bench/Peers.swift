import Foundation
import Logging
import PostgresNIO
import StrataCore
import StrataPostgres

/// A Python script of `Benchmarks/peers/` run against a database: it gets the connection on
/// its command line (the password in `PGPASSWORD`) and prints one JSON line per workload,
/// `{"operations", "seconds", "p50_ms", "p99_ms"}`.
struct PythonPeerScript: Sendable {
    let python: String
    let name: String
    let url: DatabaseURL

    var path: String {
        let candidates = [
            FileManager.default.currentDirectoryPath + "/Benchmarks/peers/\(name)",
            URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
                .appendingPathComponent("../../Benchmarks/peers/\(name)").standardizedFileURL.path,
        ]
        return candidates.first { FileManager.default.fileExists(atPath: $0) } ?? candidates[0]
    }

    /// Runs the script; returns its last JSON line's figures, or nil when `expectResult` is false.
    @discardableResult
    func run(_ arguments: [String], expectResult: Bool = true) async throws -> BenchResult? {
        let connection = [
            "--host", url.socketDirectory ?? url.host ?? "127.0.0.1", "--port", "\(url.port)", "--user", url.username, "--database", url.database,
        ]
        var environment = ProcessInfo.processInfo.environment
        if let password = url.password { environment["PGPASSWORD"] = password }
        let output = try await runProgram(python, [path] + arguments + connection, environment: environment)
        guard expectResult else { return nil }
        guard let line = output.split(separator: "\n").last(where: { $0.hasPrefix("{") }),
            let object = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any],
            let operations = object["operations"] as? Int, let seconds = object["seconds"] as? Double,
            let p50 = object["p50_ms"] as? Double, let p99 = object["p99_ms"] as? Double
        else {
            throw StrataError(.internalError, "The peer \(name) printed no result: \(output.suffix(300))")
        }
        return BenchResult(operations: operations, seconds: seconds, p50: p50, p99: p99)
    }
}

/// Runs `Benchmarks/peers/crud_asyncpg.py` for one workload and reads its JSON line.
struct AsyncpgPeer: Sendable {
    let python: String
    let url: DatabaseURL
    let concurrency: Int

    private var script: PythonPeerScript { PythonPeerScript(python: python, name: "crud_asyncpg.py", url: url) }

    /// Creates the peer's own table.
    func prepare() async throws {
        try await script.run(["--workload", "setup", "--count", "0", "--concurrency", "\(concurrency)"], expectResult: false)
    }

    /// Runs one workload.
    func run(_ workload: String, count: Int) async throws -> BenchResult? {
        try await script.run(["--workload", workload, "--count", "\(count)", "--concurrency", "\(concurrency)"])
    }
}

/// `pgbench -S -M prepared`: PostgreSQL's own read-only primary-key workload, the ceiling.
struct PgbenchCeiling: Sendable {
    let url: DatabaseURL
    let concurrency: Int
    /// The embedded server's postmaster, whose CPU is measured beside pgbench's.
    let serverPID: Int32?
    let database = "strata_pgbench"

    /// Runs pgbench for `seconds`; returns its transactions per second and the CPU each one cost
    /// pgbench and the server.
    func run(seconds: Int, logger: Logger) async throws -> Costed {
        let program = Self.program
        var environment = ProcessInfo.processInfo.environment
        if let password = url.password { environment["PGPASSWORD"] = password }
        let connection = ["-h", url.socketDirectory ?? url.host ?? "127.0.0.1", "-p", "\(url.port)", "-U", url.username]
        let (output, before, after) = try await ScratchDatabase.with(database, on: url, logger: logger) { _ in
            _ = try await runProgram(program, ["-i", "-q", "-s", "10"] + connection + [database], environment: environment)
            let processes = serverPID.map(CPUTime.serverProcesses) ?? 0
            let before = CPUTime.now(serverPID: serverPID)
            let output = try await runProgram(
                program,
                ["-S", "-M", "prepared", "-c", "\(concurrency)", "-j", "2", "-T", "\(seconds)"] + connection + [database],
                environment: environment
            )
            await CPUTime.settle(postmaster: serverPID, to: processes)
            return (output, before, CPUTime.now(serverPID: serverPID))
        }
        return try Self.costed(output, before: before, after: after)
    }

    /// The pgbench program: the cluster's own, else Debian's.
    static var program: String {
        (try? PostgresBinaries.locate()).map { $0.path("pgbench") }.flatMap {
            FileManager.default.isExecutableFile(atPath: $0) ? $0 : nil
        } ?? "/usr/bin/pgbench"
    }

    /// The figures pgbench printed, with the CPU each transaction cost.
    static func costed(_ output: String, before: CPUTime, after: CPUTime) throws -> Costed {
        // "tps = 41234.567890 (without initial connection time)"
        // "number of transactions actually processed: 412345"
        // "latency average = 0.389 ms"
        func figure(after prefix: String) -> Double? {
            output.split(separator: "\n").first { $0.hasPrefix(prefix) }
                .flatMap { Double($0.dropFirst(prefix.count).split(separator: " ").first ?? "") }
        }
        guard let tps = figure(after: "tps = "), let transactions = figure(after: "number of transactions actually processed: ") else {
            throw StrataError(.internalError, "pgbench printed no tps line: \(output.suffix(300))")
        }
        let cost = CPUTime.perOperation(from: before, to: after, operations: Int(transactions))
        let average = figure(after: "latency average = ") ?? 0
        return Costed(
            figures: BenchResult(operations: Int(transactions), seconds: Double(transactions) / tps, p50: average, p99: 0),
            clientCPU: cost.children,
            serverCPU: cost.server
        )
    }
}

/// pgbench running one statement of ours (`-f`, prepared) on a database of ours: the ceiling of
/// a route that runs that statement.
struct PgbenchStatement: Sendable {
    let url: DatabaseURL
    let concurrency: Int
    let serverPID: Int32?

    /// Runs `sql` (one statement, `;`-terminated) for `seconds`.
    func run(_ sql: String, seconds: Int) async throws -> Costed {
        var environment = ProcessInfo.processInfo.environment
        if let password = url.password { environment["PGPASSWORD"] = password }
        let script = NSTemporaryDirectory() + "strata-pgbench-\(UUID().uuidString.prefix(8)).sql"
        try sql.write(toFile: script, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: script) }
        let connection = ["-h", url.socketDirectory ?? url.host ?? "127.0.0.1", "-p", "\(url.port)", "-U", url.username]
        let processes = serverPID.map(CPUTime.serverProcesses) ?? 0
        let before = CPUTime.now(serverPID: serverPID)
        let output = try await runProgram(
            PgbenchCeiling.program,
            ["-n", "-f", script, "-M", "prepared", "-c", "\(concurrency)", "-j", "2", "-T", "\(seconds)"] + connection + [url.database],
            environment: environment
        )
        await CPUTime.settle(postmaster: serverPID, to: processes)
        return try PgbenchCeiling.costed(output, before: before, after: CPUTime.now(serverPID: serverPID))
    }
}

/// Runs a program with arguments as an array and returns its output.
func runProgram(_ program: String, _ arguments: [String], environment: [String: String]) async throws -> String {
    try await ChildProcess.run(program, arguments, environment: environment)
}
