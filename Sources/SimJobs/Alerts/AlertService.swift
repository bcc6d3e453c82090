public import Foundation
import Logging
import PostgresNIO
public import StrataCore
public import StrataPostgres

/// Reading alerts and rules, resolving alerts by hand, and changing rules.
public struct AlertService: Sendable {
    let pool: PostgresPool
    let logger: Logger

    /// Alert levels, most severe first.
    public static let levels = ["CRITICAL", "WARNING", "INFO"]

    public init(pool: PostgresPool) {
        self.pool = pool
        self.logger = pool.statementLogger
    }

    /// Alerts, newest first: all, only open (`resolved == false`) or only resolved.
    public func alerts(resolved: Bool?, level: String?, limit: Int, cursor: Cursor?) async throws -> Page<Alert> {
        let position = try NewestFirst<Int64>(after: cursor)
        let rows = try await pool.query(
            """
            SELECT \(unescaped: AlertEvaluator.columns), \(unescaped: NewestFirst<Int64>.positionColumn) FROM simjobs.alerts
            WHERE (\(resolved)::boolean IS NULL OR is_resolved = \(resolved))
              AND (\(level)::text IS NULL OR level = \(level))
              AND \(after: position)
            ORDER BY created_at DESC, id DESC
            LIMIT \(limit + 1)
            """
        )
        return try position.page(rows, limit: limit, item: AlertEvaluator.alert(from:), id: \.id)
    }

    /// Resolves an alert by hand; resolving a resolved alert changes nothing.
    /// - Throws: `not_found`.
    public func resolve(_ id: Int64, by resolver: String, requestID: String? = nil) async throws -> Alert {
        try await pool.withTransaction { connection in
            let rows = try await connection.query(
                "SELECT \(unescaped: AlertEvaluator.columns) FROM simjobs.alerts WHERE id = \(id) FOR UPDATE",
                logger: logger
            ).collect()
            guard let row = rows.first else { throw StrataError(.notFound, "No alert has this id.") }
            let alert = try AlertEvaluator.alert(from: row)
            guard !alert.isResolved else { return alert }
            let evaluator = AlertEvaluator(pool: pool, diskPath: "/")
            try await evaluator.resolve(id, createdAt: alert.createdAt, by: resolver, reason: "by hand", requestID: requestID, on: connection)
            let updated = try await connection.query(
                "SELECT \(unescaped: AlertEvaluator.columns) FROM simjobs.alerts WHERE id = \(id) AND created_at = \(alert.createdAt)",
                logger: logger
            ).collect()
            return try AlertEvaluator.alert(from: updated[0])
        }
    }

    /// Every rule, by name.
    public func rules() async throws -> [AlertRule] {
        try await pool.query("SELECT \(unescaped: Self.ruleColumns) FROM simjobs.alert_rules ORDER BY name").map(Self.rule(from:))
    }

    /// What a rule update may change.
    public struct RuleUpdate: Sendable, Decodable {
        public var isEnabled: Bool?
        public var cooldownSeconds: Int?
        public var value: Double?

        enum CodingKeys: String, CodingKey {
            case value
            case isEnabled = "is_enabled"
            case cooldownSeconds = "cooldown_seconds"
        }
    }

    /// Enables or disables a rule, or changes its cooldown or threshold.
    /// - Throws: `validation_failed`, `not_found`.
    public func updateRule(_ id: UUID, _ update: RuleUpdate, audit: AuditTrail) async throws -> AlertRule {
        var errors: [StrataError.FieldError] = []
        if let cooldown = update.cooldownSeconds, !(0...604_800).contains(cooldown) {
            errors.append(.init(field: "cooldown_seconds", reason: "must be 0 to 604800"))
        }
        if let value = update.value, !value.isFinite { errors.append(.init(field: "value", reason: "must be a finite number")) }
        guard errors.isEmpty else { throw StrataError.validation(errors) }
        return try await pool.withTransaction { connection in
            let rows = try await connection.query(
                """
                UPDATE simjobs.alert_rules
                SET is_enabled = coalesce(\(update.isEnabled), is_enabled),
                    cooldown_seconds = coalesce(\(update.cooldownSeconds.map(Int32.init)), cooldown_seconds),
                    condition = CASE WHEN \(update.value)::float8 IS NULL THEN condition
                                     ELSE jsonb_set(condition, '{value}', to_jsonb(\(update.value)::float8)) END
                WHERE id = \(id)
                RETURNING \(unescaped: Self.ruleColumns)
                """,
                logger: logger
            ).collect()
            guard let row = rows.first else { throw StrataError(.notFound, "No alert rule has this id.") }
            try await audit.record(
                AuditRecord(app: "simjobs", actor: nil, action: "update", resourceType: "alert_rule", resourceID: id.uuidString, responseStatus: 200),
                on: connection,
                logger: logger
            )
            return try Self.rule(from: row)
        }
    }

    static let ruleColumns = """
        id, name, rule_type, level, condition ->> 'metric', condition ->> 'op', (condition ->> 'value')::float8,
        cooldown_seconds, is_enabled, last_triggered_at
        """

    static func rule(from row: PostgresRow) throws -> AlertRule {
        let (id, name, type, level, metric, op, value, cooldown, enabled, last) = try row.decode(
            (UUID, String, String, String, String, String, Double, Int32, Bool, Date?).self
        )
        return AlertRule(
            id: id,
            name: name,
            ruleType: type,
            level: level,
            metric: metric,
            op: op,
            value: value,
            cooldownSeconds: Int(cooldown),
            isEnabled: enabled,
            lastTriggeredAt: last
        )
    }
}
