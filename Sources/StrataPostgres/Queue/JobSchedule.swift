public import Foundation
public import Logging
public import PostgresNIO
public import StrataCore

/// A job enqueued on a schedule: every ``Timing/every(_:)`` interval (slots aligned to the Unix
/// epoch: every hour on the hour, every 5 minutes on :00, :05 …) or at the minutes a
/// ``CronExpression`` names (UTC). Each slot fires once across every server: the slot is
/// recorded in `strata.job_schedules` in the same transaction that enqueues its job. A server
/// that was down fires the latest missed slot once when it is back, not every missed one.
public struct JobSchedule: Sendable {
    /// When a schedule fires.
    public enum Timing: Sendable {
        case every(Duration)
        case cron(CronExpression)
    }

    public var name: String
    public var timing: Timing
    public var job: NewJob

    public init(name: String, every interval: Duration, job: NewJob) {
        self.name = name
        self.timing = .every(interval)
        self.job = job
    }

    /// A schedule from a cron expression (`"30 2 * * *"`: 02:30 UTC daily).
    /// - Throws: `invalid_value` for a malformed expression.
    public init(name: String, cron: String, job: NewJob) throws {
        self.name = name
        self.timing = .cron(try CronExpression(cron))
        self.job = job
    }

    /// The latest slot at or before `date` (`nil` when a cron expression has none).
    public func slot(containing date: Date) -> Date? {
        switch timing {
        case .every(let interval):
            let seconds = max(1, interval.secondsDouble)
            return Date(timeIntervalSince1970: (date.timeIntervalSince1970 / seconds).rounded(.down) * seconds)
        case .cron(let expression):
            return expression.latestMatch(atOrBefore: date)
        }
    }

    /// Enqueues this slot's job unless some server already did.
    /// - Returns: The job's id when this call fired the slot.
    @discardableResult
    public func fireIfDue(now: Date = Date(), on connection: PostgresConnection, logger: Logger) async throws -> Int64? {
        guard let slot = slot(containing: now) else { return nil }
        let claimed = try await connection.run(
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
