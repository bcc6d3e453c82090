import Foundation
import PostgresNIO
import StrataCore
import StrataPostgres
import StrataTestSupport
import Testing

@testable import SimJobs

#if canImport(Glibc)
import Glibc
#endif

/// `strata worker` processes killed with SIGKILL while 1,000 tasks run: no task is lost, none is
/// left running without a live lease, and only tasks in flight at a kill run again.
@Suite struct WorkerCrashTests {
    static let tasks = 1000
    static let gpus = 4

    /// A task command that appends its input (the task's `n`) to a ledger, then answers.
    func ledgerScript(in directory: String) throws -> String {
        try writeTaskScript(
            """
            input=$(cat)
            echo "$input" >> "\(directory)/ledger"
            sleep 0.02
            echo '{"result_data":{"ok":true}}'
            """,
            in: directory
        )
    }

    func startWorker(_ name: String, database: TestDatabase, script: String, log: String) throws -> Int32 {
        let gpus = (0..<Self.gpus).map(String.init).joined(separator: ",")
        return try StrataProcess.start(
            ["worker", "--gpus", gpus, "--exec", "\(script) {task_type}", "--lease", "2", "--name", name],
            database: database,
            log: log
        )
    }

    func killHard(_ pid: Int32) async {
        await StrataProcess.stop(pid, signal: SIGKILL)
    }

    func completed(_ pool: PostgresPool) async throws -> Int {
        Int(try await pool.query("SELECT count(*) FROM simjobs.tasks WHERE status = 'COMPLETED'").first?.decode(Int64.self) ?? 0)
    }

    func waitForCompleted(_ pool: PostgresPool, atLeast target: Int, log: String) async throws {
        let deadline = ContinuousClock.now + .seconds(150)
        while try await completed(pool) < target {
            guard ContinuousClock.now < deadline else {
                let counts = try await pool.query("SELECT status || '=' || count(*) FROM simjobs.tasks GROUP BY status")
                let tail = ((try? String(contentsOfFile: log, encoding: .utf8)) ?? "").suffix(2000)
                Issue.record("\(target) tasks never completed: \(try counts.map { try $0.decode(String.self) }); worker log: \(tail)")
                throw CancellationError()
            }
            try await Task.sleep(for: .milliseconds(100))
        }
    }

    @Test(.timeLimit(.minutes(4)))
    func killingWorkersTwiceLosesNoTaskAndRerunsOnlyThoseInFlight() async throws {
        #expect(FileManager.default.isExecutableFile(atPath: BuiltProducts.path("strata")), "build the strata product first")
        let directory = NSTemporaryDirectory() + "simjobs-crash-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let script = try ledgerScript(in: directory)
        let log = directory + "/workers.log"

        try await withTestDatabase(lines: [try SimJobsModule().migrationLine()]) { database in
            let pool = database.pool
            let service = TaskService(pool: pool)
            for batch in stride(from: 0, to: Self.tasks, by: TaskService.batchLimit) {
                let submissions = (batch..<min(batch + TaskService.batchLimit, Self.tasks)).map { n in
                    TaskService.Submission(
                        modelName: "mace-mp-0-medium",
                        structureName: "MOF-5",
                        parameters: .object(["n": .number(Double(n))]),
                        options: TaskOptions(maxRetries: 3)
                    )
                }
                _ = try await service.submit(submissions, type: .singlePointEnergy, by: .job("tester"))
            }

            var worker = try startWorker("crash-1", database: database, script: script, log: log)
            try await waitForCompleted(pool, atLeast: 150, log: log)
            await killHard(worker)
            worker = try startWorker("crash-2", database: database, script: script, log: log)
            try await waitForCompleted(pool, atLeast: 500, log: log)
            await killHard(worker)
            worker = try startWorker("crash-3", database: database, script: script, log: log)
            defer { kill(worker, SIGKILL) }
            try await waitForCompleted(pool, atLeast: Self.tasks, log: log)
            kill(worker, SIGTERM)

            let statuses = try await pool.query("SELECT status, count(*) FROM simjobs.tasks GROUP BY status")
            var byStatus: [String: Int64] = [:]
            for row in statuses {
                let (status, count) = try row.decode((String, Int64).self)
                byStatus[status] = count
            }
            #expect(byStatus == ["COMPLETED": Int64(Self.tasks)], "every task completed: \(byStatus)")
            let unleased = try await pool.query(
                "SELECT count(*) FROM strata.jobs WHERE queue = 'simjobs' AND (state <> 'completed' OR lease_token IS NOT NULL)"
            ).first?.decode(Int64.self)
            #expect(unleased == 0, "no job is left running or leased")

            let ledger = try String(contentsOfFile: directory + "/ledger", encoding: .utf8)
            var runs: [Int: Int] = [:]
            for line in ledger.split(separator: "\n") {
                guard let n = (try? JSONValue(parsing: String(line)))?["n"]?.numberValue else { continue }
                runs[Int(n), default: 0] += 1
            }
            #expect(runs.count == Self.tasks, "every task's command ran")
            let reruns = runs.values.reduce(0) { $0 + $1 - 1 }
            #expect(reruns <= 2 * Self.gpus, "only the tasks in flight at the two kills ran again (\(reruns) re-runs)")
            let retried = try await pool.query("SELECT count(*) FROM strata.jobs WHERE queue = 'simjobs' AND attempt > 1").first?.decode(Int64.self)
            #expect((retried ?? 0) >= 1 && (retried ?? 0) <= Int64(2 * Self.gpus), "the killed workers' tasks were rescued and run again")
        }
    }
}
