import Foundation
public import Logging
import PostgresNIO
import StrataCore

/// The platform's own background work, run on the queue (queue `strata`): hourly removal of
/// expired idempotency keys and of revocations of tokens that have expired anyway, and the
/// logical backup every ``BackupConfiguration/intervalHours`` (which then expires the dumps
/// past their retention) and a restore drill of the newest one every
/// ``BackupConfiguration/drillIntervalDays``.
public enum PlatformJobs {
    /// The queue the platform's jobs use.
    public static let queue = "strata"

    /// The kind of the scheduled logical backup.
    public static let logicalBackup = "strata.backup.logical"
    /// The kind of the scheduled restore drill.
    public static let backupDrill = "strata.backup.drill"
    /// The kind of the hourly check that backups, verifications and drills are on time.
    public static let backupWatch = "strata.backup.watch"
    /// The kinds of the scheduled physical backups (pgBackRest; the full one then applies the
    /// retention policy).
    public static let fullBackup = "strata.backup.full"
    public static let incrementalBackup = "strata.backup.incr"

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
            handlers[backupDrill] = { _ in
                // The physical backups when there are any (the embedded cluster), and the newest
                // logical one when there is one.
                var results: [String] = []
                if backups.physical != nil, PgBackRest.isInstalled {
                    let drill = try await PhysicalBackup(pool: pool, configuration: backups, logger: logger).drill(
                        restores: try PhysicalRestore(configuration: backups, logger: logger)
                    )
                    results.append(#"{"drill_id":\#(drill.id),"backup_id":\#(drill.backup.id),"passed":\#(drill.passed)}"#)
                }
                if try await BackupStore(pool: pool).newest(kind: "logical") != nil {
                    let drill = try await LogicalBackup(pool: pool, configuration: backups, logger: logger).drill()
                    results.append(#"{"drill_id":\#(drill.id),"backup_id":\#(drill.backup.id),"passed":\#(drill.passed)}"#)
                }
                return "[" + results.joined(separator: ",") + "]"
            }
            if backups.physical != nil {
                handlers[fullBackup] = { _ in
                    let backup = try PhysicalBackup(pool: pool, configuration: backups, logger: logger)
                    let taken = try await backup.create(.full)
                    let expired = try await backup.expire()
                    return #"{"backup_id":\#(taken.id),"label":"\#(taken.label ?? "")","expired":\#(expired.count)}"#
                }
                handlers[incrementalBackup] = { _ in
                    let taken = try await PhysicalBackup(pool: pool, configuration: backups, logger: logger).create(.incr)
                    return #"{"backup_id":\#(taken.id),"label":"\#(taken.label ?? "")"}"#
                }
            }
            handlers[backupWatch] = { _ in
                let problems = try await BackupStatus.collect(from: pool).problems(configuration: backups)
                for problem in problems { logger.error("backups are not as the policy promises: \(problem)") }
                return #"{"problems":\#(problems.count)}"#
            }
        }
        return handlers
    }

    /// Their schedules: the sweeps hourly, the logical backup every
    /// ``BackupConfiguration/intervalHours`` and the drill every
    /// ``BackupConfiguration/drillIntervalDays`` when `backups` is given and enabled; with the
    /// embedded cluster and pgBackRest installed, full and incremental backups on their cron
    /// schedules (``BackupConfiguration/Physical/fullSchedule``, ``BackupConfiguration/Physical/incrementalSchedule``).
    public static func schedules(backups: BackupConfiguration? = nil) -> [JobSchedule] {
        var schedules = sweeps
        if let backups, backups.enabled, let physical = backups.physical, PgBackRest.isInstalled {
            // The expressions were validated when the configuration was read.
            if let full = try? JobSchedule(
                name: fullBackup,
                cron: physical.fullSchedule,
                job: NewJob(queue: queue, kind: fullBackup, priority: 4, maxAttempts: 3)
            ) {
                schedules.append(full)
            }
            if let incremental = try? JobSchedule(
                name: incrementalBackup,
                cron: physical.incrementalSchedule,
                job: NewJob(queue: queue, kind: incrementalBackup, priority: 4, maxAttempts: 2)
            ) {
                schedules.append(incremental)
            }
        }
        if let backups, backups.enabled {
            schedules.append(
                JobSchedule(
                    name: logicalBackup,
                    every: .seconds(3600 * backups.intervalHours),
                    job: NewJob(queue: queue, kind: logicalBackup, priority: 5, maxAttempts: 3)
                )
            )
            schedules.append(
                JobSchedule(name: backupWatch, every: .seconds(3600), job: NewJob(queue: queue, kind: backupWatch, priority: 3, maxAttempts: 1))
            )
            schedules.append(
                JobSchedule(
                    name: backupDrill,
                    every: .seconds(86_400 * backups.drillIntervalDays),
                    job: NewJob(queue: queue, kind: backupDrill, priority: 6, maxAttempts: 1)
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
