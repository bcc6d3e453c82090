public import Foundation
import Logging
import PostgresNIO
public import StrataCore
public import StrataPostgres

/// Reading alerts and rules, resolving alerts by hand, and changing rules.
public struct AlertService: Sendable {
    let pool: PostgresPool
    let store: AlertStore
    let logger: Logger
    let notifier: AlertNotifier

    /// Alert levels, most severe first.
    public static let levels = ["CRITICAL", "WARNING", "INFO"]

    /// - Parameter notifier: Sends raised and resolved alerts on their rules' channels
    ///   (default: none — the server passes one that logs to its own log).
    public init(pool: PostgresPool, notifier: AlertNotifier? = nil) {
        self.pool = pool
        self.store = AlertStore(pool: pool)
        self.logger = pool.statementLogger
        self.notifier = notifier ?? .logOnly(logger: Logger(label: "simjobs.alerts", factory: { _ in SwiftLogNoOpLogHandler() }))
    }

    /// Alerts, newest first: all, only open (`resolved == false`) or only resolved.
    public func alerts(resolved: Bool?, level: String?, limit: Int, cursor: Cursor?) async throws -> Page<Alert> {
        try await store.alerts(resolved: resolved, level: level, limit: limit, cursor: cursor)
    }

    /// Resolves an alert by hand; resolving a resolved alert changes nothing.
    /// - Throws: `not_found`.
    public func resolve(_ id: Int64, by caller: Caller) async throws -> Alert {
        let resolver = String(caller.name.prefix(200))
        let (store, logger) = (store, logger)
        return try await pool.withTransaction { connection in
            if let alert = try await store.resolve(id, by: resolver, on: connection, logger: logger) {
                try await resolution(alert, reason: "by hand", by: caller, on: connection)
                return alert
            }
            guard let earlier = try await store.find(id, on: connection, logger: logger) else {
                throw StrataError(.notFound, "No alert has this id.")
            }
            return earlier
        }
    }

    /// Resolves the open alerts of a rule that holds again (in the caller's transaction).
    /// - Returns: How many were resolved.
    func resolveOpen(of ruleID: UUID, reason: String, on connection: PostgresConnection) async throws -> Int {
        let resolved = try await store.resolveOpen(of: ruleID, on: connection, logger: logger)
        for alert in resolved { try await resolution(alert, reason: reason, by: .job(), on: connection) }
        return resolved.count
    }

    /// Records a resolution: its event and notifications, and its system log entry.
    private func resolution(_ alert: Alert, reason: String, by caller: Caller, on connection: PostgresConnection) async throws {
        let resolver = alert.resolvedBy ?? "system"
        let requestID = caller.requestID
        let event = try Self.event(alert, kind: "alert.resolved")
        var notifications: [NewJob] = []
        if let rule = alert.ruleID {
            let channels = try await store.channels(of: rule, on: connection, logger: logger)
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

    static func event(_ alert: Alert, kind: String) throws -> OutboxEvent {
        try OutboxEvent(app: "simjobs", aggregateType: "alert", aggregateID: "\(alert.id)", kind: kind, payload: alert)
    }

    /// Every rule, by name.
    public func rules() async throws -> [AlertRule] {
        try await store.rules()
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
        let (store, logger) = (store, logger)
        return try await pool.withTransaction { connection in
            guard let rule = try await store.updateRule(id, update, on: connection, logger: logger) else {
                throw StrataError(.notFound, "No alert rule has this id.")
            }
            try await ChangeLog.record(
                Change(app: "simjobs", action: "update", resourceType: "alert_rule", resourceID: id.uuidString, status: 200),
                by: caller,
                on: connection,
                logger: logger
            )
            return rule
        }
    }
}
