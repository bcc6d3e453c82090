import Foundation
public import Logging
import PostgresNIO
import StrataCore
public import StrataEvents
import StrataPostgres
public import StrataSecurity

/// Sends alerts where their rule's `notify_channels` say, in the transaction that raises or
/// resolves them (a notification exists if and only if the alert's change commits):
///
/// - `log`: a line in the server's own log at the alert's level (for log shippers and
///   on-call tooling that read it);
/// - `webhook`: a signed POST (Standard Webhooks, through the platform's ``WebhookDelivery``:
///   retried, then kept as a discarded job) to `SIMJOBS_ALERT_WEBHOOK_URL`, signed with
///   `SIMJOBS_ALERT_WEBHOOK_SECRET`. A rule asking for it while none is configured gets a
///   WARNING system log line instead.
///
/// Every alert is in `simjobs.system_logs`, on the event stream and in the API whatever its
/// channels.
public struct AlertNotifier: Sendable {
    /// The channels a rule may name.
    public static let channels = ["log", "webhook"]

    let webhookURL: String?
    let sealedSecret: String?
    let logger: Logger

    /// A notifier that only logs (no webhook configured).
    public static func logOnly(logger: Logger) -> AlertNotifier {
        AlertNotifier(webhookURL: nil, sealedSecret: nil, logger: logger)
    }

    /// - Parameters:
    ///   - webhook: The receiver's URL and signing secret, or nil.
    ///   - secrets: Seals the secret into the queued jobs.
    public init(webhook: (url: String, secret: String)?, secrets: SecretBox, logger: Logger) throws {
        self.init(webhookURL: webhook?.url, sealedSecret: try webhook.map { try secrets.seal($0.secret) }, logger: logger)
    }

    init(webhookURL: String?, sealedSecret: String?, logger: Logger) {
        self.webhookURL = webhookURL
        self.sealedSecret = sealedSecret
        self.logger = logger
    }

    /// Notifies `alert`'s change on `channels`: logs it at once, and returns the webhook
    /// delivery to record with the change (``Change/jobs``), which carries its outbox event's
    /// kind (`alert.raised` or `alert.resolved`) and payload.
    func notify(
        _ alert: Alert,
        event: OutboxEvent,
        channels: [String],
        on connection: PostgresConnection,
        statementLogger: Logger
    ) async throws -> [NewJob] {
        let kind = event.kind
        if channels.contains("log") {
            let level: Logger.Level = alert.level == "CRITICAL" ? .critical : alert.level == "WARNING" ? .warning : .info
            logger.log(
                level: kind == "alert.resolved" ? .notice : level,
                "\(kind == "alert.resolved" ? "alert resolved" : "alert raised"): \(alert.message)",
                metadata: ["simjobs.alert.id": "\(alert.id)", "simjobs.alert.level": "\(alert.level)"]
            )
        }
        guard channels.contains("webhook") else { return [] }
        guard let webhookURL, let sealedSecret else {
            try await SystemLog.write(
                "WARNING",
                .scheduler,
                "Alert \(alert.id) asks for the webhook channel, but SIMJOBS_ALERT_WEBHOOK_URL is not set.",
                loggerName: "simjobs.alerts",
                on: connection,
                logger: statementLogger
            )
            return []
        }
        let message = WebhookMessage(
            id: "msg_alert_\(alert.id)_\(kind == "alert.resolved" ? "resolved" : "raised")",
            type: kind,
            url: webhookURL,
            dataJSON: event.payloadJSON,
            sealedSecret: sealedSecret
        )
        return try WebhookDelivery.jobs(for: [message])
    }
}
