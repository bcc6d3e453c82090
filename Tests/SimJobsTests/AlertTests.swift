import Foundation
import PostgresNIO
import StrataCore
import StrataPostgres
import StrataTestSupport
import Testing

@testable import SimJobs

@Suite struct AlertTests {
    @Test(.timeLimit(.minutes(1)))
    func rulesRaiseOnceResolveWhenTheyHoldAndWaitOutTheirCooldown() async throws {
        try await withTestDatabase { database in
            let pool = database.pool
            let evaluator = AlertEvaluator(pool: pool, diskPath: NSTemporaryDirectory())
            let service = AlertService(pool: pool)

            // No worker at all: worker_offline and gpu_unavailable fire; the rest hold.
            let measured = try await evaluator.measurements()
            #expect(measured["active_workers"] == 0 && measured["available_gpus"] == 0 && measured["queue_length"] == 0)
            #expect((measured["disk_free_gb"] ?? -1) >= 0)
            let first = try await evaluator.evaluate()
            let open = try await service.alerts(resolved: false, level: nil, limit: 50, cursor: nil).items
            #expect(Set(open.map { $0.message.components(separatedBy: ":")[0] }).isSuperset(of: ["worker_offline", "gpu_unavailable"]))
            #expect(first.raised == open.count)
            #expect(try await evaluator.evaluate() == (0, 0), "an open alert is not raised again")

            // A worker comes online with a free GPU: both resolve.
            try await pool.query(
                """
                INSERT INTO simjobs.workers (name, hostname, pid, gpus, heartbeat_seconds, started_at)
                VALUES ('w1', 'host', 42, '{0,1}', 10, now())
                """
            )
            let second = try await evaluator.evaluate()
            #expect(second.resolved >= 2)
            let resolved = try await service.alerts(resolved: true, level: "CRITICAL", limit: 50, cursor: nil).items
            #expect(resolved.count == 2 && resolved.allSatisfy { $0.resolvedBy == "system" && $0.resolvedAt != nil })

            // It goes away again: worker_offline's 60 s cooldown keeps it quiet…
            try await pool.query("UPDATE simjobs.workers SET stopped_at = now()")
            #expect(try await evaluator.evaluate().raised == 0)
            // …until the cooldown has passed.
            try await pool.query("UPDATE simjobs.alert_rules SET last_triggered_at = now() - interval '1 hour'")
            #expect(try await evaluator.evaluate().raised == 2)

            // Consecutive failures: six FAILED tasks since the last COMPLETED one (rule: > 5).
            let tasks = try await TaskService(pool: pool).submit(
                (0..<6).map { _ in TaskService.Submission(modelName: "mace-mp-0-medium", structureName: "MOF-5") },
                type: .optimization,
                audit: AuditTrail(),
                requestID: nil
            )
            try await pool.query(
                "UPDATE simjobs.tasks SET status = 'FAILED', finished_at = now() WHERE id = ANY(\(tasks.map(\.id)))"
            )
            #expect(try await evaluator.measurements()["consecutive_failures"] == 6)
            let afterFailures = try await evaluator.evaluate()
            let now = try await evaluator.measurements()
            #expect(afterFailures.raised == 1, "\(afterFailures) \(now)")

            let events = try await pool.query("SELECT kind, count(*) FROM strata.outbox WHERE aggregate_type = 'alert' GROUP BY kind ORDER BY kind")
                .map { try $0.decode((String, Int64).self) }
            #expect(events.map(\.0) == ["alert.raised", "alert.resolved"])
            let logs = try await SystemLog(pool: pool).list(.init(source: .scheduler), limit: 100, cursor: nil).items
            #expect(logs.count == events.map(\.1).reduce(0, +), "one system log entry per raise and resolve")
        }
    }

    @Test(.timeLimit(.minutes(1)))
    func anAlertResolvedByHandIsRecordedWithTheResolverAndRequestAndRulesCanBeTuned() async throws {
        try await withTestDatabase { database in
            let pool = database.pool
            let evaluator = AlertEvaluator(pool: pool, diskPath: NSTemporaryDirectory())
            let service = AlertService(pool: pool)
            try await evaluator.evaluate()
            let alert = try #require(try await service.alerts(resolved: false, level: nil, limit: 1, cursor: nil).items.first)
            let resolved = try await service.resolve(alert.id, by: "operator", requestID: "req-42")
            #expect(resolved.isResolved && resolved.resolvedBy == "operator")
            #expect(try await service.resolve(alert.id, by: "someone-else").resolvedBy == "operator", "idempotent")
            await #expect(throws: StrataError(.notFound, "")) { try await service.resolve(999_999, by: "x") }
            let logged = try await SystemLog(pool: pool).list(.init(requestID: "req-42"), limit: 10, cursor: nil).items
            #expect(logged.count == 1 && logged[0].source == .api)

            let rule = try #require(try await service.rules().first { $0.name == "queue_backlog" })
            #expect(rule.value == 100 && rule.cooldownSeconds == 600)
            let tuned = try await service.updateRule(rule.id, .init(isEnabled: false, cooldownSeconds: 30, value: 5), audit: AuditTrail())
            #expect(!tuned.isEnabled && tuned.cooldownSeconds == 30 && tuned.value == 5)
            await #expect(throws: StrataError(.validationFailed, "")) {
                try await service.updateRule(rule.id, .init(cooldownSeconds: -1), audit: AuditTrail())
            }
        }
    }

    @Test(.timeLimit(.minutes(1)))
    func systemLogPagesWalkEveryEntryOnceEvenWithinOneTimestamp() async throws {
        try await withTestDatabase { database in
            // One transaction: seven entries with one created_at; the bigint id decides.
            try await database.pool.withTransaction { connection in
                for index in 0..<7 {
                    try await SystemLog.write("INFO", .system, "entry \(index)", on: connection, logger: database.pool.statementLogger)
                }
            }
            var seen: [Int64] = []
            var cursor: Cursor?
            repeat {
                let page = try await SystemLog(pool: database.pool).list(.init(), limit: 2, cursor: cursor)
                seen += page.items.map(\.id)
                cursor = try page.nextCursor.map { try Cursor(decoding: $0) }
            } while cursor != nil && seen.count < 20
            #expect(seen.count == 7 && Set(seen).count == 7 && seen == seen.sorted(by: >))
            await #expect(throws: StrataError(.validationFailed, "")) {
                try await SystemLog(pool: database.pool).list(.init(), limit: 2, cursor: Cursor(values: ["1", "not-an-id"]))
            }
        }
    }
}
