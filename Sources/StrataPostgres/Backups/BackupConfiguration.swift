public import Foundation
public import StrataCore

/// Logical backups (seed 004's `BackupConfig`): where the dumps go, how often the platform
/// queue takes one, how long they are kept, and whether they are compressed.
///
/// | Variable | Default | Meaning |
/// |---|---|---|
/// | `BACKUP_ENABLED` | `true` | `false` takes no scheduled backup |
/// | `BACKUP_LOCATION` | `$STRATA_HOME/backups/logical` | the folder of the dump files |
/// | `BACKUP_INTERVAL` | `24` | hours between scheduled logical backups |
/// | `BACKUP_RETENTION_DAYS` | `30` | days a dump is kept before `expire` removes it |
/// | `BACKUP_COMPRESS` | `true` | `pg_dump --compress=9` (`false`: 0) |
/// | `BACKUP_DRILL_INTERVAL` | `7` | days between scheduled restore drills of the newest backup |
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

    public init(
        enabled: Bool = true,
        location: String,
        intervalHours: Int = 24,
        retentionDays: Int = 30,
        compress: Bool = true,
        drillIntervalDays: Int = 7,
        toolsDirectory: String? = nil
    ) {
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

    /// Reads the variables of the table above (and `BACKUP_TOOLS_DIRECTORY`).
    /// - Throws: `invalid_configuration` naming the variable.
    public init(environment: EnvironmentReader, home: String) throws {
        self.init(
            enabled: try environment.bool("BACKUP_ENABLED", default: true),
            location: environment.string("BACKUP_LOCATION", default: home + "/backups/logical"),
            intervalHours: try environment.int("BACKUP_INTERVAL", default: 24, in: 1...8760),
            retentionDays: try environment.int("BACKUP_RETENTION_DAYS", default: 30, in: 1...36_500),
            compress: try environment.bool("BACKUP_COMPRESS", default: true),
            drillIntervalDays: try environment.int("BACKUP_DRILL_INTERVAL", default: 7, in: 1...365),
            toolsDirectory: environment.string("BACKUP_TOOLS_DIRECTORY")
        )
    }
}
