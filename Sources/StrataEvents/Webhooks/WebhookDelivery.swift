import AsyncHTTPClient
public import Foundation
public import Logging
import NIOCore
import NIOHTTP1
public import PostgresNIO
public import StrataCore
public import StrataPostgres
public import StrataSecurity

/// One webhook to deliver: written as a job (queue `webhooks`) in the transaction of the change
/// it reports, so it is sent if and only if that change commits. The secret travels sealed
/// (``SecretBox``); the job's arguments never hold it in clear.
public struct WebhookMessage: Sendable, Codable, Equatable {
    /// `webhook-id`: the same on every retry, so a receiver can drop duplicates.
    public var id: String
    /// The event, e.g. `task.completed`.
    public var type: String
    /// Unix seconds when the event happened (`webhook-timestamp` is the send time).
    public var occurredAt: Int64
    public var url: String
    /// The event's data, a JSON object (the body's `data`).
    public var dataJSON: String
    /// The receiver's signing secret, sealed.
    public var sealedSecret: String

    public init(
        id: String = "msg_" + UUID().uuidString.lowercased(),
        type: String,
        occurredAt: Date = Date(),
        url: String,
        dataJSON: String,
        sealedSecret: String
    ) {
        self.id = id
        self.type = type
        self.occurredAt = Int64(occurredAt.timeIntervalSince1970)
        self.url = url
        self.dataJSON = dataJSON
        self.sealedSecret = sealedSecret
    }

    enum CodingKeys: String, CodingKey {
        case id, type, url
        case occurredAt = "occurred_at"
        case dataJSON = "data"
        case sealedSecret = "sealed_secret"
    }

    /// The request body: `{"type": …, "timestamp": …, "data": {…}}`.
    public var body: String {
        let timestamp = Date(timeIntervalSince1970: TimeInterval(occurredAt)).formatted(.iso8601)
        return #"{"type":\#(JSONText.quoted(type)),"timestamp":"\#(timestamp)","data":\#(dataJSON)}"#
    }
}

/// Delivers webhooks from the platform queue: POST with the Standard Webhooks headers
/// (`webhook-id`, `webhook-timestamp`, `webhook-signature`), a 2xx answer within the timeout
/// delivers it; anything else is retried — 3 retries, 5 s then doubling (with jitter) — and
/// then kept as a discarded job for inspection.
public enum WebhookDelivery {
    public static let queue = "webhooks"
    public static let kind = "strata.webhook"
    /// One attempt and 3 retries.
    public static let attempts = 4
    /// The deliverer's clients, one per checked target (see ``PinnedClients``).
    static let clients = PinnedClients()

    /// The delivery jobs of `messages`, to enqueue with the change that sends them
    /// (``Change/jobs``): they exist if and only if the change commits.
    public static func jobs(for messages: [WebhookMessage]) throws -> [NewJob] {
        let encoder = JSONEncoder.api()
        return try messages.map { message in
            NewJob(queue: queue, kind: kind, argsJSON: String(decoding: try encoder.encode(message), as: UTF8.self), maxAttempts: attempts)
        }
    }

    /// The job handler: sends one message. A URL the policy refuses discards the job at once.
    public static func handler(
        secrets: SecretBox,
        policy: OutboundAddressPolicy = .publicOnly,
        timeout: Duration = .seconds(30)
    ) -> JobHandler {
        { context in
            let message = try JSONDecoder.api().decode(WebhookMessage.self, from: Data(context.job.argsJSON.utf8))
            let target: OutboundTarget
            do {
                target = try await policy.check(message.url)
            } catch {
                throw JobFailedPermanently(error)
            }
            try await send(message, secret: try secrets.open(message.sealedSecret), to: target, timeout: timeout)
            return nil
        }
    }

    /// POSTs a message, signed, to the target an ``OutboundAddressPolicy`` check returned for its
    /// URL (the job handler checks): a named host is reached at the address that was checked,
    /// never resolved again. Throws unless the receiver answers 2xx.
    public static func send(
        _ message: WebhookMessage,
        secret: String,
        to target: OutboundTarget,
        timeout: Duration = .seconds(30)
    ) async throws {
        let body = Array(message.body.utf8)
        let sentAt = Int64(Date().timeIntervalSince1970)
        var request = HTTPClientRequest(url: message.url)
        request.method = .POST
        request.headers.add(name: "content-type", value: "application/json")
        request.headers.add(name: "user-agent", value: "Strata-Webhooks/1")
        request.headers.add(name: "webhook-id", value: message.id)
        request.headers.add(name: "webhook-timestamp", value: "\(sentAt)")
        request.headers.add(name: "webhook-signature", value: WebhookSignature.sign(id: message.id, timestamp: sentAt, body: body, secret: secret))
        request.body = .bytes(ByteBuffer(bytes: body))
        let status = try await clients.withClient(for: target) { client in
            let response = try await client.execute(request, timeout: .milliseconds(timeout.milliseconds))
            _ = try? await response.body.collect(upTo: 64 * 1024)
            return response.status.code
        }
        guard (200..<300).contains(Int(status)) else {
            throw StrataError(.webhookRefused, "The webhook receiver answered \(status).")
        }
    }

    /// The worker that delivers webhooks: `concurrency` at once, retries from `firstRetry`
    /// doubling, only to hosts `policy` lets through.
    public static func worker(
        pool: PostgresPool,
        secrets: SecretBox,
        policy: OutboundAddressPolicy = .publicOnly,
        concurrency: Int = 8,
        firstRetry: Duration = .seconds(5),
        timeout: Duration = .seconds(30),
        logger: Logger
    ) -> JobWorker {
        JobWorker(
            pool: pool,
            handlers: [kind: handler(secrets: secrets, policy: policy, timeout: timeout)],
            configuration: .init(
                queues: [queue],
                concurrency: concurrency,
                lease: timeout + .seconds(30),
                baseDelay: firstRetry,
                maximumDelay: firstRetry * 8,
                name: "webhooks-\(ProcessInfo.processInfo.processIdentifier)"
            ),
            logger: logger
        )
    }
}

extension StrataError.Code {
    /// A webhook receiver answered other than 2xx (the delivery is retried).
    public static let webhookRefused = Self("webhook_refused", kind: .unavailable)
}
