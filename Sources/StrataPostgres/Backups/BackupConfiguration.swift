public import Foundation
public import StrataCore

/// Backups: logical ones (seed 004's `BackupConfig`: where the dumps go, how often the platform
/// queue takes one, how long they are kept, and whether they are compressed) and physical ones
/// of the embedded cluster with pgBackRest (seed 002's policy: a full daily kept 30 days, an
/// incremental hourly kept 7 days, WAL archived continuously and kept 7 days).
///
/// | Variable | Default | Meaning |
/// |---|---|---|
/// | `BACKUP_ENABLED` | `true` | `false` takes no scheduled backup |
/// | `BACKUP_LOCATION` | `$STRATA_HOME/backups/logical` | the folder of the dump files |
/// | `BACKUP_INTERVAL` | `24` | hours between scheduled logical backups |
/// | `BACKUP_RETENTION_DAYS` | `30` | days a dump is kept before `expire` removes it |
/// | `BACKUP_COMPRESS` | `true` | `pg_dump --compress=9` (`false`: 0) |
/// | `BACKUP_DRILL_INTERVAL` | `7` | days between scheduled restore drills of the newest backup |
/// | `BACKUP_REPO_PATH` | `$STRATA_HOME/backups/pgbackrest` | the pgBackRest repository (physical backups and archived WAL) |
/// | `BACKUP_ARCHIVE_TIMEOUT` | `60` | seconds after which a WAL segment is archived even when not full (the recovery point) |
/// | `BACKUP_SCHEDULE_FULL` | `0 1 * * *` | cron schedule of full backups |
/// | `BACKUP_SCHEDULE_INCR` | `0 * * * *` | cron schedule of incremental backups |
/// | `BACKUP_RETENTION_FULL_DAYS` | `30` | days a full backup (and what depends on it) is kept |
/// | `BACKUP_RETENTION_INCR_DAYS` | `7` | days a differential or incremental backup is kept |
/// | `BACKUP_RETENTION_WAL_DAYS` | `7` | days of archived WAL kept for point-in-time restore |
public struct BackupConfiguration: Sendable, Equatable {
    /// Whether the schedule takes backups.
    public var enabled: Bool
    /// The folder of the dump files.
    public var location: String
    /// Hours between scheduled backups.
    public var intervalHours: Int
    /// Days a dump is kept.
    public var retentionDays: Int
    /// Whether dumps are compressed (level 9, as the seed's `compress` flag asks).
    public var compress: Bool
    /// Days between scheduled restore drills.
    public var drillIntervalDays: Int
    /// The `pg_dump` and `pg_restore` to use, when not found next to the server's programs
    /// (the newest `/usr/lib/postgresql/<major>/bin`, then `PATH`).
    public var toolsDirectory: String?
    /// The physical backups' settings; nil against an external `DATABASE_URL`, whose data
    /// folder Strata cannot reach (logical backups only).
    public var physical: Physical?

    /// Physical backups of the embedded cluster with pgBackRest.
    public struct Physical: Sendable, Equatable {
        /// The embedded cluster's folder (its `data/` is what is backed up).
        public var clusterDirectory: String
        /// The pgBackRest repository.
        public var repositoryPath: String
        /// pgBackRest's log and lock files.
        public var stateDirectory: String
        /// Side-by-side restored copies live in subfolders of this one.
        public var restoresDirectory: String
        /// `archive_timeout` in seconds: the most a committed write waits to be archived.
        public var archiveTimeoutSeconds: Int
        /// Cron schedules of full and incremental backups.
        public var fullSchedule: String
        public var incrementalSchedule: String
        /// Days full backups, differential/incremental backups and archived WAL are kept.
        public var fullRetentionDays: Int
        public var incrementalRetentionDays: Int
        public var walRetentionDays: Int

        public init(
            clusterDirectory: String,
            repositoryPath: String,
            stateDirectory: String,
            restoresDirectory: String,
            archiveTimeoutSeconds: Int = 60,
            fullSchedule: String = "0 1 * * *",
            incrementalSchedule: String = "0 * * * *",
            fullRetentionDays: Int = 30,
            incrementalRetentionDays: Int = 7,
            walRetentionDays: Int = 7
        ) {
            self.clusterDirectory = clusterDirectory
            self.repositoryPath = repositoryPath
            self.stateDirectory = stateDirectory
            self.restoresDirectory = restoresDirectory
            self.archiveTimeoutSeconds = archiveTimeoutSeconds
            self.fullSchedule = fullSchedule
            self.incrementalSchedule = incrementalSchedule
            self.fullRetentionDays = fullRetentionDays
            self.incrementalRetentionDays = incrementalRetentionDays
            self.walRetentionDays = walRetentionDays
        }

        /// Everything in one folder: the cluster in `postgres/`, the repository in `repo/`,
        /// pgBackRest's state in `state/`, restored copies in `restores/` (throw-away clusters
        /// of tests and benchmarks).
        public init(folder: String, archiveTimeoutSeconds: Int = 60) {
            self.init(
                clusterDirectory: folder + "/postgres",
                repositoryPath: folder + "/repo",
                stateDirectory: folder + "/state",
                restoresDirectory: folder + "/restores",
                archiveTimeoutSeconds: archiveTimeoutSeconds
            )
        }

        /// The embedded cluster's data folder.
        public var dataDirectory: String { "\(clusterDirectory)/data" }

        /// The policy's complaint about the newest full or incremental backup (nil: on time):
        /// older than twice its schedule's period allows (a day for fulls, an hour for
        /// incrementals, when the schedules are the defaults' daily and hourly kinds).
        public func overdue(kind: String, finishedAt: Date?, now: Date) -> String? {
            let allowed: TimeInterval = kind == "full" ? 2 * 86_400 : 2 * 3_600
            let schedule = kind == "full" ? fullSchedule : incrementalSchedule
            guard let finishedAt else { return "no \(kind) backup has been taken (schedule \(schedule))" }
            let age = now.timeIntervalSince(finishedAt)
            guard age > allowed else { return nil }
            return "the newest \(kind) backup is \(Int(age / 3600)) h old; the policy allows \(Int(allowed / 3600)) h"
        }
    }

    public init(
        enabled: Bool = true,
        location: String,
        intervalHours: Int = 24,
        retentionDays: Int = 30,
        compress: Bool = true,
        drillIntervalDays: Int = 7,
        toolsDirectory: String? = nil,
        physical: Physical? = nil
    ) {
        self.physical = physical
        self.drillIntervalDays = drillIntervalDays
        self.enabled = enabled
        self.location = location
        self.intervalHours = intervalHours
        self.retentionDays = retentionDays
        self.compress = compress
        self.toolsDirectory = toolsDirectory
    }

    /// The policy's complaint about a newest backup that finished at `finishedAt` (nil: none
    /// yet, or not older than twice ``intervalHours``); `strata backup verify` and the hourly
    /// watch (``BackupStatus``) say it alike.
    public func overdueBackup(finishedAt: Date?, now: Date) -> String? {
        guard let finishedAt, now.timeIntervalSince(finishedAt) > TimeInterval(intervalHours * 2 * 3600) else { return nil }
        return "the newest logical backup is \(Int(now.timeIntervalSince(finishedAt) / 3600)) h old; the policy allows \(intervalHours * 2) h"
    }

    /// Reads the variables of the table above (and `BACKUP_TOOLS_DIRECTORY`); physical backups
    /// are configured when `DATABASE_URL` is unset (the embedded cluster under `home`).
    /// - Throws: `invalid_configuration` naming the variable.
    public init(environment: EnvironmentReader, home: String) throws {
        var physical: Physical?
        for key in ["BACKUP_SCHEDULE_FULL", "BACKUP_SCHEDULE_INCR"] {
            if let text = environment.string(key), (try? CronExpression(text)) == nil {
                throw environment.invalid(key, text, allowed: "a cron expression such as \"0 1 * * *\" (minute hour day month weekday, UTC)")
            }
        }
        if environment.string("DATABASE_URL") == nil {
            physical = Physical(
                clusterDirectory: home + "/postgres",
                repositoryPath: environment.string("BACKUP_REPO_PATH", default: home + "/backups/pgbackrest"),
                stateDirectory: home + "/backups/pgbackrest-state",
                restoresDirectory: home + "/restores",
                archiveTimeoutSeconds: try environment.int("BACKUP_ARCHIVE_TIMEOUT", default: 60, in: 1...86_400),
                fullSchedule: environment.string("BACKUP_SCHEDULE_FULL", default: "0 1 * * *"),
                incrementalSchedule: environment.string("BACKUP_SCHEDULE_INCR", default: "0 * * * *"),
                fullRetentionDays: try environment.int("BACKUP_RETENTION_FULL_DAYS", default: 30, in: 1...36_500),
                incrementalRetentionDays: try environment.int("BACKUP_RETENTION_INCR_DAYS", default: 7, in: 1...36_500),
                walRetentionDays: try environment.int("BACKUP_RETENTION_WAL_DAYS", default: 7, in: 1...36_500)
            )
        }
        self.init(
            enabled: try environment.bool("BACKUP_ENABLED", default: true),
            location: environment.string("BACKUP_LOCATION", default: home + "/backups/logical"),
            intervalHours: try environment.int("BACKUP_INTERVAL", default: 24, in: 1...8760),
            retentionDays: try environment.int("BACKUP_RETENTION_DAYS", default: 30, in: 1...36_500),
            compress: try environment.bool("BACKUP_COMPRESS", default: true),
            drillIntervalDays: try environment.int("BACKUP_DRILL_INTERVAL", default: 7, in: 1...365),
            toolsDirectory: environment.string("BACKUP_TOOLS_DIRECTORY"),
            physical: physical
        )
    }
}
