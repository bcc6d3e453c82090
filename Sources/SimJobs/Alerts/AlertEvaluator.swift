public import Foundation
import Logging
import PostgresNIO
public import StrataCore
public import StrataPostgres

#if canImport(Glibc)
import Glibc
#endif

/// An alert raised by a rule.
public struct Alert: Sendable, Encodable, Equatable {
    public var id: Int64
    public var ruleID: UUID?
    public var level: String
    public var message: String
    public var details: JSONValue
    public var isResolved: Bool
    public var resolvedAt: Date?
    public var resolvedBy: String?
    public var createdAt: Date

    enum CodingKeys: String, CodingKey {
        case id, level, message, details
        case ruleID = "rule_id"
        case isResolved = "is_resolved"
        case resolvedAt = "resolved_at"
        case resolvedBy = "resolved_by"
        case createdAt = "created_at"
    }
}

/// A rule: `metric op value`, checked every evaluation.
public struct AlertRule: Sendable, Encodable, Equatable {
    public var id: UUID
    public var name: String
    public var ruleType: String
    public var level: String
    public var metric: String
    public var op: String
    public var value: Double
    public var cooldownSeconds: Int
    public var isEnabled: Bool
    public var lastTriggeredAt: Date?
    /// Where its alerts are sent (``AlertNotifier/channels``).
    public var notifyChannels: [String]

    enum CodingKeys: String, CodingKey {
        case id, name, level, metric, op, value
        case notifyChannels = "notify_channels"
        case ruleType = "rule_type"
        case cooldownSeconds = "cooldown_seconds"
        case isEnabled = "is_enabled"
        case lastTriggeredAt = "last_triggered_at"
    }

    /// Whether `measured` breaks the rule.
    func isBroken(by measured: Double) -> Bool {
        switch op {
        case "<": measured < value
        case "<=": measured <= value
        case ">": measured > value
        case ">=": measured >= value
        default: measured == value
        }
    }
}

/// Evaluates the alert rules against the task server's measurements, raising an alert when a
/// rule breaks (unless one is open for it, or the rule fired within its cooldown) and resolving
/// it when the rule holds again. Runs every 30 s on the platform queue (one evaluation per slot
/// across servers), the rules locked for the evaluation. Each raise and resolve commits with its
/// outbox event (`alert.raised`, `alert.resolved`) and a system log entry.
///
/// Measurements: `queue_length` (QUEUED tasks), `active_workers` (online workers),
/// `available_gpus` (free GPUs of online workers), `consecutive_failures` (FAILED tasks since
/// the last COMPLETED one), `disk_free_gb` (the file system of `diskPath`),
/// `min_gpu_free_memory_gb` and `max_gpu_temp` (over the GPUs of online workers whose probe
/// read them within three heartbeats). A rule without a measurement (no probe readings) is
/// skipped, never fired.
public struct AlertEvaluator: Sendable {
    let pool: PostgresPool
    let alerts: AlertService
    let diskPath: String
    let logger: Logger

    public static let kind = "simjobs.alerts.evaluate"

    public init(pool: PostgresPool, diskPath: String, notifier: AlertNotifier? = nil) {
        self.pool = pool
        self.alerts = AlertService(pool: pool, notifier: notifier)
        self.diskPath = diskPath
        self.logger = pool.statementLogger
    }

    /// Every 30 seconds on the app's maintenance queue.
    public static let schedule = JobSchedule(
        name: kind,
        every: .seconds(30),
        job: NewJob(queue: SimJobsRetention.queue, kind: kind, priority: 1)
    )

    /// The job handler: one evaluation.
    public static func handler(pool: PostgresPool, diskPath: String, notifier: AlertNotifier? = nil) -> JobHandler {
        { _ in
            let (raised, resolved) = try await AlertEvaluator(pool: pool, diskPath: diskPath, notifier: notifier).evaluate()
            return #"{"raised":\#(raised),"resolved":\#(resolved)}"#
        }
    }

    /// The current measurements by metric name.
    public func measurements() async throws -> [String: Double] {
        var values = try await alerts.store.measurements()
        guard !values.isEmpty else { return [:] }
        var status = statvfs()
        if statvfs(diskPath, &status) == 0 {
            values["disk_free_gb"] = Double(status.f_bavail) * Double(status.f_frsize) / 1_073_741_824
        }
        return values
    }

    /// One evaluation of every enabled rule.
    /// - Returns: How many alerts were raised and resolved.
    @discardableResult
    public func evaluate() async throws -> (raised: Int, resolved: Int) {
        let values = try await measurements()
        return try await pool.withTransaction { connection in
            let rules = try await alerts.store.lockEnabledRules(on: connection, logger: logger)
            var raised = 0
            var resolved = 0
            for (rule, cooledDown, hasOpenAlert) in rules {
                guard let measured = values[rule.metric] else { continue }
                if rule.isBroken(by: measured) {
                    guard !hasOpenAlert, cooledDown else { continue }
                    try await raise(rule, measured: measured, on: connection)
                    raised += 1
                } else if hasOpenAlert {
                    resolved += try await alerts.resolveOpen(of: rule.id, reason: "\(rule.metric) = \(Self.format(measured))", on: connection)
                }
            }
            return (raised, resolved)
        }
    }

    private func raise(_ rule: AlertRule, measured: Double, on connection: PostgresConnection) async throws {
        let message = "\(rule.name): \(rule.metric) is \(Self.format(measured)) (rule: \(rule.op) \(Self.format(rule.value)))"
        let details: JSONValue = .object([
            "metric": .string(rule.metric), "value": .number(measured), "op": .string(rule.op), "threshold": .number(rule.value),
        ])
        let alert = try await alerts.store.raise(rule, message: message, details: details, on: connection, logger: logger)
        let event = try AlertService.event(alert, kind: "alert.raised")
        let notifications = try await alerts.notifier.notify(
            alert,
            event: event,
            channels: rule.notifyChannels,
            on: connection,
            statementLogger: logger
        )
        try await ChangeLog.record(Change(events: [event], jobs: notifications), by: .job(), on: connection, logger: logger)
        try await SystemLog.write(
            rule.level,
            .scheduler,
            "Alert raised: \(message)",
            loggerName: "simjobs.alerts",
            extra: details,
            on: connection,
            logger: logger
        )
    }

    static func format(_ value: Double) -> String {
        value.rounded() == value && abs(value) < 1e15 ? String(Int64(value)) : String(format: "%.2f", value)
    }
}
