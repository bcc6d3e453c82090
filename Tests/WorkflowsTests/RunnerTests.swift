import Foundation
import PostgresNIO
import StrataCore
import StrataPostgres
import StrataTestSupport
import Testing

@testable import Workflows

#if canImport(Glibc)
import Glibc
#endif

/// `strata workflows runner` as a process: what its command gets and returns, and a runner
/// killed with SIGKILL mid-execution.
@Suite struct RunnerTests {
    typealias H = WorkflowsHarness

    func startRunner(database: TestDatabase, script: String, log: String, lease: Int = 5) throws -> Int32 {
        try StrataProcess.start(
            ["workflows", "runner", "--exec", script, "--lease", "\(lease)", "--name", "test-runner"],
            database: database,
            log: log
        )
    }

    func stop(_ pid: Int32, signal number: Int32) async {
        await StrataProcess.stop(pid, signal: number)
    }

    func waitFor(_ status: ExecutionStatus, of id: UUID, service: ExecutionService, within seconds: Double) async throws -> Execution {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            let execution = try await service.execution(id)
            if execution.status == status { return execution }
            try await Task.sleep(for: .milliseconds(100))
        }
        return try await service.execution(id)
    }

    @Test(.timeLimit(.minutes(1)))
    func theCommandGetsTheGraphAndInputOnStandardInputAndItsLastJSONLineIsTheResult() async throws {
        try await withTestDatabase(lines: [try WorkflowsModule().migrationLine()]) { database in
            let folder = NSTemporaryDirectory() + "runner-\(UUID().uuidString.prefix(8))"
            try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
            let script = try writeTaskScript(
                """
                cat > "\(folder)/stdin.json"
                echo "step one done"
                echo '{"synced": 3}'
                """,
                in: folder
            )
            let service = ExecutionService(pool: database.pool)
            let workflow = try await ExecutionTests.workflow(database.pool)
            let execution = try await service.start(workflow: workflow.id, .init(input: .object(["order": .number(7)])), by: .job("tester")).execution
            let pid = try startRunner(database: database, script: script, log: folder + "/runner.log")
            let ended = try await waitFor(.success, of: execution.id, service: service, within: 20)
            await stop(pid, signal: SIGTERM)
            #expect(
                ended.status == .success && ended.workerID == "test-runner",
                "\((try? String(contentsOfFile: folder + "/runner.log", encoding: .utf8)) ?? "")"
            )
            #expect(try await service.data(execution.id).result?.value() == .object(["synced": .number(3)]))
            let stdin = try JSONValue(parsing: String(contentsOfFile: folder + "/stdin.json", encoding: .utf8))
            #expect(stdin["input"] == .object(["order": .number(7)]) && stdin["nodes"]?.arrayValue?.count == 2)
            #expect(stdin["execution_id"] == .string(execution.id.uuidString.lowercased()))
            #expect(try await service.log(execution.id, after: 0, limit: 10).map(\.message) == ["step one done"])
        }
    }

    @Test(.timeLimit(.minutes(1)))
    func aRunnerKilledMidExecutionLeavesItCrashedOrRetriedNeverRunning() async throws {
        try await withTestDatabase(lines: [try WorkflowsModule().migrationLine()]) { database in
            let folder = NSTemporaryDirectory() + "runner-\(UUID().uuidString.prefix(8))"
            try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
            let script = try writeTaskScript("cat > /dev/null\necho started\nsleep 60", in: folder)
            let pool = database.pool
            let service = ExecutionService(pool: pool)
            let once = try await ExecutionTests.workflow(pool, name: "no retries")
            let retried = try await ExecutionTests.workflow(pool, settings: .init(retryOnCrash: 1), name: "one retry")
            let first = try await service.start(workflow: once.id, .init(), by: .job("tester")).execution
            let pid = try startRunner(database: database, script: script, log: folder + "/runner.log")
            _ = try await waitFor(.running, of: first.id, service: service, within: 20)
            let second = try await service.start(workflow: retried.id, .init(), by: .job("tester")).execution
            await stop(pid, signal: SIGKILL)
            // A second runner takes the other execution, and is killed too.
            let pid2 = try startRunner(database: database, script: script, log: folder + "/runner2.log")
            _ = try await waitFor(.running, of: second.id, service: service, within: 20)
            await stop(pid2, signal: SIGKILL)
            #expect(try await service.execution(first.id).status == .running, "until its lease expires")

            try await Task.sleep(for: .seconds(6))
            try await ExecutionTests.rescue(pool)
            #expect(try await service.execution(first.id).status == .crashed)
            #expect(try await service.execution(second.id).status == .crashed)
            let retries = try await service.list(workflow: retried.id, status: nil, limit: 10, cursor: nil).items.filter { $0.retryOf == second.id }
            #expect(retries.count == 1 && retries.first?.status == .new)
            let stuck = try await pool.query("SELECT count(*) FROM workflows.execution_entity WHERE status = 10").first?.decode(Int64.self)
            #expect(stuck == 0)
        }
    }
}
