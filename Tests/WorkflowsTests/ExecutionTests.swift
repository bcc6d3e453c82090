import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import NIOCore
import PostgresNIO
import StrataCore
import StrataHTTP
import StrataPostgres
import StrataTestSupport
import Testing

@testable import Workflows

@Suite struct ExecutionTests {
    typealias H = WorkflowsHarness

    /// A workflow made through the service.
    static func workflow(_ pool: PostgresPool, settings: WorkflowSettings = .init(), name: String = "Sync") async throws -> Workflow {
        try await WorkflowService(pool: pool).create(
            .init(name: name, nodes: [H.node("start"), H.node("end")], connections: [H.connection("start", "end")], settings: settings),
            by: .job("tester")
        )
    }

    @Test(.timeLimit(.minutes(1)))
    func anEngineRunsAnExecutionThroughTheWorkerProtocol() async throws {
        try await H.withApp { client, auth, database in
            let workflow = try await Self.workflow(database.pool)
            let started = try await client.execute(
                uri: "/api/workflows/workflows/\(workflow.id)/executions",
                method: .post,
                headers: auth,
                body: H.body(["input": .object(["order": .number(42)])])
            ) { response in
                #expect(response.status == .created)
                return H.json(response)
            }
            let id = try #require(started["id"]?.stringValue)
            #expect(started["status"] == .string("new") && started["mode"] == .string("manual"))

            let claimed = try await client.execute(
                uri: "/api/workflows/worker/claim",
                method: .post,
                headers: auth,
                body: H.body(["worker": .string("engine-1"), "limit": .number(5), "lease_seconds": .number(30)])
            ) { H.json($0) }
            let claim = try #require(claimed["items"]?.arrayValue?.first)
            #expect(claimed["items"]?.arrayValue?.count == 1)
            #expect(claim["execution"]?["status"] == .string("running") && claim["execution"]?["worker_id"] == .string("engine-1"))
            #expect(claim["input"] == .object(["order": .number(42)]))
            #expect(claim["workflow_data"]?["nodes"]?.arrayValue?.count == 2)
            let lease = try #require(claim["lease"]?.stringValue)
            let executions = "/api/workflows/executions/\(id)"

            try await client.execute(uri: "\(executions)/heartbeat", method: .post, headers: auth, body: H.body(["lease": .string(lease)])) {
                #expect(H.json($0) == ["cancel_requested": .bool(false)])
            }
            let wrongLease = H.body(["lease": .string("1.\(UUID())")])
            try await client.execute(uri: "\(executions)/heartbeat", method: .post, headers: auth, body: wrongLease) {
                #expect($0.status == .conflict && H.json($0)["code"] == .string("workflows.lease_lost"))
            }
            let lines: JSONValue = .array([.object(["node": .string("start"), "message": .string("fetched 3 orders")])])
            try await client.execute(
                uri: "\(executions)/progress",
                method: .post,
                headers: auth,
                body: H.body(["lease": .string(lease), "lines": lines])
            ) {
                #expect($0.status == .noContent)
            }
            let tooLong = String(repeating: "x", count: 10_001)
            try await client.execute(
                uri: "\(executions)/finish",
                method: .post,
                headers: auth,
                body: H.body(["lease": .string(lease), "status": .string("success"), "metadata": .object(["order": .string(tooLong)])])
            ) { #expect($0.status == .unprocessableContent && H.json($0)["errors"]?.arrayValue?.first?["field"] == .string("metadata.order")) }
            let finished = try await client.execute(
                uri: "\(executions)/finish",
                method: .post,
                headers: auth,
                body: H.body([
                    "lease": .string(lease), "status": .string("success"), "result": .object(["synced": .number(3)]),
                    "metadata": .object(["customer": .string("acme"), "orders": .string("3")]),
                ])
            ) { H.json($0) }
            #expect(finished["status"] == .string("success") && finished["finished_at"]?.stringValue != nil)
            // The worker's reports are audited in their own transactions, by the key that made them.
            let audited = try await database.pool.query(
                "SELECT action, actor FROM strata.audit_log WHERE app = 'workflows' AND resource_type = 'execution' AND action IN ('claim', 'finish') ORDER BY id"
            ).map { try $0.decode((String, String).self) }
            #expect(audited.map(\.0) == ["claim", "finish"] && audited.allSatisfy { $0.1.hasPrefix("api_key:") })
            let metadata = try await client.execute(uri: "\(executions)/metadata", method: .get, headers: auth) { H.json($0) }
            #expect(metadata == ["metadata": .object(["customer": .string("acme"), "orders": .string("3")])])
            for (query, count) in [
                ("metadata_key=customer", 1), ("metadata_key=customer&metadata_value=acme", 1), ("metadata_key=customer&metadata_value=other", 0),
            ] {
                let page = try await client.execute(uri: "/api/workflows/executions?\(query)", method: .get, headers: auth) { H.json($0) }
                #expect(page["items"]?.arrayValue?.count == count, "\(query)")
            }
            try await client.execute(uri: "/api/workflows/executions?metadata_value=acme", method: .get, headers: auth) {
                #expect($0.status == .unprocessableContent)
            }
            // A finished execution takes no more reports.
            try await client.execute(
                uri: "\(executions)/finish",
                method: .post,
                headers: auth,
                body: H.body(["lease": .string(lease), "status": .string("failed")])
            ) { #expect($0.status == .conflict) }

            let data = try await client.execute(uri: "\(executions)/data", method: .get, headers: auth) { H.json($0) }
            #expect(data["result"] == .object(["synced": .number(3)]))
            let log = try await client.execute(uri: "\(executions)/logs", method: .get, headers: auth) { H.json($0) }
            #expect(log["items"]?.arrayValue?.first?["message"] == .string("fetched 3 orders"))
            let stats = try await client.execute(uri: "/api/workflows/workflows/\(workflow.id)/stats?days=1", method: .get, headers: auth) {
                H.json($0)
            }
            #expect(
                stats["total_executions"] == .number(1) && stats["successful_executions"] == .number(1) && stats["failed_executions"] == .number(0)
            )
            #expect(stats["avg_duration_ms"]?.numberValue != nil)
            for bad in ["abc", "0", "7;drop", "3651"] {
                try await client.execute(uri: "/api/workflows/workflows/\(workflow.id)/stats?days=\(bad)", method: .get, headers: auth) {
                    #expect($0.status == .unprocessableContent, "days=\(bad)")
                }
            }
            let counters = try await database.pool.query(
                "SELECT name, count FROM workflows.workflow_statistics WHERE workflow_id = \(workflow.id)"
            ).map { try $0.decode((String, Int64).self) }
            #expect(counters.map(\.0) == ["manual_success"] && counters.map(\.1) == [1])
        }
    }

    @Test(.timeLimit(.minutes(1)))
    func twoStartsWithOneDedupKeyRacingMakeOneExecution() async throws {
        try await withTestDatabase(lines: [try WorkflowsModule().migrationLine()]) { database in
            let workflow = try await Self.workflow(database.pool)
            let service = ExecutionService(pool: database.pool)
            let results = try await withThrowingTaskGroup(of: (Execution, Bool).self) { group in
                for _ in 0..<8 {
                    group.addTask { try await service.start(workflow: workflow.id, .init(dedupKey: "order-42"), by: .job("tester")) }
                }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            #expect(Set(results.map(\.0.id)).count == 1)
            #expect(results.filter(\.1).count == 1, "one start created it; the others found it")
            // Once it ended, the key starts a new one.
            let claimed = try await service.claim(worker: "w", limit: 1, lease: .seconds(30), by: .job("w", kind: "worker"))
            let first = try #require(claimed.first)
            _ = try await service.finish(first.execution.id, lease: first.lease, .init(status: .failed, error: "boom"), by: .job("w", kind: "worker"))
            let again = try await service.start(workflow: workflow.id, .init(dedupKey: "order-42"), by: .job("tester"))
            #expect(again.created && again.execution.id != first.execution.id)
        }
    }

    /// Lets the rescue run: leases that expired are handled as the module's service does.
    static func rescue(_ pool: PostgresPool) async throws {
        try await pool.withTransaction { connection in
            let rescued = try await JobQueue().rescueExpired(queues: [ExecutionService.queue], on: connection, logger: TestPostgres.logger)
            try await ExecutionService.rescueHandler(pool: pool)(rescued, connection, TestPostgres.logger)
        }
    }

    @Test(.timeLimit(.minutes(1)))
    func anExecutionWhoseWorkerIsLostCrashesOrIsRetriedAndASuccessfulRetryIsLinked() async throws {
        try await withTestDatabase(lines: [try WorkflowsModule().migrationLine()]) { database in
            let pool = database.pool
            let service = ExecutionService(pool: pool)
            let once = try await Self.workflow(pool, name: "no retries")
            let retried = try await Self.workflow(pool, settings: .init(retryOnCrash: 1), name: "one retry")
            let lost = try await service.start(workflow: once.id, .init(), by: .job("tester")).execution
            let lostToo = try await service.start(workflow: retried.id, .init(input: .object(["n": .number(1)])), by: .job("tester")).execution
            let claimed = try await service.claim(worker: "doomed", limit: 2, lease: .milliseconds(200), by: .job("doomed", kind: "worker"))
            #expect(claimed.count == 2)
            try await Task.sleep(for: .milliseconds(400))
            try await Self.rescue(pool)

            #expect(try await service.execution(lost.id).status == .crashed)
            #expect(try await service.execution(lostToo.id).status == .crashed)
            // A late report of the lost worker changes nothing.
            let late = try #require(claimed.first { $0.execution.id == lost.id })
            await #expect(throws: StrataError.self) {
                try await service.finish(lost.id, lease: late.lease, .init(status: .success), by: .job("w", kind: "worker"))
            }
            #expect(try await service.execution(lost.id).status == .crashed)

            let retries = try await service.list(workflow: retried.id, status: nil, limit: 10, cursor: nil).items.filter { $0.retryOf == lostToo.id }
            let retry = try #require(retries.first)
            #expect(retries.count == 1 && retry.mode == .retry && retry.status == .new)
            #expect(try await service.list(workflow: once.id, status: nil, limit: 10, cursor: nil).items.count == 1, "no retries allowed: none made")
            #expect(try await service.data(retry.id).input.value() == .object(["n": .number(1)]))

            // The retry is lost too: no retry is left, it stays Crashed.
            _ = try await service.claim(worker: "doomed-again", limit: 1, lease: .milliseconds(200), by: .job("doomed-again", kind: "worker"))
            try await Task.sleep(for: .milliseconds(400))
            try await Self.rescue(pool)
            #expect(try await service.execution(retry.id).status == .crashed)
            #expect(try await service.list(workflow: retried.id, status: nil, limit: 10, cursor: nil).items.count == 2)

            // A manual retry that succeeds is linked from the original.
            let manual = try await service.retry(lostToo.id, by: .job("tester"))
            let claim = try #require(
                try await service.claim(worker: "healthy", limit: 1, lease: .seconds(30), by: .job("healthy", kind: "worker")).first
            )
            #expect(claim.execution.id == manual.id)
            _ = try await service.finish(manual.id, lease: claim.lease, .init(status: .success), by: .job("w", kind: "worker"))
            #expect(try await service.execution(lostToo.id).retrySuccessID == manual.id)
            let stats = try await service.stats(workflow: retried.id, days: 1)
            #expect(stats.totalExecutions == 3 && stats.successfulExecutions == 1 && stats.failedExecutions == 0)
        }
    }

    @Test(.timeLimit(.minutes(1)))
    func cancellingIsImmediateForNewExecutionsAndCooperativeForRunningOnes() async throws {
        try await withTestDatabase(lines: [try WorkflowsModule().migrationLine()]) { database in
            let service = ExecutionService(pool: database.pool)
            let workflow = try await Self.workflow(database.pool)
            let waiting = try await service.start(workflow: workflow.id, .init(), by: .job("tester")).execution
            #expect(try await service.cancel(waiting.id, by: .job("tester")).status == .cancelled)
            #expect(
                try await service.claim(worker: "w", limit: 5, lease: .seconds(30), by: .job("w", kind: "worker")).isEmpty,
                "a cancelled execution is never started"
            )
            await #expect(throws: StrataError.self) { try await service.cancel(waiting.id, by: .job("tester")) }

            let running = try await service.start(workflow: workflow.id, .init(), by: .job("tester")).execution
            let claim = try #require(try await service.claim(worker: "w", limit: 1, lease: .seconds(30), by: .job("w", kind: "worker")).first)
            #expect(try await service.heartbeat(running.id, lease: claim.lease, extendBy: .seconds(30)) == false)
            let asked = try await service.cancel(running.id, by: .job("tester"))
            #expect(asked.status == .running && asked.cancelRequested)
            #expect(try await service.heartbeat(running.id, lease: claim.lease, extendBy: .seconds(30)) == true)
            #expect(
                try await service.finish(running.id, lease: claim.lease, .init(status: .cancelled), by: .job("w", kind: "worker")).status
                    == .cancelled
            )
        }
    }

    @Test(.timeLimit(.minutes(1)))
    func aWaitingExecutionIsClaimedAgainAtItsTime() async throws {
        try await withTestDatabase(lines: [try WorkflowsModule().migrationLine()]) { database in
            let service = ExecutionService(pool: database.pool)
            let workflow = try await Self.workflow(database.pool)
            let execution = try await service.start(workflow: workflow.id, .init(), by: .job("tester")).execution
            let claim = try #require(try await service.claim(worker: "w", limit: 1, lease: .seconds(30), by: .job("w", kind: "worker")).first)
            let waitTill = Date().addingTimeInterval(3)
            let waiting = try await service.finish(
                execution.id,
                lease: claim.lease,
                .init(status: .waiting, waitTill: waitTill),
                by: .job("w", kind: "worker")
            )
            #expect(waiting.status == .waiting && waiting.waitTill != nil)
            // Asked at once; on a loaded machine "at once" can already be past its time, when it
            // may be claimed (and then counts as the claim the loop waits for).
            var claimedAgain = try await service.claim(worker: "w", limit: 1, lease: .seconds(30), by: .job("w", kind: "worker")).first
            #expect(claimedAgain == nil || Date() >= waitTill, "not before its time")
            while claimedAgain == nil, Date() < waitTill.addingTimeInterval(20) {
                try await Task.sleep(for: .milliseconds(200))
                claimedAgain = try await service.claim(worker: "w", limit: 1, lease: .seconds(30), by: .job("w", kind: "worker")).first
            }
            let again = try #require(claimedAgain)
            #expect(Date() >= waitTill.addingTimeInterval(-0.01), "claimed at its time, not before")
            #expect(again.execution.id == execution.id && again.execution.status == .running && again.execution.waitTill == nil)
            #expect(
                try await service.finish(execution.id, lease: again.lease, .init(status: .success), by: .job("w", kind: "worker")).status == .success
            )
        }
    }

    @Test(.timeLimit(.minutes(2)))
    func theStatisticsEqualARawRecountForRandomWindowsAndPruningDoesNotChangeThem() async throws {
        try await withTestDatabase(lines: [try WorkflowsModule().migrationLine()]) { database in
            let pool = database.pool
            let service = ExecutionService(pool: pool)
            let workflow = try await Self.workflow(pool)
            var generator = SystemRandomNumberGenerator()
            for _ in 0..<60 {
                _ = try await service.start(workflow: workflow.id, .init(), by: .job("tester"))
            }
            let claims = try await service.claim(worker: "w", limit: 60, lease: .seconds(60), by: .job("w", kind: "worker"))
            #expect(claims.count == 60)
            for (index, claim) in claims.enumerated() {
                // Spread the starts over the last 40 days; the last 10 stay running.
                let hoursAgo = Int.random(in: 0...(40 * 24), using: &generator)
                try await pool.query(
                    "UPDATE workflows.execution_entity SET started_at = now() - make_interval(hours => \(Int32(hoursAgo))) WHERE id = \(claim.execution.id)"
                )
                if index >= 50 { continue }
                let end: ExecutionStatus = [.success, .failed, .cancelled].randomElement(using: &generator) ?? .success
                _ = try await service.finish(claim.execution.id, lease: claim.lease, .init(status: end), by: .job("w", kind: "worker"))
            }
            func recount(_ days: Int) async throws -> (Int64, Int64, Int64) {
                let row = try #require(
                    try await pool.query(
                        """
                        SELECT count(*), count(*) FILTER (WHERE status = 100), count(*) FILTER (WHERE status = 99)
                        FROM workflows.execution_entity
                        WHERE workflow_id = \(workflow.id)
                          AND coalesce(started_at, created_at) >= date_trunc('hour', now() - make_interval(days => \(Int32(days))), 'UTC')
                          AND (finished_at IS NOT NULL OR status IN (10, 11))
                        """
                    ).first
                )
                return try row.decode((Int64, Int64, Int64).self)
            }
            var before: [Int: ExecutionStats] = [:]
            for days in [1, 2, 3, 7, 10, 14, 21, 30, 41] + (0..<5).map({ _ in Int.random(in: 1...45, using: &generator) }) {
                let stats = try await service.stats(workflow: workflow.id, days: days)
                let (total, successful, failed) = try await recount(days)
                #expect(
                    stats.totalExecutions == total && stats.successfulExecutions == successful && stats.failedExecutions == failed,
                    "days=\(days)"
                )
                before[days] = stats
            }
            #expect(before[41]?.totalExecutions == 60)
            // Deleting ended executions (as pruning does) leaves past totals as they were.
            try await pool.query("DELETE FROM workflows.execution_entity WHERE workflow_id = \(workflow.id) AND finished_at IS NOT NULL")
            for (days, stats) in before {
                #expect(try await service.stats(workflow: workflow.id, days: days).totalExecutions == stats.totalExecutions)
            }
        }
    }
}

@Suite struct ExecutionLimitsTests {
    typealias H = WorkflowsHarness

    @Test(.timeLimit(.minutes(1)))
    func aWorkflowsConcurrencyLimitHoldsExtraExecutionsAndEndsReleaseThemOldestFirst() async throws {
        try await withTestDatabase(lines: [try WorkflowsModule().migrationLine()]) { database in
            let service = ExecutionService(pool: database.pool)
            let workflow = try await ExecutionTests.workflow(database.pool, settings: .init(maxConcurrency: 2))
            var started: [Execution] = []
            for _ in 0..<5 { started.append(try await service.start(workflow: workflow.id, .init(), by: .job("tester")).execution) }
            #expect(started.map(\.held) == [false, false, true, true, true])
            let first = try await service.claim(worker: "w", limit: 10, lease: .seconds(30), by: .job("w", kind: "worker"))
            #expect(first.map(\.execution.id) == Array(started.prefix(2)).map(\.id), "two run; three wait for a slot")

            _ = try await service.finish(first[0].execution.id, lease: first[0].lease, .init(status: .success), by: .job("w", kind: "worker"))
            let second = try await service.claim(worker: "w", limit: 10, lease: .seconds(30), by: .job("w", kind: "worker"))
            #expect(second.map(\.execution.id) == [started[2].id], "an end releases the oldest held one")

            // Cancelling a held execution frees nothing; cancelling a running one frees its slot
            // once it ends.
            #expect(try await service.cancel(started[3].id, by: .job("tester")).status == .cancelled)
            #expect(try await service.claim(worker: "w", limit: 10, lease: .seconds(30), by: .job("w", kind: "worker")).isEmpty)
            _ = try await service.finish(
                second[0].execution.id,
                lease: second[0].lease,
                .init(status: .failed, error: "x"),
                by: .job("w", kind: "worker")
            )
            let third = try await service.claim(worker: "w", limit: 10, lease: .seconds(30), by: .job("w", kind: "worker"))
            #expect(third.map(\.execution.id) == [started[4].id])
            let running = try await database.pool.query(
                "SELECT count(*) FROM workflows.execution_entity WHERE workflow_id = \(workflow.id) AND status = 10"
            ).first?.decode(Int64.self)
            #expect(running == 2)
        }
    }

    @Test(.timeLimit(.minutes(1)))
    func anExecutionsLogStreamsLiveResumesAfterLastEventIDAndEndsWithItsStatus() async throws {
        try await H.withApp { client, auth, database in
            let service = ExecutionService(pool: database.pool)
            let workflow = try await ExecutionTests.workflow(database.pool)
            let execution = try await service.start(workflow: workflow.id, .init(), by: .job("tester")).execution
            let claim = try #require(try await service.claim(worker: "w", limit: 1, lease: .seconds(30), by: .job("w", kind: "worker")).first)
            try await service.progress(execution.id, lease: claim.lease, lines: [(node: "start", message: "one"), (node: nil, message: "two")])
            let finisher = Task {
                try await Task.sleep(for: .milliseconds(600))
                try await service.progress(execution.id, lease: claim.lease, lines: [(node: "end", message: "three")])
                _ = try await service.finish(execution.id, lease: claim.lease, .init(status: .success), by: .job("w", kind: "worker"))
            }
            let path = "/api/workflows/executions/\(execution.id)/logs/stream"
            let body = try await client.execute(uri: path, method: .get, headers: auth) { response in
                #expect(response.status == .ok && response.headers[.contentType] == "text/event-stream")
                return String(buffer: response.body)
            }
            try await finisher.value
            #expect(body.contains("\"message\":\"one\"") && body.contains("\"message\":\"three\""))
            #expect(body.hasSuffix("event: end\ndata: {\"status\":\"success\"}\n\n"), "\(body)")
            let ids = body.split(separator: "\n").filter { $0.hasPrefix("id: ") }.compactMap { Int64($0.dropFirst(4)) }
            try #require(ids.count == 3, "\(body)")
            var resume = auth
            resume[.lastEventID] = "\(ids[0])"
            let resumed = try await client.execute(uri: path, method: .get, headers: resume) { String(buffer: $0.body) }
            #expect(!resumed.contains("\"message\":\"one\"") && resumed.contains("\"message\":\"two\"") && resumed.contains("event: end"))
            try await client.execute(uri: "/api/workflows/executions/\(UUID.v7())/logs/stream", method: .get, headers: auth) {
                #expect($0.status == .notFound)
            }
        }
    }
}
