import Foundation
import StrataCore
import StrataPostgres
import StrataServer
import StrataTestSupport
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// `strata serve` as a child process on a test database of its own and a free loopback port,
/// for tests that need the real listener, signals and process exit.
struct ServedProcess {
    let pid: Int32
    let port: Int
    let outputPath: String
    /// Set once the process is reaped: its pid may then be another process's, which no later
    /// ``kill()`` may signal.
    private let reaped = Reaped()

    final class Reaped: Sendable {
        let value = Mutex(false)
    }

    /// Starts the built `strata` binary on a test database of its own with `variables` added
    /// to the environment, waits until `/health` answers, runs `body`, and kills the process if
    /// it is still running.
    static func with<Result: Sendable>(
        variables: [String: String],
        _ body: (ServedProcess) async throws -> Result
    ) async throws -> Result {
        try await withTestDatabase(lines: try StrataApplication.migrationLines()) { database in
            try await with(database: database, variables: variables, body)
        }
    }

    /// As ``with(variables:_:)``, on `database` (a later process may serve the same one).
    static func with<Result: Sendable>(
        database: TestDatabase,
        variables: [String: String] = [:],
        _ body: (ServedProcess) async throws -> Result
    ) async throws -> Result {
        let home = NSTemporaryDirectory() + "strata-served-\(UUID().uuidString.prefix(8))"
        defer { try? FileManager.default.removeItem(atPath: home) }
        try FileManager.default.createDirectory(atPath: home, withIntermediateDirectories: true)
        let port = try FileSystem.freeLoopbackPort()
        var environment = ProcessInfo.processInfo.environment
        environment["STRATA_HOME"] = home
        environment["PORT"] = "\(port)"
        environment["DATABASE_URL"] = database.url.revealedURL
        environment["LOG_LEVEL"] = "warning"
        environment["RATE_LIMIT_ANONYMOUS"] = "1000000"
        for (name, value) in variables { environment[name] = value }
        let outputPath = home + "/serve.out"
        _ = FileManager.default.createFile(atPath: outputPath, contents: nil)
        let output = open(outputPath, O_WRONLY | O_APPEND | O_CLOEXEC)
        let null = open("/dev/null", O_RDONLY | O_CLOEXEC)
        let pid = try ChildProcess.spawn(
            [BuiltProducts.path("strata"), "serve"],
            environment: environment,
            input: null,
            output: output,
            newSession: true
        )
        close(output)
        close(null)
        let served = ServedProcess(pid: pid, port: port, outputPath: outputPath)
        defer { served.kill() }
        try await served.waitUntilServing()
        return try await body(served)
    }

    /// Kills the process with SIGKILL (as the OOM killer would), if it still runs, and reaps it.
    func kill() {
        guard !reaped.value.withLock({ $0 }), Glibc.kill(pid, 0) == 0 else { return }
        Glibc.kill(pid, SIGKILL)
        _ = ChildProcess.waitForExit(pid)  // a SIGKILLed process cannot delay its end
        reaped.value.withLock { $0 = true }
    }

    /// What the process printed.
    var output: String { (try? String(contentsOfFile: outputPath, encoding: .utf8)) ?? "" }

    private func waitUntilServing() async throws {
        let deadline = ContinuousClock.now + .seconds(60)
        while ContinuousClock.now < deadline {
            let port = port
            let answer = try? await LoopbackSocket.onThread { try LoopbackSocket.get(port: port, path: "/health") }
            if answer?.status == 200 { return }
            if Glibc.kill(pid, 0) != 0 { break }
            try await Task.sleep(for: .milliseconds(50))
        }
        throw StrataError(.serverStartFailed, "strata serve did not start: \(output)")
    }

    /// One of the server's metrics: the value of the sample line that starts with `sample`.
    func metric(_ sample: String) async throws -> Double? {
        let port = port
        let text = try await LoopbackSocket.onThread {
            let socket = try LoopbackSocket.connect(port: port)
            socket.send("GET /metrics HTTP/1.1\r\nHost: strata\r\nConnection: close\r\n\r\n")
            return socket.read(timeout: .seconds(10)).text
        }
        for line in text.split(separator: "\n") where line.hasPrefix(sample + " ") {
            return Double(line.dropFirst(sample.count + 1))
        }
        return nil
    }

    /// Sends SIGTERM and waits for the exit status (nil when the process had to be killed
    /// after a minute and a half).
    func terminate() async -> Int32? {
        let status = await StrataProcess.stop(pid, signal: SIGTERM)
        reaped.value.withLock { $0 = true }  // stop reaps it, killed or not
        return status
    }
}
