public import Foundation
import PostgresNIO
import StrataCore

/// The outbox's SQL for the relay, live readers, replay and clean-up, in one place.
///
/// The relay protocol, in two short transactions around the publication:
/// 1. ``nextBatch(limit:)`` takes the relay row `FOR UPDATE SKIP LOCKED`. If positions were
///    handed out but not confirmed published (a relay stopped between the steps), it returns
///    those rows again, by position. Otherwise it numbers the next unsequenced committed rows
///    in id order with the next positions and commits that.
/// 2. The caller publishes the rows at their positions (stream entry `0-<sequence>`; an entry
///    at or below a stream's top was published before and is skipped).
/// 3. ``markPublished(through:)`` records the positions as published.
///
/// Positions are therefore fixed before anything is published, so a retried batch publishes
/// the same entries at the same ids, and a row is numbered only once it is committed and
/// visible: a transaction that commits after a later id simply gets a later position.
public struct OutboxStore: Sendable {
    let pool: PostgresPool

    public init(pool: PostgresPool) {
        self.pool = pool
    }

    /// Rows to publish, at their positions.
    public struct Batch: Sendable, Equatable {
        /// The rows, by position.
        public var records: [OutboxRecord]
        /// Positions up to this one are covered once the records are published.
        public var through: Int64
        /// Whether these positions had been handed out before (a retried batch).
        public var isRetry: Bool
    }

    /// The relay's progress.
    public struct Progress: Sendable, Equatable {
        /// The highest position handed out.
        public var lastSequence: Int64
        /// Positions up to this one are published.
        public var publishedSequence: Int64
        /// Committed events not yet given a position.
        public var unsequenced: Int64
        /// The oldest unsequenced event's append time.
        public var oldestUnsequencedAt: Date?
    }

    static let columns = """
        id, sequence, occurred_at, app, aggregate_type, aggregate_id, kind, payload::text, actor, request_id, cache_keys
        """

    /// The next rows to publish, or `nil` when another relay is numbering right now.
    /// - Parameter limit: The most rows to return.
    public func nextBatch(limit: Int) async throws -> Batch? {
        try await pool.withTransaction { connection in
            let logger = pool.statementLogger
            // Bitmap scans are off for the numbering: every numbered row leaves a dead entry in
            // `outbox_unsequenced` until vacuum, and a bitmap scan visits the heap for each of
            // them on every batch (227 pages for 58 rows, measured under load), where a plain
            // index scan marks them dead once and skips them afterwards.
            let stateRows = try await connection.run(
                """
                SELECT last_sequence, published_sequence, set_config('enable_bitmapscan', 'off', true)
                FROM strata.outbox_relay WHERE name = 'main' FOR UPDATE SKIP LOCKED
                """,
                logger: logger
            )
            var state: (Int64, Int64)?
            for try await row in stateRows.decode((Int64, Int64, String).self) { state = (row.0, row.1) }
            guard let (last, published) = state else { return nil }
            if published < last {
                let rows = try await connection.run(
                    """
                    SELECT \(unescaped: Self.columns) FROM strata.outbox
                    WHERE sequence > \(published) AND sequence <= \(last) ORDER BY sequence LIMIT \(limit)
                    """,
                    logger: logger
                )
                let records = try await Self.decode(rows)
                let through = records.count < limit ? last : (records.last?.sequence ?? last)
                return Batch(records: records, through: through, isRetry: true)
            }
            let rows = try await connection.run(
                """
                WITH next AS (
                    SELECT id FROM strata.outbox WHERE sequence IS NULL ORDER BY id LIMIT \(limit) FOR UPDATE
                ), numbered AS (
                    SELECT id, \(last) + row_number() OVER (ORDER BY id) AS position FROM next
                )
                UPDATE strata.outbox AS o SET sequence = n.position, sequenced_at = now()
                FROM numbered AS n WHERE o.id = n.id
                RETURNING o.id, o.sequence, o.occurred_at, o.app, o.aggregate_type, o.aggregate_id, o.kind, o.payload::text,
                          o.actor, o.request_id, o.cache_keys
                """,
                logger: logger
            )
            let records = try await Self.decode(rows).sorted { ($0.sequence ?? 0) < ($1.sequence ?? 0) }
            let through = last + Int64(records.count)
            if !records.isEmpty {
                try await connection.run(
                    "UPDATE strata.outbox_relay SET last_sequence = \(through), updated_at = now() WHERE name = 'main'",
                    logger: logger
                )
            }
            return Batch(records: records, through: through, isRetry: false)
        }
    }

    /// Records positions up to `through` as published.
    public func markPublished(through: Int64) async throws {
        try await pool.query(
            """
            UPDATE strata.outbox_relay
            SET published_sequence = greatest(published_sequence, least(\(through), last_sequence)), updated_at = now()
            WHERE name = 'main'
            """
        )
    }

    /// The relay's progress.
    public func progress() async throws -> Progress {
        let rows = try await pool.query(
            """
            SELECT r.last_sequence, r.published_sequence,
                   (SELECT count(*) FROM strata.outbox WHERE sequence IS NULL),
                   (SELECT min(occurred_at) FROM strata.outbox WHERE sequence IS NULL)
            FROM strata.outbox_relay AS r WHERE r.name = 'main'
            """
        )
        for row in rows {
            let (last, published, unsequenced, oldest) = try row.decode((Int64, Int64, Int64, Date?).self)
            return Progress(lastSequence: last, publishedSequence: published, unsequenced: unsequenced, oldestUnsequencedAt: oldest)
        }
        throw StrataError(.notReady, "The outbox relay's state row is missing; run `strata migrate`.")
    }

    /// Published events of one app after a position, by position: what a live reader catches
    /// up from.
    /// - Parameters:
    ///   - app: The app.
    ///   - after: Events after this position.
    ///   - aggregateID: Only this aggregate's events.
    ///   - limit: The most events to return.
    public func published(app: String, after: Int64, aggregateID: String? = nil, limit: Int = 500) async throws -> [OutboxRecord] {
        let rows = try await pool.withConnection { connection in
            try await connection.run(
                """
                SELECT \(unescaped: Self.columns) FROM strata.outbox
                WHERE app = \(app) AND sequence > \(after)
                  AND sequence <= (SELECT published_sequence FROM strata.outbox_relay WHERE name = 'main')
                  AND (\(aggregateID)::text IS NULL OR aggregate_id = \(aggregateID))
                ORDER BY sequence LIMIT \(limit)
                """,
                logger: pool.statementLogger
            ).collect()
        }
        return try rows.map(Self.record)
    }

    /// The highest published position.
    public func publishedSequence() async throws -> Int64 {
        let rows = try await pool.query("SELECT published_sequence FROM strata.outbox_relay WHERE name = 'main'")
        return try rows.first?.decode(Int64.self) ?? 0
    }

    /// Queues an app's events from `fromID` on to be published again: they get new positions
    /// after every current one, in id order, and consumers see them again (they de-duplicate
    /// on the outbox id). Events already removed by the replay window are gone.
    /// - Returns: How many events will be published again.
    @discardableResult
    public func replay(app: String, fromID: Int64) async throws -> Int {
        guard OutboxEvent.isAppName(app) else {
            throw StrataError(.invalidValue, "'\(app)' is not an app name.", details: ["field": "app"])
        }
        let rows = try await pool.query(
            """
            WITH replayed AS (
                UPDATE strata.outbox SET sequence = NULL, sequenced_at = NULL
                WHERE app = \(app) AND id >= \(fromID) AND sequence IS NOT NULL
                RETURNING 1
            ), wake AS (SELECT pg_notify(\(OutboxWriter.channel), ''))
            SELECT count(*) FROM replayed, wake
            """
        )
        return Int(try rows.first?.decode(Int64.self) ?? 0)
    }

    /// Deletes published events appended before `cutoff`, at most `limit` of them.
    /// - Returns: How many were deleted.
    @discardableResult
    public func deletePublished(before cutoff: Date, limit: Int) async throws -> Int {
        let rows = try await pool.query(
            """
            WITH doomed AS (
                SELECT id FROM strata.outbox
                WHERE sequence <= (SELECT published_sequence FROM strata.outbox_relay WHERE name = 'main')
                  AND occurred_at < \(cutoff)
                ORDER BY sequence LIMIT \(limit)
            ), deleted AS (
                DELETE FROM strata.outbox WHERE id IN (SELECT id FROM doomed) RETURNING 1
            )
            SELECT count(*) FROM deleted
            """
        )
        return Int(try rows.first?.decode(Int64.self) ?? 0)
    }

    static func decode(_ rows: PostgresRowSequence) async throws -> [OutboxRecord] {
        var records: [OutboxRecord] = []
        for try await row in rows { records.append(try record(row)) }
        return records
    }

    static func record(_ row: PostgresRow) throws -> OutboxRecord {
        let (id, sequence, occurredAt, app, aggregateType, aggregateID, kind, payload, actor, requestID, cacheKeys) = try row.decode(
            (Int64, Int64?, Date, String, String, String, String, String, String?, String?, [String]).self
        )
        return OutboxRecord(
            id: id,
            sequence: sequence,
            occurredAt: occurredAt,
            event: OutboxEvent(
                app: app,
                aggregateType: aggregateType,
                aggregateID: aggregateID,
                kind: kind,
                payloadJSON: payload,
                actor: actor,
                requestID: requestID,
                cacheKeys: cacheKeys
            )
        )
    }
}
