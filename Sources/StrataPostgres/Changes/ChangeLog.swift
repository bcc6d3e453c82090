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
        var histories = Set(change.transitions.map(\.history)).sorted { $0.table < $1.table }
        if change.events.count == 1 {
            let event = change.events[0]
            switch (change.audit, change.jobs.isEmpty, histories.count) {
            case (let record, _, 1):
                // A status change: one statement with its transitions too.
                try await OutboxWriter().append(
                    event,
                    auditing: record,
                    enqueueing: change.jobs,
                    transitions: change.transitions,
                    of: histories.removeFirst(),
                    on: connection,
                    logger: logger
                )
            case (nil, true, _):
                try await OutboxWriter().append(event, on: connection, logger: logger)
            case (let record?, true, _):
                try await OutboxWriter().append(event, auditing: record, on: connection, logger: logger)
            case (let record, false, _):
                try await OutboxWriter().append(event, auditing: record, enqueueing: change.jobs, on: connection, logger: logger)
            }
        } else {
            try await OutboxWriter().append(change.events, on: connection, logger: logger)
            if let record = change.audit { try await AuditWriter().record(record, on: connection, logger: logger) }
            try await JobQueue().enqueue(change.jobs, on: connection, logger: logger)
        }
        for history in histories {
            try await history.append(change.transitions.filter { $0.history == history }, on: connection, logger: logger)
        }
        if change.audit != nil { caller.audit.markRecorded() }
    }
}
