import Foundation
public import StrataCore

#if canImport(Glibc)
import Glibc
#endif

/// The built `strata` run as a child process of a test (a worker, a runner) against a test
/// database, in a session of its own so that a kill reaches it alone.
public enum StrataProcess {
    /// Starts `strata <arguments>` with the test database as its `DATABASE_URL`, its output
    /// appended to `log`.
    /// - Returns: Its process id.
    public static func start(_ arguments: [String], database: TestDatabase, log: String, environment extra: [String: String] = [:]) throws -> Int32 {
        var environment = ProcessInfo.processInfo.environment
        environment["DATABASE_URL"] = database.url.revealedURL
        environment["LOG_LEVEL"] = "info"
        environment.merge(extra) { _, new in new }
        let output = open(log, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0o644)
        let null = open("/dev/null", O_RDONLY | O_CLOEXEC)
        defer {
            close(output)
            close(null)
        }
        return try ChildProcess.spawn(
            [BuiltProducts.path("strata")] + arguments,
            environment: environment,
            input: null,
            output: output,
            newSession: true
        )
    }

    /// Sends `signal` to the process and waits for it to exit, at most `limit`: a process
    /// still running then is killed with SIGKILL (a test expecting an exit status then sees
    /// nil, rather than waiting for ever).
    /// - Returns: Its exit code (128 + the signal that ended it), or nil when it had to be killed.
    @discardableResult
    public static func stop(
        _ pid: Int32,
        signal number: Int32,
        within limit: Duration = .seconds(90)
    ) async -> Int32? {
        kill(pid, number)
        if let status = await ChildProcess.exitCode(of: pid, within: limit) { return status }
        kill(pid, SIGKILL)
        _ = await ChildProcess.exitCode(of: pid, within: .seconds(10))
        return nil
    }
}
