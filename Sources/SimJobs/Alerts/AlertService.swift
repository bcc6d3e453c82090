public import Foundation
import Logging
import PostgresNIO
public import StrataCore
public import StrataPostgres

/// Reading alerts and rules, resolving alerts by hand, and changing rules.
public struct AlertService: Sendable {
    let pool: PostgresPool
    let logger: Logger
    let notifier: AlertNotifier

    /// Alert levels, most severe first.
    public static let levels = ["CRITICAL", "WARNING", "INFO"]

    /// - Parameter notifier: Sends raised and resolved alerts on their rules' channels
    ///   (default: none — the server passes one that logs to its own log).
    public init(pool: PostgresPool, notifier: AlertNotifier? = nil) {
        self.pool = pool
        self.logger = pool.statementLogger
        self.notifier = notifier ?? .logOnly(logger: Logger(label: "simjobs.alerts", factory: { _ in SwiftLogNoOpLogHandler() }))
    }

    /// Alerts, newest first: all, only open (`resolved == false`) or only resolved.
    public func alerts(resolved: Bool?, level: String?, limit: Int, cursor: Cursor?) async throws -> Page<Alert> {
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

    /// Resolves an alert by hand; resolving a resolved alert changes nothing.
    /// - Throws: `not_found`.
    public func resolve(_ id: Int64, by caller: Caller) async throws -> Alert {
        let resolver = String(caller.name.prefix(200))
        return try await pool.withTransaction { connection in
            let rows = try await connection.query(
                """
                UPDATE simjobs.alerts SET is_resolved = true, resolved_at = now(), resolved_by = \(resolver)
                WHERE id = \(id) AND NOT is_resolved
                RETURNING \(unescaped: Self.alertColumns)
                """,
                logger: logger
            ).collect()
            if let alert = try rows.first.map(Self.alert(from:)) {
                try await resolution(alert, reason: "by hand", by: caller, on: connection)
                return alert
            }
            let earlier = try await connection.query(
                "SELECT \(unescaped: Self.alertColumns) FROM simjobs.alerts WHERE id = \(id)",
                logger: logger
            ).collect()
            guard let row = earlier.first else { throw StrataError(.notFound, "No alert has this id.") }
            return try Self.alert(from: row)
        }
    }

    /// Resolves the open alerts of a rule that holds again (in the caller's transaction).
    /// - Returns: How many were resolved.
    func resolveOpen(of ruleID: UUID, reason: String, on connection: PostgresConnection) async throws -> Int {
        let rows = try await connection.query(
            """
            UPDATE simjobs.alerts SET is_resolved = true, resolved_at = now(), resolved_by = 'system'
            WHERE rule_id = \(ruleID) AND NOT is_resolved
            RETURNING \(unescaped: Self.alertColumns)
            """,
            logger: logger
        ).collect()
        for row in rows {
            try await resolution(try Self.alert(from: row), reason: reason, by: .job(), on: connection)
        }
        return rows.count
    }

    /// Records a resolution: its event and notifications, and its system log entry.
    private func resolution(_ alert: Alert, reason: String, by caller: Caller, on connection: PostgresConnection) async throws {
        let resolver = alert.resolvedBy ?? "system"
        let requestID = caller.requestID
        let event = try Self.event(alert, kind: "alert.resolved")
        var notifications: [NewJob] = []
        if let rule = alert.ruleID {
            let channels =
                try await connection.query("SELECT notify_channels FROM simjobs.alert_rules WHERE id = \(rule)", logger: logger)
                .collect().first?.decode([String].self) ?? []
            notifications = try await notifier.notify(alert, event: event, channels: channels, on: connection, statementLogger: logger)
        }
        try await ChangeLog.record(Change(events: [event], jobs: notifications), by: caller, on: connection, logger: logger)
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

    static let alertColumns = "id, rule_id, level, message, details::text, is_resolved, resolved_at, resolved_by, created_at"

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

    /// Every rule, by name.
    public func rules() async throws -> [AlertRule] {
        try await pool.query("SELECT \(unescaped: Self.ruleColumns) FROM simjobs.alert_rules ORDER BY name").map(Self.rule(from:))
    }

    /// What a rule update may change.
    public struct RuleUpdate: Sendable, Decodable {
        public var isEnabled: Bool?
        public var cooldownSeconds: Int?
        public var value: Double?
        /// Some of ``AlertNotifier/channels``.
        public var notifyChannels: [String]?

        public init(isEnabled: Bool? = nil, cooldownSeconds: Int? = nil, value: Double? = nil, notifyChannels: [String]? = nil) {
            self.isEnabled = isEnabled
            self.cooldownSeconds = cooldownSeconds
            self.value = value
            self.notifyChannels = notifyChannels
        }

        enum CodingKeys: String, CodingKey {
            case value
            case isEnabled = "is_enabled"
            case cooldownSeconds = "cooldown_seconds"
            case notifyChannels = "notify_channels"
        }
    }

    /// Enables or disables a rule, or changes its cooldown or threshold.
    /// - Throws: `validation_failed`, `not_found`.
    public func updateRule(_ id: UUID, _ update: RuleUpdate, by caller: Caller) async throws -> AlertRule {
        var errors: [StrataError.FieldError] = []
        if let cooldown = update.cooldownSeconds, !(0...604_800).contains(cooldown) {
            errors.append(.init(field: "cooldown_seconds", reason: "must be 0 to 604800"))
        }
        if let value = update.value, !value.isFinite { errors.append(.init(field: "value", reason: "must be a finite number")) }
        if let channels = update.notifyChannels, !Set(channels).isSubset(of: AlertNotifier.channels) {
            errors.append(.init(field: "notify_channels", reason: "must list some of \(AlertNotifier.channels.joined(separator: ", "))"))
        }
        guard errors.isEmpty else { throw StrataError.validation(errors) }
        return try await pool.withTransaction { connection in
            let rows = try await connection.query(
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
            ).collect()
            guard let row = rows.first else { throw StrataError(.notFound, "No alert rule has this id.") }
            try await ChangeLog.record(
                Change(app: "simjobs", action: "update", resourceType: "alert_rule", resourceID: id.uuidString, status: 200),
                by: caller,
                on: connection,
                logger: logger
            )
            return try Self.rule(from: row)
        }
    }

    static let ruleColumns = """
        id, name, rule_type, level, condition ->> 'metric', condition ->> 'op', (condition ->> 'value')::float8,
        cooldown_seconds, is_enabled, last_triggered_at, notify_channels
        """

    static func rule(from row: PostgresRow) throws -> AlertRule {
        let columns = row.makeRandomAccess()
        let (id, name, type, level, metric, op, value, cooldown, enabled, last) = (
            try columns[0].decode(UUID.self), try columns[1].decode(String.self), try columns[2].decode(String.self),
            try columns[3].decode(String.self), try columns[4].decode(String.self), try columns[5].decode(String.self),
            try columns[6].decode(Double.self), try columns[7].decode(Int32.self), try columns[8].decode(Bool.self),
            try columns[9].decode(Date?.self)
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
            lastTriggeredAt: last,
            notifyChannels: try columns[10].decode([String].self)
        )
    }
}
