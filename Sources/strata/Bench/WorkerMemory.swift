import Foundation
import Logging
import PostgresNIO
import SimJobs
import StrataCore
import StrataPostgres
import StrataServer

#if canImport(Glibc)
import Glibc
#endif

/// The resident memory of a `strata worker` process (this binary) with 8 GPU slots: idle, then
/// while it runs 8 tasks (`sleep`, so the children cost nothing; their memory is not counted).
struct WorkerMemoryProbe {
    let pool: PostgresPool
    let logger: Logger

    struct Figures {
        var idleMegabytes: Double
        var runningMegabytes: Double
    }

    func measure() async throws -> Figures {
        _ = try await Migrator(lines: try StrataApplication.migrationLines(), pool: pool, logger: logger).migrate()
        var environment = ProcessInfo.processInfo.environment
        environment["DATABASE_URL"] = pool.url.revealedURL
        environment["LOG_LEVEL"] = "error"
        let null = open("/dev/null", O_RDWR | O_CLOEXEC)
        defer { close(null) }
        let binary = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath().path
        let command = [binary, "worker", "--gpus", "0,1,2,3,4,5,6,7", "--exec", "/bin/sleep 5", "--name", "bench-memory"]
        let pid = try ChildProcess.spawn(command, environment: environment, input: null, output: null, newSession: true)
        defer {
            kill(pid, SIGKILL)
            _ = ChildProcess.waitForExit(pid)
        }
        try await Task.sleep(for: .seconds(3))
        let idle = try workerResidentMegabytes(pid)

        let service = TaskService(pool: pool)
        let submissions = (0..<8).map { _ in TaskService.Submission(modelName: "mace-mp-0-medium", structureName: "MOF-5") }
        _ = try await service.submit(submissions, type: .singlePointEnergy, by: .job("bench"))
        let deadline = ContinuousClock.now + .seconds(20)
        while try await running() < 8 {
            guard ContinuousClock.now < deadline else { throw StrataError(.internalError, "The worker did not start 8 tasks.") }
            try await Task.sleep(for: .milliseconds(50))
        }
        var peak = 0.0
        for _ in 0..<10 {
            peak = max(peak, try workerResidentMegabytes(pid))
            try await Task.sleep(for: .milliseconds(100))
        }
        return Figures(idleMegabytes: idle, runningMegabytes: peak)
    }

    private func running() async throws -> Int {
        Int(try await pool.query("SELECT count(*) FROM simjobs.tasks WHERE status = 'RUNNING'").first?.decode(Int64.self) ?? 0)
    }

    /// VmRSS of the worker, in MiB.
    private func workerResidentMegabytes(_ pid: Int32) throws -> Double {
        guard let megabytes = residentMegabytes(field: "VmRSS", process: "\(pid)") else {
            throw StrataError(.internalError, "No VmRSS for process \(pid) (did the worker exit?).")
        }
        return megabytes
    }
}
