public import Foundation
public import Logging
public import PostgresNIO
import StrataCore

/// A job enqueued every ``interval`` (slots aligned to the Unix epoch: every hour on the hour,
/// every 5 minutes on :00, :05 …). Each slot fires once across every server: the slot is
/// recorded in `strata.job_schedules` in the same transaction that enqueues its job.
public struct JobSchedule: Sendable {
    public var name: String
    public var interval: Duration
    public var job: NewJob

    public init(name: String, every interval: Duration, job: NewJob) {
        self.name = name
        self.interval = interval
        self.job = job
    }

    /// The start of the slot that contains `date`.
    public func slot(containing date: Date) -> Date {
        let seconds = max(1, interval.secondsDouble)
        return Date(timeIntervalSince1970: (date.timeIntervalSince1970 / seconds).rounded(.down) * seconds)
    }

    /// Enqueues this slot's job unless some server already did.
    /// - Returns: The job's id when this call fired the slot.
    @discardableResult
    public func fireIfDue(now: Date = Date(), on connection: PostgresConnection, logger: Logger) async throws -> Int64? {
        let slot = slot(containing: now)
        let claimed = try await connection.query(
            """
            INSERT INTO strata.job_schedules (name, last_slot_at) VALUES (\(name), \(slot))
            ON CONFLICT (name) DO UPDATE SET last_slot_at = excluded.last_slot_at, updated_at = now()
            WHERE strata.job_schedules.last_slot_at < excluded.last_slot_at
            RETURNING 1
            """,
            logger: logger
        ).collect()
        guard !claimed.isEmpty else { return nil }
        var job = job
        job.uniqueKey = job.uniqueKey ?? "\(name)@\(Int64(slot.timeIntervalSince1970))"
        return try await JobQueue().enqueue(job, on: connection, logger: logger)
    }
}
