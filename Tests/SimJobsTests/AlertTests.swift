import Foundation
import PostgresNIO
import StrataCore
import StrataEvents
import StrataHTTP
import StrataPostgres
import StrataSecurity
import StrataTestSupport
import Testing

@testable import SimJobs

@Suite struct AlertTests {
    @Test(.timeLimit(.minutes(1)))
    func rulesRaiseOnceResolveWhenTheyHoldAndWaitOutTheirCooldown() async throws {
        try await withTestDatabase(lines: [try SimJobsModule().migrationLine()]) { database in
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
                by: .job("tester")
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
        try await withTestDatabase(lines: [try SimJobsModule().migrationLine()]) { database in
            let pool = database.pool
            let evaluator = AlertEvaluator(pool: pool, diskPath: NSTemporaryDirectory())
            let service = AlertService(pool: pool)
            try await evaluator.evaluate()
            let alert = try #require(try await service.alerts(resolved: false, level: nil, limit: 1, cursor: nil).items.first)
            let resolved = try await service.resolve(alert.id, by: Caller(actor: "user:operator", name: "operator", requestID: "req-42"))
            #expect(resolved.isResolved && resolved.resolvedBy == "operator")
            #expect(
                try await service.resolve(alert.id, by: Caller(actor: "user:someone-else", name: "someone-else")).resolvedBy == "operator",
                "idempotent"
            )
            await #expect(throws: StrataError(.notFound, "")) { try await service.resolve(999_999, by: Caller(actor: "user:x", name: "x")) }
            let logged = try await SystemLog(pool: pool).list(.init(requestID: "req-42"), limit: 10, cursor: nil).items
            #expect(logged.count == 1 && logged[0].source == .api)

            let rule = try #require(try await service.rules().first { $0.name == "queue_backlog" })
            #expect(rule.value == 100 && rule.cooldownSeconds == 600)
            let tuned = try await service.updateRule(rule.id, .init(isEnabled: false, cooldownSeconds: 30, value: 5), by: .job("tester"))
            #expect(!tuned.isEnabled && tuned.cooldownSeconds == 30 && tuned.value == 5)
            await #expect(throws: StrataError(.validationFailed, "")) {
                try await service.updateRule(rule.id, .init(cooldownSeconds: -1), by: .job("tester"))
            }
        }
    }

    @Test(.timeLimit(.minutes(1)))
    func systemLogPagesWalkEveryEntryOnceEvenWithinOneTimestamp() async throws {
        try await withTestDatabase(lines: [try SimJobsModule().migrationLine()]) { database in
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

/// Alert notifications: rules name their channels; the webhook channel queues a signed delivery
/// in the alert's own transaction.
@Suite struct AlertNotificationTests {
    @Test(.timeLimit(.minutes(1)))
    func webhookChannelQueuesSignedDeliveriesForRaiseAndResolve() async throws {
        try await withTestDatabase(lines: [try SimJobsModule().migrationLine()]) { database in
            let pool = database.pool
            let secret = "alert-receiver-secret-0123"
            let notifier = try AlertNotifier(
                webhook: ("https://alerts.example.com/hook", secret),
                secrets: .ephemeral(),
                logger: TestPostgres.logger
            )
            let service = AlertService(pool: pool, notifier: notifier)
            let rules = try await service.rules()
            let offline = try #require(rules.first { $0.name == "worker_offline" })
            #expect(offline.notifyChannels == ["log"], "the default rules log")
            await #expect(throws: StrataError.self) {
                _ = try await service.updateRule(offline.id, .init(notifyChannels: ["pager"]), by: .job("tester"))
            }
            let updated = try await service.updateRule(offline.id, .init(notifyChannels: ["webhook", "log", "webhook"]), by: .job("tester"))
            #expect(updated.notifyChannels == ["log", "webhook"])

            let evaluator = AlertEvaluator(pool: pool, diskPath: NSTemporaryDirectory(), notifier: notifier)
            try await evaluator.evaluate()
            let queued = "SELECT args::text FROM strata.jobs WHERE queue = 'webhooks' ORDER BY id"
            var jobs = try await pool.query(PostgresQuery(unsafeSQL: queued)).map { try $0.decode(String.self) }
            #expect(jobs.count == 1, "only the rule asking for the webhook")
            let raised = try JSONValue(parsing: try #require(jobs.first))
            #expect(raised["type"] == .string("alert.raised") && raised["url"] == .string("https://alerts.example.com/hook"))
            #expect(raised["data"]?.stringValue?.contains("worker_offline") == true)
            #expect(!jobs[0].contains(secret), "the secret travels sealed")

            // A worker appears: the alert resolves and that is delivered too.
            try await pool.query(
                "INSERT INTO simjobs.workers (name, hostname, pid, gpus, heartbeat_seconds, started_at) VALUES ('w1', 'h', 1, '{0}', 60, now())"
            )
            try await evaluator.evaluate()
            jobs = try await pool.query(PostgresQuery(unsafeSQL: queued)).map { try $0.decode(String.self) }
            #expect(jobs.count == 2)
            let resolved = try JSONValue(parsing: try #require(jobs.last))
            #expect(resolved["type"] == .string("alert.resolved"))

            // Without a configured receiver the webhook channel is reported, not lost silently.
            try await pool.query("UPDATE simjobs.workers SET stopped_at = now()")
            try await pool.query("UPDATE simjobs.alert_rules SET last_triggered_at = NULL")
            try await AlertEvaluator(pool: pool, diskPath: NSTemporaryDirectory()).evaluate()
            let warned = try await pool.query(
                "SELECT count(*) FROM simjobs.system_logs WHERE level = 'WARNING' AND message LIKE '%SIMJOBS_ALERT_WEBHOOK_URL is not set%'"
            ).first?.decode(Int64.self)
            #expect(warned == 1)
        }
    }

    @Test func theAlertWebhookIsConfiguredWithItsSecretAndAPermittedURL() throws {
        let policy = OutboundAddressPolicy.publicOnly
        func read(_ variables: [String: String]) throws -> SimJobsModule.AlertWebhook? {
            try SimJobsModule.AlertWebhook(environment: EnvironmentReader(variables), outbound: policy)
        }
        #expect(try read([:]) == nil)
        #expect(
            try read(["SIMJOBS_ALERT_WEBHOOK_URL": "https://ops.example.com/a", "SIMJOBS_ALERT_WEBHOOK_SECRET": "0123456789abcdef"])?.url
                == "https://ops.example.com/a"
        )
        #expect(throws: StrataError.self) { try read(["SIMJOBS_ALERT_WEBHOOK_URL": "https://ops.example.com/a"]) }
        #expect(throws: StrataError.self) { try read(["SIMJOBS_ALERT_WEBHOOK_SECRET": "0123456789abcdef"]) }
        #expect(throws: StrataError.self) {
            try read(["SIMJOBS_ALERT_WEBHOOK_URL": "http://169.254.169.254/", "SIMJOBS_ALERT_WEBHOOK_SECRET": "0123456789abcdef"])
        }
    }
}
