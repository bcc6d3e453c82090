public import Logging
public import PostgresNIO
import StrataCore

/// Appends events to `strata.outbox` inside the caller's transaction, so that a change and
/// its event commit or vanish together.
///
/// Appending takes a transaction-scoped advisory lock on the event's aggregate: two
/// transactions that append for the same aggregate are serialised, so the later one gets the
/// higher id and commits second — ids of one aggregate are in commit order, however the
/// caller orders its statements. Appending also notifies ``channel`` (delivered at commit)
/// so that an idle relay wakes at once — at most once per 50 ms per process (see
/// `RelayWakeUp`: a relay that is busy polls on its own).
///
/// ```swift
/// try await pool.withTransaction { connection in
///     try await repository.update(order, on: connection)
///     try await OutboxWriter().append(event, on: connection, logger: pool.statementLogger)
/// }
/// ```
public struct OutboxWriter: Sendable {
    /// The LISTEN/NOTIFY channel the relay listens on.
    public static let channel = "strata_outbox"
    /// The first key of the advisory locks that order one aggregate's appends ("stob").
    static let lockClass: Int32 = 0x7374_6F62

    public init() {}

    /// What an event's advisory lock is taken on (hashed): its aggregate.
    static func lockKey(_ event: OutboxEvent) -> String {
        "\(event.app)/\(event.aggregateType)/\(event.aggregateID)"
    }

    /// Appends one event. Call it inside a transaction (`PostgresPool.withTransaction`).
    /// - Returns: The event's outbox id.
    /// - Throws: `invalid_value` for a malformed event; database errors as ``StrataError``.
    @discardableResult
    public func append(_ event: OutboxEvent, on connection: PostgresConnection, logger: Logger) async throws -> Int64 {
        try event.validate()
        for try await id in try await connection.execute(AppendOutboxEvent(event: event, wake: RelayWakeUp.claim()), logger: logger) {
            return id
        }
        preconditionFailure("INSERT … RETURNING returned no row")
    }

    /// Appends several events in order, in two statements whatever their number: the
    /// aggregates' locks first, taken in a fixed (sorted) order so that two transactions
    /// appending for the same aggregates cannot deadlock on them, then every row. Call it
    /// inside a transaction.
    /// - Returns: Their outbox ids, in order.
    @discardableResult
    public func append(_ events: [OutboxEvent], on connection: PostgresConnection, logger: Logger) async throws -> [Int64] {
        if events.count == 1 { return [try await append(events[0], on: connection, logger: logger)] }
        guard !events.isEmpty else { return [] }
        for event in events { try event.validate() }
        let lockKeys = Set(events.map(Self.lockKey)).sorted()
        try await connection.query(
            "SELECT count(pg_advisory_xact_lock(\(Self.lockClass), hashtext(key))) FROM unnest(\(lockKeys)::text[]) AS key",
            logger: logger
        )
        let rows = try await connection.query(
            """
            INSERT INTO strata.outbox (app, aggregate_type, aggregate_id, kind, payload, actor, request_id, cache_keys)
            SELECT e.app, e.aggregate_type, e.aggregate_id, e.kind, e.payload::jsonb, e.actor, e.request_id,
                   ARRAY(SELECT jsonb_array_elements_text(e.cache_keys))
            FROM jsonb_array_elements(\(Self.batchJSON(events))::jsonb) WITH ORDINALITY AS item(value, position),
                 jsonb_to_record(item.value) AS e(app text, aggregate_type text, aggregate_id text, kind text, payload text,
                                                  actor text, request_id text, cache_keys jsonb),
                 (SELECT \(unescaped: RelayWakeUp.claim() ? "pg_notify('\(Self.channel)', '')" : "NULL")) AS wake
            ORDER BY item.position
            RETURNING id
            """,
            logger: logger
        )
        var ids: [Int64] = []
        for try await id in rows.decode(Int64.self) { ids.append(id) }
        // Identity values are drawn in insertion order, which is the events' order.
        return ids.sorted()
    }

    /// The events as one JSON array; every field, the payload text included, is a JSON string,
    /// so no field's content can change the array's shape.
    static func batchJSON(_ events: [OutboxEvent]) -> String {
        "["
            + events.map { event in
                "{\"app\":\(JSONText.quoted(event.app)),\"aggregate_type\":\(JSONText.quoted(event.aggregateType)),\"aggregate_id\":\(JSONText.quoted(event.aggregateID)),"
                    + "\"kind\":\(JSONText.quoted(event.kind)),\"payload\":\(JSONText.quoted(event.payloadJSON)),\"actor\":\(JSONText.quoted(event.actor)),"
                    + "\"request_id\":\(JSONText.quoted(event.requestID)),\"cache_keys\":[\(event.cacheKeys.map { JSONText.quoted($0) }.joined(separator: ","))]}"
            }.joined(separator: ",") + "]"
    }
}

/// One event's append, prepared once per connection (it runs with nearly every write): the
/// aggregate's advisory lock, the row, and the relay's wake-up when `wake` is set.
struct AppendOutboxEvent: PostgresPreparedStatement {
    static let sql = """
        INSERT INTO strata.outbox (app, aggregate_type, aggregate_id, kind, payload, actor, request_id, cache_keys)
        SELECT $1, $2, $3, $4, $5::jsonb, $6, $7, $8
        FROM (SELECT pg_advisory_xact_lock($9, hashtext($10)),
                     CASE WHEN $11 THEN pg_notify('\(OutboxWriter.channel)', '') END) AS ordered
        RETURNING id
        """
    static let bindingDataTypes: [PostgresDataType] = [.text, .text, .text, .text, .text, .text, .text, .textArray, .int4, .text, .bool]
    typealias Row = Int64

    var event: OutboxEvent
    var wake: Bool

    func makeBindings() throws -> PostgresBindings {
        var bindings = PostgresBindings(capacity: 11)
        bindings.append(event.app)
        bindings.append(event.aggregateType)
        bindings.append(event.aggregateID)
        bindings.append(event.kind)
        bindings.append(event.payloadJSON)
        bindings.append(event.actor)
        bindings.append(event.requestID)
        bindings.append(event.cacheKeys)
        bindings.append(OutboxWriter.lockClass)
        bindings.append(OutboxWriter.lockKey(event))
        bindings.append(wake)
        return bindings
    }

    func decodeRow(_ row: PostgresRow) throws -> Int64 { try row.decode(Int64.self) }
}
