import Foundation
import StrataCore
public import StrataPostgres
public import StrataRedis

/// Where each app's events are published: the Redis stream `<prefix><app>`
/// (`strata:events:<app>` by default; tests give each database a prefix of its own).
public struct EventStreams: Sendable, Hashable {
    /// The key prefix.
    public var prefix: String

    public init(prefix: String = "strata:events:") {
        self.prefix = prefix
    }

    /// The stream key of an app.
    public func key(for app: String) -> String { prefix + app }

    /// The stream entry id of a relay position: `0-<sequence>`, so that stream order is relay
    /// order and a position read from a stream is a position in the outbox.
    public static func entryID(of sequence: Int64) -> String { "0-\(sequence)" }

    /// The relay position of a stream entry id, when it is one of ours.
    public static func sequence(ofEntryID id: String) -> Int64? {
        guard id.hasPrefix("0-") else { return nil }
        return Int64(id.dropFirst(2))
    }
}

/// An event as live clients see it: an outbox event at its relay position, built from an
/// outbox row or from the stream entry the relay wrote for it.
public struct LiveEvent: Sendable, Equatable {
    /// The relay position; the SSE `id`, and what a client resumes after.
    public var sequence: Int64
    /// The outbox id (consumers de-duplicate on it).
    public var outboxID: Int64
    /// ISO 8601 with milliseconds.
    public var occurredAt: String
    /// What happened (a stream entry carries no cache keys).
    public var event: OutboxEvent

    /// The event of a sequenced outbox row.
    public init?(record: OutboxRecord) {
        guard let sequence = record.sequence else { return nil }
        self.sequence = sequence
        self.outboxID = record.id
        self.occurredAt = Self.timestamp(record.occurredAt)
        self.event = record.event
    }

    /// The event of a stream entry written by the relay.
    public init?(entry: StreamEntry, app: String) {
        guard let sequence = EventStreams.sequence(ofEntryID: entry.id), let outboxID = entry["id"].flatMap({ Int64($0) }),
            let aggregateType = entry["aggregate_type"], let aggregateID = entry["aggregate_id"], let kind = entry["kind"]
        else { return nil }
        self.sequence = sequence
        self.outboxID = outboxID
        self.occurredAt = entry["occurred_at"] ?? ""
        self.event = OutboxEvent(
            app: app,
            aggregateType: aggregateType,
            aggregateID: aggregateID,
            kind: kind,
            payloadJSON: entry["payload"] ?? "{}",
            actor: entry["actor"],
            requestID: entry["request_id"]
        )
    }

    /// The stream entry's fields.
    var streamFields: [String] {
        var fields = [
            "id", "\(outboxID)", "kind", event.kind, "aggregate_type", event.aggregateType, "aggregate_id", event.aggregateID,
            "payload", event.payloadJSON, "occurred_at", occurredAt,
        ]
        if let actor = event.actor { fields += ["actor", actor] }
        if let requestID = event.requestID { fields += ["request_id", requestID] }
        return fields
    }

    /// The event as one Server-Sent Events message: `id` is the position, `event` the kind,
    /// `data` one line of JSON with every field (the payload embedded as JSON).
    public var serverSentEvent: String {
        var data = "{\"id\":\(outboxID),\"sequence\":\(sequence),\"app\":\(JSONText.quoted(event.app))"
        data += ",\"aggregate_type\":\(JSONText.quoted(event.aggregateType)),\"aggregate_id\":\(JSONText.quoted(event.aggregateID))"
        data += ",\"kind\":\(JSONText.quoted(event.kind)),\"occurred_at\":\(JSONText.quoted(occurredAt))"
        data += ",\"actor\":\(JSONText.quoted(event.actor)),\"request_id\":\(JSONText.quoted(event.requestID))"
        data += ",\"payload\":\(Self.singleLine(event.payloadJSON))}"
        return "id: \(sequence)\nevent: \(Self.singleLine(event.kind))\ndata: \(data)\n\n"
    }

    static func timestamp(_ date: Date) -> String {
        date.formatted(Date.ISO8601FormatStyle(includingFractionalSeconds: true))
    }

    /// JSON text from PostgreSQL's jsonb output has no raw newlines, but a kind could; SSE
    /// fields end at a newline, so none may pass.
    static func singleLine(_ text: String) -> String {
        text.contains(where: { $0 == "\n" || $0 == "\r" })
            ? text.replacingOccurrences(of: "\r", with: " ").replacingOccurrences(of: "\n", with: " ") : text
    }
}
