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
/// `WakeThrottle`: a relay that is busy polls on its own).
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
        if let id = try await connection.rows(AppendOutboxEvent(event: event, wake: WakeThrottle.relay.claim()), logger: logger).first {
            return id
        }
        preconditionFailure("INSERT … RETURNING returned no row")
    }

    /// Appends one event and records the audit entry of the same change, in one statement
    /// (``ChangeLog`` fills in the caller's facts first).
    /// - Returns: The event's outbox id and the audit entry's id.
    /// - Throws: `invalid_value` for a malformed event or record; database errors.
    func append(
        _ event: OutboxEvent,
        auditing record: AuditRecord,
        on connection: PostgresConnection,
        logger: Logger
    ) async throws -> (
        audit: Int64, event: Int64
    ) {
        try event.validate()
        try AuditWriter().validate(record)
        let statement = AppendOutboxEventWithAudit(
            event: AppendOutboxEvent(event: event, wake: WakeThrottle.relay.claim()),
            audit: InsertAuditRecord(record: record)
        )
        if let (eventID, auditID) = try await connection.rows(statement, logger: logger).first {
            return (auditID, eventID)
        }
        preconditionFailure("INSERT … RETURNING returned no row")
    }

    /// Appends one event, records the audit entry of the same change when there is one, and
    /// enqueues the jobs the change sets off — in one statement.
    /// - Throws: `invalid_value` for a malformed event, record or job; database errors.
    func append(
        _ event: OutboxEvent,
        auditing record: AuditRecord?,
        enqueueing jobs: [NewJob],
        on connection: PostgresConnection,
        logger: Logger
    ) async throws {
        let append = try Self.validated(event, auditing: record, enqueueing: jobs)
        if let record {
            let statement = AppendOutboxEventWithAuditAndJobs(event: append, audit: InsertAuditRecord(record: record), jobs: EnqueueJobs(jobs: jobs))
            _ = try await connection.rows(statement, logger: logger)
        } else {
            _ = try await connection.rows(AppendOutboxEventWithJobs(event: append, jobs: EnqueueJobs(jobs: jobs)), logger: logger)
        }
    }

    /// Appends one event, records the audit entry of the same change when there is one, enqueues
    /// its jobs and appends its status transitions to `history` — in one statement, built here
    /// from the others' SQL (not prepared: the history's table is the app's).
    /// - Throws: `invalid_value` for a malformed event, record or job; database errors.
    func append(
        _ event: OutboxEvent,
        auditing record: AuditRecord?,
        enqueueing jobs: [NewJob],
        transitions: [StatusTransition],
        of history: StatusHistory,
        on connection: PostgresConnection,
        logger: Logger
    ) async throws {
        let append = try Self.validated(event, auditing: record, enqueueing: jobs)
        var parts: [String] = []
        var bindings = PostgresBindings()
        func embed<Statement: EmbeddableStatement>(_ name: String, _ statement: Statement) {
            parts.append("\(name) AS (\(Statement.statement(parametersFrom: bindings.count + 1)))")
            statement.appendBindings(to: &bindings)
        }
        embed("event", append)
        if let record { embed("audit", InsertAuditRecord(record: record)) }
        if !jobs.isEmpty { embed("jobs", EnqueueJobs(jobs: jobs)) }
        parts.append("history AS (\(history.insertStatement(parametersFrom: bindings.count + 1)))")
        history.appendBindings(of: transitions, to: &bindings)
        try await connection.run(
            PostgresQuery(unsafeSQL: "WITH " + parts.joined(separator: ", ") + " SELECT id FROM event", binds: bindings),
            logger: logger
        )
    }

    /// The event's append, once the event, the audit record and the jobs are checked.
    private static func validated(_ event: OutboxEvent, auditing record: AuditRecord?, enqueueing jobs: [NewJob]) throws -> AppendOutboxEvent {
        try event.validate()
        if let record { try AuditWriter().validate(record) }
        for job in jobs { try JobQueue.validate(job) }
        return AppendOutboxEvent(event: event, wake: WakeThrottle.relay.claim())
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
        try await connection.run(
            "SELECT count(pg_advisory_xact_lock(\(Self.lockClass), hashtext(key))) FROM unnest(\(lockKeys)::text[]) AS key",
            logger: logger
        )
        let rows = try await connection.run(
            """
            INSERT INTO strata.outbox (app, aggregate_type, aggregate_id, kind, payload, actor, request_id, cache_keys)
            SELECT e.app, e.aggregate_type, e.aggregate_id, e.kind, e.payload::jsonb, e.actor, e.request_id,
                   ARRAY(SELECT jsonb_array_elements_text(e.cache_keys))
            FROM jsonb_array_elements(\(Self.batchJSON(events))::jsonb) WITH ORDINALITY AS item(value, position),
                 jsonb_to_record(item.value) AS e(app text, aggregate_type text, aggregate_id text, kind text, payload text,
                                                  actor text, request_id text, cache_keys jsonb),
                 (SELECT \(unescaped: WakeThrottle.relay.claim() ? "pg_notify('\(Self.channel)', '')" : "NULL")) AS wake
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
struct AppendOutboxEvent: EmbeddableStatement {
    static let name = "strata.AppendOutboxEvent"
    static let sql = statement(parametersFrom: 1)
    static let bindingDataTypes: [PostgresDataType] = [.text, .text, .text, .text, .text, .text, .text, .textArray, .int4, .text, .bool]
    typealias Row = Int64

    var event: OutboxEvent
    var wake: Bool

    static func statement(parameters p: [String]) -> String {
        """
        INSERT INTO strata.outbox (app, aggregate_type, aggregate_id, kind, payload, actor, request_id, cache_keys)
        SELECT \(p[0]), \(p[1]), \(p[2]), \(p[3]), \(p[4])::jsonb, \(p[5]), \(p[6]), \(p[7])
        FROM (SELECT pg_advisory_xact_lock(\(p[8]), hashtext(\(p[9]))),
                     CASE WHEN \(p[10]) THEN pg_notify('\(OutboxWriter.channel)', '') END) AS ordered
        RETURNING id
        """
    }

    func appendBindings(to bindings: inout PostgresBindings) {
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
    }

    func decodeRow(_ row: PostgresRow) throws -> Int64 { try row.decode(Int64.self) }
}

/// A change's event and its audit record in one statement, prepared once per connection: the
/// two inserts of ``AppendOutboxEvent`` and ``InsertAuditRecord`` as they are, in one round trip.
struct AppendOutboxEventWithAudit: PostgresPreparedStatement {
    static let name = "strata.AppendOutboxEventWithAudit"
    static let sql = """
        WITH event AS (\(AppendOutboxEvent.statement(parametersFrom: 1))),
             audit AS (\(InsertAuditRecord.statement(parametersFrom: AppendOutboxEvent.bindingDataTypes.count + 1)))
        SELECT event.id, audit.id FROM event, audit
        """
    static let bindingDataTypes = AppendOutboxEvent.bindingDataTypes + InsertAuditRecord.bindingDataTypes
    typealias Row = (Int64, Int64)

    var event: AppendOutboxEvent
    var audit: InsertAuditRecord

    func makeBindings() throws -> PostgresBindings {
        var bindings = PostgresBindings(capacity: Self.bindingDataTypes.count)
        event.appendBindings(to: &bindings)
        audit.appendBindings(to: &bindings)
        return bindings
    }

    func decodeRow(_ row: PostgresRow) throws -> (Int64, Int64) { try row.decode((Int64, Int64).self) }
}

/// An event and the jobs its change sets off in one statement, prepared once per connection:
/// ``AppendOutboxEvent`` and ``EnqueueJobs`` as they are (a data-modifying `WITH` runs whether
/// or not the query reads it).
struct AppendOutboxEventWithJobs: PostgresPreparedStatement {
    static let name = "strata.AppendOutboxEventWithJobs"
    static let sql = """
        WITH event AS (\(AppendOutboxEvent.statement(parametersFrom: 1))),
             jobs AS (\(EnqueueJobs.statement(parametersFrom: AppendOutboxEvent.bindingDataTypes.count + 1)))
        SELECT id FROM event
        """
    static let bindingDataTypes = AppendOutboxEvent.bindingDataTypes + EnqueueJobs.bindingDataTypes
    typealias Row = Int64

    var event: AppendOutboxEvent
    var jobs: EnqueueJobs

    func makeBindings() throws -> PostgresBindings {
        var bindings = PostgresBindings(capacity: Self.bindingDataTypes.count)
        event.appendBindings(to: &bindings)
        jobs.appendBindings(to: &bindings)
        return bindings
    }

    func decodeRow(_ row: PostgresRow) throws -> Int64 { try row.decode(Int64.self) }
}

/// An event, its change's audit entry and jobs in one statement, prepared once per connection
/// (see ``AppendOutboxEventWithJobs``).
struct AppendOutboxEventWithAuditAndJobs: PostgresPreparedStatement {
    static let name = "strata.AppendOutboxEventWithAuditAndJobs"
    static let sql = """
        WITH event AS (\(AppendOutboxEvent.statement(parametersFrom: 1))),
             audit AS (\(InsertAuditRecord.statement(parametersFrom: AppendOutboxEvent.bindingDataTypes.count + 1))),
             jobs AS (\(EnqueueJobs.statement(
                parametersFrom: AppendOutboxEvent.bindingDataTypes.count + InsertAuditRecord.bindingDataTypes.count + 1)))
        SELECT id FROM event
        """
    static let bindingDataTypes = AppendOutboxEvent.bindingDataTypes + InsertAuditRecord.bindingDataTypes + EnqueueJobs.bindingDataTypes
    typealias Row = Int64

    var event: AppendOutboxEvent
    var audit: InsertAuditRecord
    var jobs: EnqueueJobs

    func makeBindings() throws -> PostgresBindings {
        var bindings = PostgresBindings(capacity: Self.bindingDataTypes.count)
        event.appendBindings(to: &bindings)
        audit.appendBindings(to: &bindings)
        jobs.appendBindings(to: &bindings)
        return bindings
    }

    func decodeRow(_ row: PostgresRow) throws -> Int64 { try row.decode(Int64.self) }
}
