import Foundation
import PostgresNIO
import StrataCore

/// The platform's own background work, run on the queue (queue `strata`): hourly removal of
/// expired idempotency keys and of revocations of tokens that have expired anyway.
public enum PlatformJobs {
    /// The queue the platform's jobs use.
    public static let queue = "strata"

    /// Handlers by kind.
    public static func handlers(pool: PostgresPool) -> [String: JobHandler] {
        [
            "strata.idempotency_keys.expire": { _ in
                let removed = try await Batches.drain(size: 1000) { try await IdempotencyStore(pool: pool).deleteExpired(limit: 1000) }
                return #"{"removed":\#(removed)}"#
            },
            "strata.revoked_tokens.expire": { _ in
                let rows = try await pool.query(
                    "WITH gone AS (DELETE FROM strata.revoked_tokens WHERE expires_at < now() RETURNING 1) SELECT count(*) FROM gone"
                )
                return #"{"removed":\#(try rows.first?.decode(Int64.self) ?? 0)}"#
            },
        ]
    }

    /// Their schedules (hourly).
    public static let schedules: [JobSchedule] = [
        JobSchedule(
            name: "strata.idempotency_keys.expire",
            every: .seconds(3600),
            job: NewJob(queue: queue, kind: "strata.idempotency_keys.expire", priority: 3)
        ),
        JobSchedule(
            name: "strata.revoked_tokens.expire",
            every: .seconds(3600),
            job: NewJob(queue: queue, kind: "strata.revoked_tokens.expire", priority: 3)
        ),
    ]
}
