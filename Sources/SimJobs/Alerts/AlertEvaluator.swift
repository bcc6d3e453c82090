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

    enum CodingKeys: String, CodingKey {
        case id, name, level, metric, op, value
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
/// the last COMPLETED one), `disk_free_gb` (the file system of `diskPath`). The GPU memory and
/// temperature rules have no measurement until workers report them; a rule without a
/// measurement is skipped, never fired.
public struct AlertEvaluator: Sendable {
    let pool: PostgresPool
    let diskPath: String
    let logger: Logger
    let outbox = OutboxWriter()

    public static let kind = "simjobs.alerts.evaluate"

    public init(pool: PostgresPool, diskPath: String) {
        self.pool = pool
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
    public static func handler(pool: PostgresPool, diskPath: String) -> JobHandler {
        { _ in
            let (raised, resolved) = try await AlertEvaluator(pool: pool, diskPath: diskPath).evaluate()
            return #"{"raised":\#(raised),"resolved":\#(resolved)}"#
        }
    }

    /// The current measurements by metric name.
    public func measurements() async throws -> [String: Double] {
        let row = try await pool.query(
            """
            WITH online AS (
                SELECT * FROM simjobs.workers
                WHERE stopped_at IS NULL AND last_seen_at > now() - 3 * heartbeat_seconds * interval '1 second'
            )
            SELECT (SELECT count(*) FROM simjobs.tasks WHERE status = 'QUEUED'),
                   (SELECT count(*) FROM online),
                   (SELECT coalesce(sum(cardinality(gpus) - cardinality(busy_gpus)), 0) FROM online),
                   (SELECT count(*) FROM simjobs.tasks
                    WHERE status = 'FAILED'
                      AND finished_at > coalesce((SELECT max(finished_at) FROM simjobs.tasks WHERE status = 'COMPLETED'), '-infinity'))
            """
        ).first
        guard let (queued, workers, gpus, failures) = try row?.decode((Int64, Int64, Int64, Int64).self) else { return [:] }
        var values: [String: Double] = [
            "queue_length": Double(queued),
            "active_workers": Double(workers),
            "available_gpus": Double(gpus),
            "consecutive_failures": Double(failures),
        ]
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
            let rows = try await connection.query(
                """
                SELECT r.id, r.name, r.level, r.condition ->> 'metric', r.condition ->> 'op', (r.condition ->> 'value')::float8,
                       r.cooldown_seconds, r.last_triggered_at IS NULL OR r.last_triggered_at <= now() - r.cooldown_seconds * interval '1 second',
                       a.id, a.created_at
                FROM simjobs.alert_rules AS r
                LEFT JOIN LATERAL (
                    SELECT id, created_at FROM simjobs.alerts WHERE rule_id = r.id AND NOT is_resolved ORDER BY created_at DESC LIMIT 1
                ) AS a ON true
                WHERE r.is_enabled
                ORDER BY r.name
                FOR UPDATE OF r
                """,
                logger: logger
            ).collect()
            var raised = 0
            var resolved = 0
            for row in rows {
                let (ruleID, name, level, metric, op, threshold, _, cooledDown, openID, openCreated) = try row.decode(
                    (UUID, String, String, String, String, Double, Int32, Bool, Int64?, Date?).self
                )
                guard let measured = values[metric] else { continue }
                let rule = AlertRule(
                    id: ruleID,
                    name: name,
                    ruleType: "",
                    level: level,
                    metric: metric,
                    op: op,
                    value: threshold,
                    cooldownSeconds: 0,
                    isEnabled: true,
                    lastTriggeredAt: nil
                )
                if rule.isBroken(by: measured) {
                    guard openID == nil, cooledDown else { continue }
                    try await raise(rule, measured: measured, on: connection)
                    raised += 1
                } else if let openID, let openCreated {
                    try await resolve(openID, createdAt: openCreated, by: "system", reason: "\(metric) = \(Self.format(measured))", on: connection)
                    resolved += 1
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
        let rows = try await connection.query(
            """
            INSERT INTO simjobs.alerts (rule_id, level, message, details) VALUES (\(rule.id), \(rule.level), \(message), \(details.text)::jsonb)
            RETURNING \(unescaped: Self.columns)
            """,
            logger: logger
        ).collect()
        try await connection.query("UPDATE simjobs.alert_rules SET last_triggered_at = now() WHERE id = \(rule.id)", logger: logger)
        let alert = try Self.alert(from: rows[0])
        try await outbox.append([try Self.event(alert, kind: "alert.raised")], on: connection, logger: logger)
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

    /// Resolves an open alert (in the caller's transaction).
    func resolve(
        _ id: Int64,
        createdAt: Date,
        by resolver: String,
        reason: String,
        requestID: String? = nil,
        on connection: PostgresConnection
    ) async throws {
        let rows = try await connection.query(
            """
            UPDATE simjobs.alerts SET is_resolved = true, resolved_at = now(), resolved_by = \(resolver)
            WHERE id = \(id) AND created_at = \(createdAt) AND NOT is_resolved
            RETURNING \(unescaped: Self.columns)
            """,
            logger: logger
        ).collect()
        guard let row = rows.first else { return }
        let alert = try Self.alert(from: row)
        try await outbox.append([try Self.event(alert, kind: "alert.resolved")], on: connection, logger: logger)
        try await SystemLog.write(
            "INFO",
            resolver == "system" ? .scheduler : .api,
            "Alert resolved by \(resolver): \(alert.message) (\(reason))",
            loggerName: "simjobs.alerts",
            requestID: requestID,
            on: connection,
            logger: logger
        )
    }

    static let columns = "id, rule_id, level, message, details::text, is_resolved, resolved_at, resolved_by, created_at"

    static func alert(from row: PostgresRow) throws -> Alert {
        let (id, rule, level, message, details, resolved, resolvedAt, resolvedBy, created) = try row.decode(
            (Int64, UUID?, String, String, String, Bool, Date?, String?, Date).self
        )
        return Alert(
            id: id,
            ruleID: rule,
            level: level,
            message: message,
            details: try JSONValue(parsing: details),
            isResolved: resolved,
            resolvedAt: resolvedAt,
            resolvedBy: resolvedBy,
            createdAt: created
        )
    }

    static func event(_ alert: Alert, kind: String) throws -> OutboxEvent {
        try OutboxEvent(app: "simjobs", aggregateType: "alert", aggregateID: "\(alert.id)", kind: kind, payload: alert)
    }

    static func format(_ value: Double) -> String {
        value.rounded() == value && abs(value) < 1e15 ? String(Int64(value)) : String(format: "%.2f", value)
    }
}
