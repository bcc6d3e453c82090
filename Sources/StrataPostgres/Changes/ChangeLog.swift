public import Logging
public import PostgresNIO
import StrataCore

/// The one way a change is recorded: its events, audit entry and jobs (``Change``), written on
/// the caller's transaction's connection beside the change's own statements, so that all of it
/// commits or none of it does.
///
/// ```swift
/// try await pool.withTransaction { connection in
///     let task = try await tasks.cancel(id, on: connection)          // the domain statement
///     try await ChangeLog.record(.cancelled(task), by: caller, on: connection, logger: logger)
/// }
/// ```
///
/// A change of one event, with or without its audit entry, jobs and status transitions (of one
/// history), takes one round trip; more events take one more (their aggregates' locks, in a
/// fixed order), an audit entry and jobs beside several events one each, and status
/// transitions one per history table.
public enum ChangeLog {
    /// Records `change` for `caller` in the transaction of `connection`, and marks the
    /// caller's request as audited when it has an audit entry.
    /// - Throws: `invalid_value` for a malformed event, record or job; database errors as
    ///   ``StrataError``.
    public static func record(_ change: Change, by caller: Caller, on connection: PostgresConnection, logger: Logger) async throws {
        let change = change.completed(by: caller)
        let histories = Set(change.transitions.map(\.history))
        if change.events.count == 1, histories.count == 1, let history = histories.first {
            try await recordInOneStatement(change.events[0], change, history: history, on: connection, logger: logger)
        } else if change.events.count == 1 {
            let event = change.events[0]
            switch (change.audit, change.jobs.isEmpty) {
            case (nil, true):
                try await OutboxWriter().append(event, on: connection, logger: logger)
            case (let record?, true):
                try await OutboxWriter().append(event, auditing: record, on: connection, logger: logger)
            case (let record, false):
                try await OutboxWriter().append(event, auditing: record, enqueueing: change.jobs, on: connection, logger: logger)
            }
        } else {
            try await OutboxWriter().append(change.events, on: connection, logger: logger)
            if let record = change.audit { try await AuditWriter().record(record, on: connection, logger: logger) }
            try await JobQueue().enqueue(change.jobs, on: connection, logger: logger)
        }
        if change.events.count != 1 || histories.count > 1 {
            for history in histories.sorted(by: { $0.table < $1.table }) {
                try await history.append(change.transitions.filter { $0.history == history }, on: connection, logger: logger)
            }
        }
        if change.audit != nil { caller.audit.markRecorded() }
    }

    /// A change of one event whose status transitions go to one history: the event, its audit
    /// entry and jobs as their prepared statements write them, and the transitions, in one
    /// statement (not prepared: the history's table is the app's) — a status change takes one
    /// round trip fewer.
    private static func recordInOneStatement(
        _ event: OutboxEvent,
        _ change: Change,
        history: StatusHistory,
        on connection: PostgresConnection,
        logger: Logger
    ) async throws {
        try event.validate()
        if let record = change.audit { try AuditWriter().validate(record) }
        for job in change.jobs { try JobQueue.validate(job) }
        var parts: [String] = []
        var bindings = PostgresBindings()
        func embed<Statement: EmbeddableStatement>(_ name: String, _ statement: Statement) {
            parts.append("\(name) AS (\(Statement.statement(parametersFrom: bindings.count + 1)))")
            statement.appendBindings(to: &bindings)
        }
        embed("event", AppendOutboxEvent(event: event, wake: WakeThrottle.relay.claim()))
        if let record = change.audit { embed("audit", InsertAuditRecord(record: record)) }
        if !change.jobs.isEmpty { embed("jobs", EnqueueJobs(jobs: change.jobs)) }
        parts.append("history AS (\(history.insertStatement(parametersFrom: bindings.count + 1)))")
        history.appendBindings(of: change.transitions, to: &bindings)
        try await connection.run(
            PostgresQuery(unsafeSQL: "WITH " + parts.joined(separator: ", ") + " SELECT id FROM event", binds: bindings),
            logger: logger
        )
    }
}
