import Foundation
public import Logging
import PostgresNIO
import StrataCore

/// The platform's own background work, run on the queue (queue `strata`): hourly removal of
/// expired idempotency keys and of revocations of tokens that have expired anyway, and the
/// logical backup every ``BackupConfiguration/intervalHours`` (which then expires the dumps
/// past their retention).
public enum PlatformJobs {
    /// The queue the platform's jobs use.
    public static let queue = "strata"

    /// The kind of the scheduled logical backup.
    public static let logicalBackup = "strata.backup.logical"

    /// Handlers by kind (the backup's when `backups` is given).
    public static func handlers(pool: PostgresPool, backups: BackupConfiguration? = nil, logger: Logger) -> [String: JobHandler] {
        var handlers: [String: JobHandler] = [
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
        if let backups {
            handlers[logicalBackup] = { _ in
                let backup = LogicalBackup(pool: pool, configuration: backups, logger: logger)
                let taken = try await backup.create()
                let expired = try await backup.expire()
                return #"{"backup_id":\#(taken.id),"bytes":\#(taken.sizeBytes ?? 0),"expired":\#(expired.count)}"#
            }
        }
        return handlers
    }

    /// Their schedules: the sweeps hourly, the logical backup every
    /// ``BackupConfiguration/intervalHours`` when `backups` is given and enabled.
    public static func schedules(backups: BackupConfiguration? = nil) -> [JobSchedule] {
        var schedules = sweeps
        if let backups, backups.enabled {
            schedules.append(
                JobSchedule(
                    name: logicalBackup,
                    every: .seconds(3600 * backups.intervalHours),
                    job: NewJob(queue: queue, kind: logicalBackup, priority: 5, maxAttempts: 3)
                )
            )
        }
        return schedules
    }

    private static let sweeps: [JobSchedule] = [
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
