public import Foundation
import StrataCore

/// An event to append to the outbox: what changed (app, aggregate, kind), the JSON payload,
/// who did it, under which request, and which cache keys it makes stale.
///
/// ```swift
/// let event = try OutboxEvent(
///     app: "workorders", aggregateType: "work_order", aggregateID: "\(order.id)",
///     kind: "work_order.updated", payload: order, actor: principal.name,
///     requestID: context.requestID, cacheKeys: ["workorders:order:\(order.id)"]
/// )
/// try await OutboxWriter().append(event, on: connection, logger: logger)
/// ```
public struct OutboxEvent: Sendable, Equatable {
    /// The app (module) that owns the aggregate; names the stream `strata:events:<app>`.
    public var app: String
    /// The aggregate's type, e.g. `work_order`.
    public var aggregateType: String
    /// The aggregate's id; events of one aggregate are relayed in the order they committed.
    public var aggregateID: String
    /// What happened, e.g. `work_order.updated`.
    public var kind: String
    /// The payload as JSON text (an object, array or value).
    public var payloadJSON: String
    /// Who made the change (a user, an API key name, `system`).
    public var actor: String?
    /// The request id (or trace id) of the change.
    public var requestID: String?
    /// Redis keys the event makes stale. The relay deletes a plain key when it publishes the
    /// event; a key made by ``versionedCacheKey(_:version:)`` (a `HotCache` entry) gets a
    /// tombstone of that version instead, as the writer's own invalidation does, so an older
    /// value can never be cached again after the relay's pass.
    public var cacheKeys: [String]

    /// Creates an event whose payload is already JSON text.
    public init(
        app: String,
        aggregateType: String,
        aggregateID: String,
        kind: String,
        payloadJSON: String = "{}",
        actor: String? = nil,
        requestID: String? = nil,
        cacheKeys: [String] = []
    ) {
        self.app = app
        self.aggregateType = aggregateType
        self.aggregateID = aggregateID
        self.kind = kind
        self.payloadJSON = payloadJSON
        self.actor = actor
        self.requestID = requestID
        self.cacheKeys = cacheKeys
    }

    /// Creates an event with an `Encodable` payload (encoded with sorted keys, ISO 8601 dates).
    /// - Throws: `invalid_value` when the payload cannot be encoded.
    public init<Payload: Encodable>(
        app: String,
        aggregateType: String,
        aggregateID: String,
        kind: String,
        payload: Payload,
        actor: String? = nil,
        requestID: String? = nil,
        cacheKeys: [String] = []
    ) throws {
        let encoder = JSONEncoder.api()
        let data: Data
        do {
            data = try encoder.encode(payload)
        } catch {
            throw StrataError(.invalidValue, "The event payload of \(kind) cannot be encoded as JSON.", underlying: error)
        }
        self.init(
            app: app,
            aggregateType: aggregateType,
            aggregateID: aggregateID,
            kind: kind,
            payloadJSON: String(decoding: data, as: UTF8.self),
            actor: actor,
            requestID: requestID,
            cacheKeys: cacheKeys
        )
    }

    /// The separator between a versioned cache key and its version (a control character no
    /// key uses).
    static let versionSeparator: Character = "\u{1}"

    /// A ``cacheKeys`` entry for a versioned cache entry (`HotCache`): the relay replaces the
    /// value stored at `key` (the Redis key) by a tombstone of `version` unless Redis holds an
    /// equal or newer version.
    public static func versionedCacheKey(_ key: String, version: Int64) -> String {
        "\(key)\(versionSeparator)\(version)"
    }

    /// A ``cacheKeys`` entry read back: the Redis key, and the version for versioned entries.
    public static func parseCacheKey(_ entry: String) -> (key: String, version: Int64?) {
        guard let separator = entry.lastIndex(of: versionSeparator), let version = Int64(entry[entry.index(after: separator)...]), version > 0
        else { return (entry, nil) }
        return (String(entry[..<separator]), version)
    }

    /// Checks the fields the table constrains, so that a bad event fails with a message naming
    /// the field rather than a constraint.
    /// - Throws: `invalid_value` naming the field.
    public func validate() throws {
        func fail(_ field: String, _ rule: String) -> StrataError {
            StrataError(.invalidValue, "The outbox event's \(field) \(rule).", details: ["field": field])
        }
        guard Self.isAppName(app) else { throw fail("app", "must be a lowercase identifier ([a-z][a-z0-9_]*, at most 63)") }
        guard (1...100).contains(aggregateType.count) else { throw fail("aggregate_type", "must be 1 to 100 characters") }
        guard (1...200).contains(aggregateID.count) else { throw fail("aggregate_id", "must be 1 to 200 characters") }
        guard (1...200).contains(kind.count) else { throw fail("kind", "must be 1 to 200 characters") }
    }

    /// Whether `name` is a valid app name: `[a-z][a-z0-9_]*`, at most 63 characters.
    public static func isAppName(_ name: String) -> Bool {
        guard let first = name.utf8.first, (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(first), name.utf8.count <= 63 else {
            return false
        }
        return name.utf8.allSatisfy { byte in
            (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(byte) || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte)
                || byte == UInt8(ascii: "_")
        }
    }
}

/// An event as stored: the appended ``OutboxEvent`` plus its id, time and relay position.
public struct OutboxRecord: Sendable, Equatable {
    /// The outbox id (increasing in append order; consumers de-duplicate on it).
    public var id: Int64
    /// The relay position, once sequenced: the stream entry id is `0-<sequence>`.
    public var sequence: Int64?
    /// When the event was appended (the transaction's time).
    public var occurredAt: Date
    /// The event itself.
    public var event: OutboxEvent

    public init(id: Int64, sequence: Int64?, occurredAt: Date, event: OutboxEvent) {
        self.id = id
        self.sequence = sequence
        self.occurredAt = occurredAt
        self.event = event
    }
}
