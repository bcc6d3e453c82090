import Foundation
import Logging
import PostgresNIO
import StrataCore
import StrataPostgres

/// The SQL of `simjobs.alerts` and `simjobs.alert_rules`, and the measurements the rules are
/// evaluated against: plain reads on the pool, changes on the connection of the caller's
/// transaction; rows decoded by column name.
struct AlertStore: Sendable {
    let pool: PostgresPool

    static let alertColumns = "id, rule_id, level, message, details::text AS details, is_resolved, resolved_at, resolved_by, created_at"

    static func alert(from row: PostgresRow) throws -> Alert {
        let columns = row.makeRandomAccess()
        return Alert(
            id: try columns["id"].decode(Int64.self),
            ruleID: try columns["rule_id"].decode(UUID?.self),
            level: try columns["level"].decode(String.self),
            message: try columns["message"].decode(String.self),
            details: try JSONValue(parsing: columns["details"].decode(String.self)),
            isResolved: try columns["is_resolved"].decode(Bool.self),
            resolvedAt: try columns["resolved_at"].decode(Date?.self),
            resolvedBy: try columns["resolved_by"].decode(String?.self),
            createdAt: try columns["created_at"].decode(Date.self)
        )
    }

    static let ruleColumns = """
        id, name, rule_type, level, condition ->> 'metric' AS metric, condition ->> 'op' AS op,
        (condition ->> 'value')::float8 AS value, cooldown_seconds, is_enabled, last_triggered_at, notify_channels
        """

    static func rule(from row: PostgresRow) throws -> AlertRule {
        let columns = row.makeRandomAccess()
        return AlertRule(
            id: try columns["id"].decode(UUID.self),
            name: try columns["name"].decode(String.self),
            ruleType: try columns["rule_type"].decode(String.self),
            level: try columns["level"].decode(String.self),
            metric: try columns["metric"].decode(String.self),
            op: try columns["op"].decode(String.self),
            value: try columns["value"].decode(Double.self),
            cooldownSeconds: Int(try columns["cooldown_seconds"].decode(Int32.self)),
            isEnabled: try columns["is_enabled"].decode(Bool.self),
            lastTriggeredAt: try columns["last_triggered_at"].decode(Date?.self),
            notifyChannels: try columns["notify_channels"].decode([String].self)
        )
    }

    // MARK: Alerts

    /// Alerts, newest first: all, only open (`resolved == false`) or only resolved.
    func alerts(resolved: Bool?, level: String?, limit: Int, cursor: Cursor?) async throws -> Page<Alert> {
        let position = try NewestFirst<Int64>(after: cursor)
        let rows = try await pool.query(
            """
            SELECT \(unescaped: Self.alertColumns), \(unescaped: NewestFirst<Int64>.positionColumn) FROM simjobs.alerts
            WHERE (\(resolved)::boolean IS NULL OR is_resolved = \(resolved))
              AND (\(level)::text IS NULL OR level = \(level))
              AND \(after: position)
            ORDER BY created_at DESC, id DESC
            LIMIT \(limit + 1)
            """
        )
        return try position.page(rows, limit: limit, item: Self.alert(from:), id: \.id)
    }

    /// Resolves an open alert; `nil` when it is resolved already or missing.
    func resolve(_ id: Int64, by resolver: String, on connection: PostgresConnection, logger: Logger) async throws -> Alert? {
        try await connection.run(
            """
            UPDATE simjobs.alerts SET is_resolved = true, resolved_at = now(), resolved_by = \(resolver)
            WHERE id = \(id) AND NOT is_resolved
            RETURNING \(unescaped: Self.alertColumns)
            """,
            logger: logger
        ).collect().first.map(Self.alert(from:))
    }

    /// One alert, or `nil`.
    func find(_ id: Int64, on connection: PostgresConnection, logger: Logger) async throws -> Alert? {
        try await connection.run("SELECT \(unescaped: Self.alertColumns) FROM simjobs.alerts WHERE id = \(id)", logger: logger)
            .collect().first.map(Self.alert(from:))
    }

    /// Resolves the open alerts of a rule, by the system.
    func resolveOpen(of ruleID: UUID, on connection: PostgresConnection, logger: Logger) async throws -> [Alert] {
        try await connection.run(
            """
            UPDATE simjobs.alerts SET is_resolved = true, resolved_at = now(), resolved_by = 'system'
            WHERE rule_id = \(ruleID) AND NOT is_resolved
            RETURNING \(unescaped: Self.alertColumns)
            """,
            logger: logger
        ).collect().map(Self.alert(from:))
    }

    /// Raises an alert of `rule` and stamps the rule's last trigger.
    func raise(_ rule: AlertRule, message: String, details: JSONValue, on connection: PostgresConnection, logger: Logger) async throws -> Alert {
        let rows = try await connection.run(
            """
            WITH triggered AS (UPDATE simjobs.alert_rules SET last_triggered_at = now() WHERE id = \(rule.id))
            INSERT INTO simjobs.alerts (rule_id, level, message, details) VALUES (\(rule.id), \(rule.level), \(message), \(details.text)::jsonb)
            RETURNING \(unescaped: Self.alertColumns)
            """,
            logger: logger
        ).collect()
        return try Self.alert(from: rows[0])
    }

    // MARK: Rules

    /// Every rule, by name.
    func rules() async throws -> [AlertRule] {
        try await pool.query("SELECT \(unescaped: Self.ruleColumns) FROM simjobs.alert_rules ORDER BY name").map(Self.rule(from:))
    }

    /// A rule's notification channels (none when it is gone).
    func channels(of ruleID: UUID, on connection: PostgresConnection, logger: Logger) async throws -> [String] {
        try await connection.run("SELECT notify_channels FROM simjobs.alert_rules WHERE id = \(ruleID)", logger: logger)
            .collect().first?.makeRandomAccess()["notify_channels"].decode([String].self) ?? []
    }

    /// Changes a rule; `nil` when there is no such rule.
    func updateRule(_ id: UUID, _ update: AlertService.RuleUpdate, on connection: PostgresConnection, logger: Logger) async throws -> AlertRule? {
        try await connection.run(
            """
            UPDATE simjobs.alert_rules
            SET is_enabled = coalesce(\(update.isEnabled), is_enabled),
                cooldown_seconds = coalesce(\(update.cooldownSeconds.map(Int32.init)), cooldown_seconds),
                notify_channels = coalesce(\(update.notifyChannels.map { Array(Set($0)).sorted() }), notify_channels),
                condition = CASE WHEN \(update.value)::float8 IS NULL THEN condition
                                 ELSE jsonb_set(condition, '{value}', to_jsonb(\(update.value)::float8)) END
            WHERE id = \(id)
            RETURNING \(unescaped: Self.ruleColumns)
            """,
            logger: logger
        ).collect().first.map(Self.rule(from:))
    }

    /// The enabled rules, locked for one evaluation, each with whether its cooldown has passed
    /// and whether it has an open alert.
    func lockEnabledRules(
        on connection: PostgresConnection,
        logger: Logger
    ) async throws
        -> [(rule: AlertRule, cooledDown: Bool, hasOpenAlert: Bool)]
    {
        let rows = try await connection.run(
            """
            SELECT \(unescaped: Self.ruleColumns),
                   last_triggered_at IS NULL OR last_triggered_at <= now() - cooldown_seconds * interval '1 second' AS cooled_down,
                   EXISTS (SELECT 1 FROM simjobs.alerts AS a WHERE a.rule_id = r.id AND NOT a.is_resolved) AS has_open_alert
            FROM simjobs.alert_rules AS r
            WHERE is_enabled
            ORDER BY name
            FOR UPDATE
            """,
            logger: logger
        ).collect()
        return try rows.map { row in
            let columns = row.makeRandomAccess()
            return (try Self.rule(from: row), try columns["cooled_down"].decode(Bool.self), try columns["has_open_alert"].decode(Bool.self))
        }
    }

    // MARK: Measurements

    /// The measurements of the database's own metrics (the queue, the workers, their GPUs).
    func measurements() async throws -> [String: Double] {
        guard
            let row = try await pool.query(
                """
                WITH online AS (SELECT * FROM simjobs.online_workers),
                readings AS (
                    SELECT r.* FROM online AS w
                    CROSS JOIN LATERAL jsonb_to_recordset(w.gpu_readings) AS r(memory_free_mb float8, temperature_c float8)
                    WHERE w.gpu_readings_at > now() - 3 * w.heartbeat_seconds * interval '1 second'
                )
                SELECT (SELECT count(*) FROM simjobs.tasks WHERE status = 'QUEUED') AS queue_length,
                       (SELECT count(*) FROM online) AS active_workers,
                       (SELECT coalesce(sum(cardinality(gpus) - cardinality(busy_gpus)), 0) FROM online) AS available_gpus,
                       (SELECT count(*) FROM simjobs.tasks
                        WHERE status = 'FAILED'
                          AND finished_at > coalesce((SELECT max(finished_at) FROM simjobs.tasks WHERE status = 'COMPLETED'), '-infinity'))
                         AS consecutive_failures,
                       (SELECT min(memory_free_mb) / 1024 FROM readings) AS min_gpu_free_memory_gb,
                       (SELECT max(temperature_c) FROM readings) AS max_gpu_temp
                """
            ).first?.makeRandomAccess()
        else { return [:] }
        var values: [String: Double] = [
            "queue_length": Double(try row["queue_length"].decode(Int64.self)),
            "active_workers": Double(try row["active_workers"].decode(Int64.self)),
            "available_gpus": Double(try row["available_gpus"].decode(Int64.self)),
            "consecutive_failures": Double(try row["consecutive_failures"].decode(Int64.self)),
        ]
        values["min_gpu_free_memory_gb"] = try row["min_gpu_free_memory_gb"].decode(Double?.self)
        values["max_gpu_temp"] = try row["max_gpu_temp"].decode(Double?.self)
        return values
    }
}
