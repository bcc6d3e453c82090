import ArgumentParser
import Foundation
import Logging
import StrataCore
import StrataPostgres
import StrataServer

/// `strata backup create | list | verify | drill | restore | expire`: logical backups with
/// `pg_dump`, recorded in `strata.backups`.
struct Backup: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Backups: take, list, verify, restore and expire them (BACKUP_LOCATION, BACKUP_RETENTION_DAYS, BACKUP_COMPRESS).",
        subcommands: [Create.self, List.self, Verify.self, Drill.self, Restore.self, Expire.self]
    )

    /// Runs `body` with the logical backups of the configured database (settings from the
    /// environment and flags).
    static func withBackups<T: Sendable>(
        _ options: GlobalOptions,
        _ body: @Sendable (LogicalBackup, BackupConfiguration) async throws -> T
    ) async throws -> T {
        let (configuration, logger) = try options.configuration(defaultLogLevel: "warning")
        let backups = try BackupConfiguration(environment: options.environment(), home: configuration.home)
        return try await withDatabase(configuration, logger: logger) { pool, _ in
            try await body(LogicalBackup(pool: pool, configuration: backups, logger: logger), backups)
        }
    }

    /// One backup as a line of `list`.
    static func row(_ backup: BackupRecord) -> [String] {
        func outcome(_ at: Date?, _ passed: Bool?) -> String { at.map { "\(Self.time($0)) \(passed == true ? "passed" : "FAILED")" } ?? "never" }
        return [
            "\(backup.id)", backup.kind, backup.status, time(backup.startedAt), backup.finishedAt.map(time) ?? "-",
            backup.sizeBytes.map(megabytes) ?? "-", outcome(backup.lastVerifiedAt, backup.lastVerificationPassed),
            outcome(backup.lastDrilledAt, backup.lastDrillPassed), backup.status == "failed" ? (backup.error ?? "") : backup.location,
        ]
    }

    static func time(_ date: Date) -> String {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime]
        return formatter.string(from: date)
    }

    static func megabytes(_ bytes: Int64) -> String { String(format: "%.1f MB", Double(bytes) / 1_048_576) }

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Take a backup: --type logical runs pg_dump (custom format) into BACKUP_LOCATION as strata_backup_YYYYMMDD_HHMMSS.dump."
        )
        @OptionGroup var options: GlobalOptions

        @Option(help: "logical (pg_dump). Physical backups (full, diff, incr) are not available yet.")
        var type = "logical"

        func run() async throws {
            try await Strata.guarded {
                guard type == "logical" else {
                    throw StrataError(
                        .invalidValue,
                        "--type \(type): only logical backups can be taken yet (physical full/diff/incr with pgBackRest are not built).",
                        details: ["field": "type"]
                    )
                }
                let taken = try await Backup.withBackups(options) { backup, _ in try await backup.create() }
                let seconds = taken.finishedAt.map { $0.timeIntervalSince(taken.startedAt) } ?? 0
                print("backup \(taken.id): \(taken.location)")
                print(
                    "taken \(Backup.time(taken.startedAt)) in \(String(format: "%.1f", seconds)) s, \(Backup.megabytes(taken.sizeBytes ?? 0)) (\(taken.sizeBytes ?? 0) bytes)"
                )
            }
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List backups, newest first, with their last verification.")
        @OptionGroup var options: GlobalOptions

        @Option(help: "How many (1…1000).")
        var limit = 50

        @Flag(help: "Print JSON instead of a table.")
        var json = false

        func run() async throws {
            try await Strata.guarded {
                guard (1...1000).contains(limit) else {
                    throw StrataError(.invalidValue, "--limit must be within 1…1000.", details: ["field": "limit"])
                }
                let backups = try await Backup.withBackups(options) { backup, _ in try await backup.list(limit: limit) }
                if json {
                    print(String(decoding: try JSONEncoder.api(pretty: true).encode(backups), as: UTF8.self))
                    return
                }
                printColumns(
                    header: ["ID", "TYPE", "STATUS", "STARTED", "FINISHED", "SIZE", "LAST VERIFIED", "LAST DRILL", "LOCATION / ERROR"],
                    rows: backups.map(Backup.row)
                )
            }
        }
    }

    struct Verify: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract:
                "Check a backup (the newest by default): its file and size, pg_restore --list over it, and its age against BACKUP_INTERVAL; exits 1 when it fails."
        )
        @OptionGroup var options: GlobalOptions

        @Option(name: .customLong("set"), help: "The backup id (see `strata backup list`).")
        var id: Int64?

        func run() async throws {
            try await Strata.guarded {
                let result = try await Backup.withBackups(options) { backup, _ in try await backup.verify(id: id) }
                print("backup \(result.backup.id) (\(result.backup.location)): \(result.entries) entries, \(result.tables) tables with data")
                guard result.passed else {
                    for problem in result.problems { print("FAILED: \(problem)") }
                    throw ExitCode.failure
                }
                print("passed")
            }
        }
    }

    struct Drill: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract:
                "Restore a backup (the newest by default) into a scratch database, compare every table with its manifest, run pg_amcheck, record the result and drop the copy; exits 1 when it fails."
        )
        @OptionGroup var options: GlobalOptions

        @Option(name: .customLong("set"), help: "The backup id (see `strata backup list`).")
        var id: Int64?

        func run() async throws {
            try await Strata.guarded {
                let drill = try await Backup.withBackups(options) { backup, _ in try await backup.drill(id: id) }
                let seconds = drill.restoreSeconds.map { String(format: "%.1f s", $0) } ?? "-"
                print(
                    "drill \(drill.id) of backup \(drill.backup.id): restored in \(seconds), \(drill.tablesCompared) tables compared, \(drill.differing.count) differing"
                )
                for table in drill.differing { print("DIFFERS: \(table)") }
                for problem in drill.problems { print("FAILED: \(problem)") }
                guard drill.passed else { throw ExitCode.failure }
                print("passed")
            }
        }
    }

    struct Restore: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract:
                "Restore a logical backup into a new database of the same server (one transaction, stopping at the first error); the live database is never overwritten."
        )
        @OptionGroup var options: GlobalOptions

        @Option(name: .customLong("logical"), help: "The dump file.")
        var file: String

        @Option(help: "The new database to restore into.")
        var into: String

        func run() async throws {
            try await Strata.guarded {
                let restored = try await Backup.withBackups(options) { backup, _ in try await backup.restore(file: file, into: into) }
                print(
                    "restored \(file) into database \(restored.database): \(restored.tables) tables with data in \(String(format: "%.1f", restored.duration.secondsDouble)) s"
                )
            }
        }
    }

    struct Expire: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Remove logical backups older than BACKUP_RETENTION_DAYS (their rows stay, marked expired)."
        )
        @OptionGroup var options: GlobalOptions

        @Flag(help: "Only say what would go.")
        var dryRun = false

        func run() async throws {
            try await Strata.guarded {
                let (expired, days) = try await Backup.withBackups(options) { backup, settings in
                    (try await backup.expire(dryRun: dryRun), settings.retentionDays)
                }
                let verb = dryRun ? "would expire" : "expired"
                print("\(verb) \(expired.count) backup(s) older than \(days) days")
                for backup in expired { print("  \(backup.id)  \(Backup.time(backup.startedAt))  \(backup.location)") }
            }
        }
    }
}
