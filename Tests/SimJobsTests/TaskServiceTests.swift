import Foundation
import Logging
import PostgresNIO
import ServiceLifecycle
import StrataCore
import StrataObjects
import StrataPostgres
import StrataTestSupport
import Testing

@testable import SimJobs

/// The task server against a real PostgreSQL: submission, the queue's order, cancellation,
/// workers running real commands, and the rescue of tasks whose worker was lost.
@Suite(.serialized)
struct TaskServiceTests {
    func submission(_ model: String = "mace-mp-0-medium", priority: TaskPriority = .normal, parameters: JSONValue? = nil) -> TaskService.Submission {
        TaskService.Submission(modelName: model, structureName: "MOF-5", parameters: parameters, priority: priority)
    }

    func count(_ pool: PostgresPool, _ sql: PostgresQuery) async throws -> Int64 {
        try await pool.query(sql).first?.decode(Int64.self) ?? -1
    }

    /// A task command: logs, then answers per the `mode` parameter (fail, sleep) or prints a result.
    func script() throws -> CommandTemplate {
        let path = try writeTaskScript(
            """
            input=$(cat)
            echo "INFO starting $1 on GPU $CUDA_VISIBLE_DEVICES"
            case "$input" in
              *'"mode":"fail"'*) echo "boom: the structure exploded" >&2; exit 3;;
              *'"mode":"sleep"'*) sleep 30;;
            esac
            echo "a note on stderr" >&2
            printf '{"result_data":{"energy":-1.5,"input":%s},"output_files":["out.traj"],"metrics":{"steps":3}}\\n' "$input"
            """
        )
        return try CommandTemplate("\(path) {task_type}")
    }

    func withWorker<T: Sendable>(_ pool: PostgresPool, gpus: [Int] = [0, 1], _ body: () async throws -> T) async throws -> T {
        let runner = TaskRunner(
            pool: pool,
            configuration: .init(
                gpus: gpus,
                command: try script(),
                name: "test-worker",
                lease: .seconds(5),
                heartbeatInterval: .milliseconds(300),
                pollInterval: .milliseconds(100),
                killGrace: .seconds(1),
                drainTimeout: .seconds(2)
            ),
            logger: TestPostgres.logger
        )
        return try await withRunningServices([runner.worker()], logger: TestPostgres.logger, body)
    }

    func waitFor(_ service: TaskService, _ id: UUID, _ statuses: Set<TaskStatus>, within seconds: Double = 20) async throws -> SimulationTask {
        let deadline = Date().addingTimeInterval(seconds)
        while true {
            let task = try await service.task(id)
            if statuses.contains(task.status) { return task }
            guard Date() < deadline else {
                Issue.record("task \(id) is \(task.status), expected \(statuses)")
                return task
            }
            try await Task.sleep(for: .milliseconds(50))
        }
    }

    @Test(.timeLimit(.minutes(1)))
    func workersAnnounceThemselvesShowTheirBusyGPUsAndStopCleanly() async throws {
        try await withTestDatabase(lines: [try SimJobsModule().migrationLine()]) { database in
            let pool = database.pool
            let service = TaskService(pool: pool)
            let runner = TaskRunner(
                pool: pool,
                configuration: .init(
                    gpus: [0, 1],
                    command: try script(),
                    name: "presence-worker",
                    heartbeatInterval: .milliseconds(200),
                    pollInterval: .milliseconds(100),
                    killGrace: .milliseconds(200),
                    drainTimeout: .milliseconds(500)
                ),
                logger: TestPostgres.logger
            )
            let task = try await service.submit(
                [submission(parameters: .object(["mode": .string("sleep")]))],
                type: .stability,
                by: .job("tester")
            )[0]
            try await withRunningServices([runner.worker(), runner.presence()], logger: TestPostgres.logger) {
                _ = try await waitFor(service, task.id, [.running])
                var seen: WorkerStatus?
                _ = try await eventually {
                    seen = try await service.workers().first
                    return seen?.busyGPUs == [0]
                }
                #expect(seen?.name == "presence-worker" && seen?.state == .online)
                #expect(seen?.gpus == [0, 1] && seen?.busyGPUs == [0] && seen?.runningTasks == 1)
                _ = try await service.cancel(task.id, by: .job("tester"))
            }
            #expect(try await service.workers().first?.state == .stopped, "a clean shutdown says so")
            try await pool.query(
                "UPDATE simjobs.workers SET stopped_at = NULL, last_seen_at = now() - interval '1 minute' WHERE name = 'presence-worker'"
            )
            #expect(try await service.workers().first?.state == .offline, "silent for three heartbeats: offline")
        }
    }

    @Test(.timeLimit(.minutes(1)))
    func aSubmittedTaskIsQueuedWithItsJobAndEvent() async throws {
        try await withTestDatabase(lines: [try SimJobsModule().migrationLine()]) { database in
            let service = TaskService(pool: database.pool)
            let task = try await service.submit(
                [submission(priority: .high)],
                type: .optimization,
                by: Caller(actor: "api_key:tester", name: "tester", requestID: "req-1")
            )[0]
            #expect(task.status == .queued && task.priority == 1 && task.taskType == .optimization && task.queuedAt != nil)
            #expect(try await count(database.pool, "SELECT count(*) FROM strata.jobs WHERE queue = 'simjobs' AND priority = 1") == 1)
            #expect(try await count(database.pool, "SELECT count(*) FROM strata.outbox WHERE app = 'simjobs' AND kind = 'task.created'") == 1)
            #expect(try await count(database.pool, "SELECT count(*) FROM strata.audit_log WHERE app = 'simjobs' AND action = 'create'") == 1)
        }
    }

    @Test(.timeLimit(.minutes(1)))
    func aBatchIsAllOrNothing() async throws {
        try await withTestDatabase(lines: [try SimJobsModule().migrationLine()]) { database in
            let service = TaskService(pool: database.pool)
            var bad = submission("no-such-model")
            bad.taskType = .stability
            var good = submission()
            good.taskType = .optimization
            await #expect(throws: StrataError.self) {
                try await service.submit([good, bad], type: nil, by: .job("tester"))
            }
            #expect(try await count(database.pool, "SELECT count(*) FROM simjobs.tasks") == 0)
            #expect(try await count(database.pool, "SELECT count(*) FROM strata.jobs") == 0, "the rolled-back batch left no job")
            var untyped = submission()
            untyped.taskType = nil
            do {
                _ = try await service.submit([good, untyped], type: nil, by: .job("tester"))
                Issue.record("a task without a type was accepted")
            } catch let error as StrataError {
                #expect(error.code == .validationFailed && error.fieldErrors.map(\.field) == ["tasks[1].task_type"])
            }
        }
    }

    @Test(.timeLimit(.minutes(1)))
    func tasksAreClaimedByPriorityThenAge() async throws {
        try await withTestDatabase(lines: [try SimJobsModule().migrationLine()]) { database in
            let service = TaskService(pool: database.pool)
            var ids: [TaskPriority: UUID] = [:]
            for priority in [TaskPriority.low, .normal, .critical, .high] {
                ids[priority] = try await service.submit([submission(priority: priority)], type: .stability, by: .job("tester"))[0]
                    .id
            }
            let older = ids[.normal]!
            let newer = try await service.submit([submission(priority: .normal)], type: .stability, by: .job("tester"))[0].id
            let claimed = try await database.pool.withTransaction { connection in
                try await JobQueue().claim(
                    queue: "simjobs",
                    limit: 10,
                    worker: "w",
                    lease: .seconds(30),
                    on: connection,
                    logger: database.pool.statementLogger
                )
            }
            let order = try claimed.map { try JSONDecoder().decode(TaskRunner.Arguments.self, from: Data($0.argsJSON.utf8)).task_id }
            #expect(order == [ids[.critical]!, ids[.high]!, older, newer, ids[.low]!])
        }
    }

    @Test(.timeLimit(.minutes(1)))
    func pagesWalkEveryTaskOnceEvenWithinOneTimestamp() async throws {
        try await withTestDatabase(lines: [try SimJobsModule().migrationLine()]) { database in
            let service = TaskService(pool: database.pool)
            // One batch is one transaction: every task has the same created_at, and the id decides.
            let batch = (0..<7).map { _ in
                var item = submission()
                item.taskType = .stability
                return item
            }
            let created = try await service.submit(batch, type: nil, by: .job("tester"))
            var seen: [UUID] = []
            var cursor: Cursor?
            repeat {
                let page = try await service.list(.init(), limit: 2, cursor: cursor)
                seen += page.items.map(\.id)
                cursor = try page.nextCursor.map { try Cursor(decoding: $0) }
            } while cursor != nil && seen.count < 20
            #expect(seen.count == 7 && Set(seen) == Set(created.map(\.id)))
            #expect(try await service.list(.init(status: .running), limit: 5, cursor: nil).items.isEmpty)
        }
    }

    @Test(.timeLimit(.minutes(1)))
    func aWorkerRunsTheCommandAndStoresLogsAndResult() async throws {
        try await withTestDatabase(lines: [try SimJobsModule().migrationLine()]) { database in
            let service = TaskService(pool: database.pool)
            let ok = try await service.submit(
                [submission(parameters: .object(["steps": .number(3)]))],
                type: .optimization,
                by: .job("tester")
            )[0]
            let failing = try await service.submit(
                [submission(parameters: .object(["mode": .string("fail")]))],
                type: .stability,
                by: .job("tester")
            )[0]
            let (done, failed) = try await withWorker(database.pool) {
                (try await waitFor(service, ok.id, [.completed, .failed]), try await waitFor(service, failing.id, [.completed, .failed]))
            }
            #expect(
                done.status == .completed && done.workerID == "test-worker" && done.gpuID != nil && done.startedAt != nil && done.finishedAt != nil
            )
            let result = try await service.result(ok.id)
            #expect(result.resultData["energy"] == .number(-1.5))
            #expect(result.resultData["input"] == .object(["steps": .number(3)]), "the parameters reached the command on stdin")
            #expect(result.outputFiles == .array([.string("out.traj")]))
            let logs = try await service.logs(ok.id, afterID: 0, limit: 100)
            // Lines of one stream keep their order; the two streams interleave as their readers run.
            #expect(logs.contains { $0.level == "INFO" && $0.message == "INFO starting optimization on GPU \(done.gpuID!)" }, "\(logs)")
            #expect(logs.contains { $0.level == "WARNING" && $0.message == "a note on stderr" })
            #expect(failed.status == .failed && failed.errorType == "exit_status")
            #expect(failed.errorMessage?.contains("status 3: boom: the structure exploded") == true)
            do {
                _ = try await service.result(failing.id)
                Issue.record("a failed task has no result")
            } catch let error as StrataError {
                #expect(error.code == .resultNotReady)
            }
            let kinds = try await database.pool.query("SELECT kind FROM strata.outbox WHERE aggregate_id = \(ok.id.uuidString) ORDER BY id")
                .map { try $0.decode(String.self) }
            #expect(kinds == ["task.created", "task.assigned", "task.started", "task.completed"])
        }
    }

    @Test(.timeLimit(.minutes(1)))
    func cancellingStopsARunningCommandAndEndedTasksRefuse() async throws {
        try await withTestDatabase(lines: [try SimJobsModule().migrationLine()]) { database in
            let service = TaskService(pool: database.pool)
            let slow = try await service.submit(
                [submission(parameters: .object(["mode": .string("sleep")]))],
                type: .heatCapacity,
                by: .job("tester")
            )[0]
            let cancelled = try await withWorker(database.pool) {
                _ = try await waitFor(service, slow.id, [.running])
                try await Task.sleep(for: .milliseconds(200))
                let requested = try await service.cancel(slow.id, by: .job("tester"))
                #expect(requested.status == .running && requested.cancelRequested)
                return try await waitFor(service, slow.id, [.cancelled, .completed, .failed], within: 10)
            }
            #expect(cancelled.status == .cancelled)
            let waiting = try await service.submit([submission()], type: .stability, by: .job("tester"))[0]
            #expect(try await service.cancel(waiting.id, by: .job("tester")).status == .cancelled)
            do {
                _ = try await service.cancel(waiting.id, by: .job("tester"))
                Issue.record("an ended task was cancelled again")
            } catch let error as StrataError {
                #expect(error.code == .transitionRefused && error.details["status"] == "CANCELLED" && error.details["requested"] == "CANCELLED")
            }
            #expect(try await count(database.pool, "SELECT count(*) FROM strata.jobs WHERE state = 'running'") == 0)
        }
    }

    @Test(.timeLimit(.minutes(1)))
    func aLostWorkersTaskIsQueuedAgainThenTimesOutWhenNoRetriesAreLeft() async throws {
        try await withTestDatabase(lines: [try SimJobsModule().migrationLine()]) { database in
            let pool = database.pool
            let service = TaskService(pool: pool)
            var once = submission()
            once.options = TaskOptions(timeoutSeconds: 60, maxRetries: 1)
            let task = try await service.submit([once], type: .singlePointEnergy, by: .job("tester"))[0]
            let queue = JobQueue()
            let rescue = TaskService.rescueHandler(pool: pool)
            for attempt in 1...2 {
                // A worker claims, assigns and starts the task, then dies (its lease runs out).
                let job = try #require(
                    try await pool.withTransaction { connection in
                        try await queue.claim(
                            queue: "simjobs",
                            limit: 1,
                            worker: "doomed",
                            lease: .milliseconds(1),
                            on: connection,
                            logger: pool.statementLogger
                        )
                    }.first
                )
                #expect(try await service.assign(task.id, job: job, gpu: 0, worker: "doomed") != nil)
                #expect(try await service.start(task.id, job: job, worker: "doomed"))
                try await Task.sleep(for: .milliseconds(20))
                try await pool.withTransaction { connection in
                    let rescued = try await queue.rescueExpired(queues: ["simjobs"], on: connection, logger: pool.statementLogger)
                    try await rescue(rescued, connection, pool.statementLogger)
                }
                let after = try await service.task(task.id)
                #expect(after.status == (attempt == 1 ? .queued : .timeout), "attempt \(attempt)")
                // The old worker's lease is gone: its late result changes nothing.
                #expect(try await service.finish(task.id, job: job, worker: "doomed", outcome: .failed(type: "x", message: "late")) == false)
            }
            let ended = try await service.task(task.id)
            #expect(ended.errorType == "worker_lost" && ended.finishedAt != nil)
            let logged = try await pool.query(
                "SELECT string_agg(message, ' | ' ORDER BY id) FROM simjobs.system_logs WHERE source = 'scheduler' AND logger = 'simjobs.rescue'"
            ).first?.decode(String?.self)
            #expect(
                logged
                    == "Rescued 1 tasks from lost workers (leases expired): 1 queued again, 0 ended. | Rescued 1 tasks from lost workers (leases expired): 0 queued again, 1 ended."
            )
        }
    }
}

/// The seed's retention table: results expire after 180 days (410 from then on), uploaded
/// structures are removed after theirs, tasks stay with their structure's name.
@Suite struct RetentionTests {
    @Test(.timeLimit(.minutes(1)))
    func oldResultsAnswerExpiredAndExpiredUploadsGoWhileTasksKeepTheirNames() async throws {
        try await withTestDatabase(lines: [try SimJobsModule().migrationLine()]) { database in
            let pool = database.pool
            let service = TaskService(pool: pool)
            let objects = FileSystemObjectStore.temporary()
            let structures = StructureService(pool: pool, objects: objects)
            let xyz = Data("2\nwater fragment\nO 0 0 0\nH 0 0 0.96\n".utf8)
            let upload = try await structures.upload(xyz, name: "uploaded-MOF", format: .xyz, by: .job("tester")).structure.id
            // 181 days later.
            try await pool.query("UPDATE simjobs.structures SET expires_at = now() - interval '1 day' WHERE id = \(upload)")
            let tasks = try await service.submit(
                [
                    TaskService.Submission(modelName: "mace-mp-0-medium", structureID: upload),
                    TaskService.Submission(modelName: "mace-mp-0-medium", structureName: "MOF-5"),
                ],
                type: .optimization,
                by: .job("tester")
            )
            for (task, age) in zip(tasks, [181, 179]) {
                try await pool.query(
                    """
                    UPDATE simjobs.tasks SET status = 'COMPLETED', finished_at = now(), gpu_id = 0, worker_id = 'w' WHERE id = \(task.id);
                    """
                )
                try await pool.query(
                    """
                    INSERT INTO simjobs.task_results (task_id, result_data, created_at)
                    VALUES (\(task.id), '{"energy": -1.5}', now() - \(age) * interval '1 day')
                    """
                )
            }
            #expect(try await SimJobsRetention.expireResults(pool: pool) == 1)
            #expect(try await SimJobsRetention.expireResults(pool: pool) == 0, "idempotent")
            do {
                _ = try await service.result(tasks[0].id)
                Issue.record("an expired result must answer gone")
            } catch let error as StrataError {
                #expect(error.code == .gone)
            }
            #expect(try await service.result(tasks[1].id).resultData["energy"]?.numberValue == -1.5)

            #expect(try await objects.listAll(prefix: "simjobs/structures/").count == 1)
            #expect(try await SimJobsRetention.removeExpiredStructures(pool: pool, objects: objects) == 1)
            #expect(try await objects.listAll(prefix: "simjobs/structures/").isEmpty, "the file goes with its row")
            let kept = try await service.task(tasks[0].id)
            #expect(kept.structureID == nil && kept.structureName == "uploaded-MOF")
        }
    }
}
