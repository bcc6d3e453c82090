import ArgumentParser
import Foundation
import Logging
import StrataCore
import StrataPostgres
import StrataServer

#if canImport(Glibc)
import Glibc
#endif

/// `strata backup create | list | verify | drill | restore | expire`: physical backups of the
/// embedded cluster with pgBackRest (full, diff, incr, WAL archiving, point-in-time restore) and
/// logical backups with `pg_dump`, recorded in `strata.backups`.
struct Backup: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Backups: take, list, verify, restore and expire them (BACKUP_REPO_PATH, BACKUP_RETENTION_*, BACKUP_LOCATION, BACKUP_COMPRESS).",
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

    /// Runs `body` with the physical backups of the embedded cluster (started here when no
    /// `strata serve` runs it).
    static func withPhysical<T: Sendable>(_ options: GlobalOptions, _ body: @Sendable (PhysicalBackup) async throws -> T) async throws -> T {
        let (configuration, logger) = try options.configuration(defaultLogLevel: "warning")
        return try await withDatabase(configuration, logger: logger) { pool, _ in
            try await body(try PhysicalBackup(pool: pool, configuration: configuration.backups, logger: logger))
        }
    }

    /// The restores of the configured home (they need no database).
    static func restores(_ options: GlobalOptions) throws -> (PhysicalRestore, ServerConfiguration, Logger) {
        let (configuration, logger) = try options.configuration(defaultLogLevel: "warning")
        return (try PhysicalRestore(configuration: configuration.backups, logger: logger), configuration, logger)
    }

    /// A `strata serve` an in-place restore stopped, as it was started: what starts it again.
    struct StoppedServer {
        var executable: String
        var arguments: [String]
        var environment: [String: String]
        var directory: String

        /// Reads what `/proc` says of the running process `pid`; nil when it cannot be read
        /// (another user's process, or no `/proc`).
        init?(pid: Int32) {
            func fields(_ name: String) -> [String]? {
                guard let data = FileManager.default.contents(atPath: "/proc/\(pid)/\(name)") else { return nil }
                return data.split(separator: 0).map { String(decoding: $0, as: UTF8.self) }
            }
            guard let link = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(pid)/exe"),
                let directory = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(pid)/cwd"),
                let command = fields("cmdline"), let variables = fields("environ"), !command.isEmpty
            else { return nil }
            // A binary replaced since it started (a new build) is started from its path anew.
            self.executable = link.hasSuffix(" (deleted)") ? String(link.dropLast(" (deleted)".count)) : link
            self.arguments = Array(command.dropFirst())
            self.directory = directory
            self.environment = Dictionary(
                variables.compactMap { pair in pair.firstIndex(of: "=").map { (String(pair[..<$0]), String(pair[pair.index(after: $0)...])) } },
                uniquingKeysWith: { _, last in last }
            )
        }

        /// Starts it again as it was started (program, arguments, environment, working folder),
        /// in a session of its own with its output appended to `log`, and waits until it holds
        /// the cluster's folder with the cluster running.
        /// - Returns: The new process's id.
        /// - Throws: `server_start_failed` when it exits or does not take the folder within
        ///   `limit`.
        func start(clusterDirectory: String, log: String, limit: Duration = .seconds(300)) async throws -> Int32 {
            let output = open(log, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0o600)
            let null = open("/dev/null", O_RDONLY | O_CLOEXEC)
            defer {
                close(output)
                close(null)
            }
            // In the folder it was started in: relative paths (STRATA_HOME's default) resolve
            // as they did.
            let pid = try ChildProcess.spawn(
                [executable] + arguments,
                environment: environment,
                input: null,
                output: output,
                newSession: true,
                directory: directory
            )
            let deadline = ContinuousClock.now + limit
            while ContinuousClock.now < deadline {
                if FileSystem.lockHolder("\(clusterDirectory)/manager.lock") == pid,
                    (try? EmbeddedCluster.runningInstance(.init(directory: clusterDirectory))) != nil
                {
                    return pid
                }
                if let status = await ChildProcess.exitCode(of: pid, within: .milliseconds(200)) {
                    throw StrataError(.serverStartFailed, "strata serve exited with status \(status) when started again; see \(log).")
                }
            }
            throw StrataError(.serverStartFailed, "strata serve (pid \(pid)) did not take over \(clusterDirectory) within \(limit); see \(log).")
        }
    }

    /// Holds the embedded cluster's folder for an in-place restore: a `strata serve` holding it
    /// is asked to stop (`SIGTERM`: it drains and stops its PostgreSQL) and waited for, and
    /// returned so that it can be started again; any other Strata process holding it is a
    /// refusal.
    static func takeOverCluster(
        _ directory: String,
        settings: BackupConfiguration.Physical?
    ) async throws -> (lock: FolderLock, stopped: StoppedServer?) {
        if let lock = try? FolderLock(folder: directory) { return (lock, nil) }
        let holder = FileSystem.lockHolder("\(directory)/manager.lock")
        let server = holder.flatMap { StoppedServer(pid: $0) }
        guard let holder, let server, (server.executable as NSString).lastPathComponent == "strata", server.arguments.contains("serve") else {
            throw StrataError(
                .conflict,
                "A Strata process\(holder.map { " (pid \($0))" } ?? "") manages \(directory); stop it before restoring in place."
            )
        }
        // Its newest writes archived first, so that a restore to the latest point has them.
        if let settings, let url = try? EmbeddedCluster.runningInstance(.init(directory: directory)) {
            print("archiving the newest WAL of the running server…")
            _ = try? await PgBackRest(settings: settings, url: url).run(["check"])
        }
        print("stopping the running strata serve (pid \(holder)) before restoring in place…")
        kill(holder, SIGTERM)
        let deadline = ContinuousClock.now + .seconds(300)
        while ContinuousClock.now < deadline {
            if let lock = try? FolderLock(folder: directory) { return (lock, server) }
            try await Task.sleep(for: .milliseconds(200))
        }
        throw StrataError(.conflict, "strata serve (pid \(holder)) did not stop within 5 minutes; nothing was restored.")
    }

    /// One backup as a line of `list`.
    static func row(_ backup: BackupRecord) -> [String] {
        [
            "\(backup.id)", backup.kind, backup.status, time(backup.startedAt), backup.finishedAt.map(time) ?? "-",
            backup.sizeBytes.map(megabytes) ?? "-", outcome(backup.lastVerifiedAt, backup.lastVerificationPassed),
            outcome(backup.lastDrilledAt, backup.lastDrillPassed), backup.status == "failed" ? (backup.error ?? "") : backup.location,
        ]
    }

    /// When a check last ran and how it ended, or `never`.
    static func outcome(_ at: Date?, _ passed: Bool?) -> String { at.map { "\(time($0)) \(passed == true ? "passed" : "FAILED")" } ?? "never" }

    static func time(_ date: Date) -> String {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime]
        return formatter.string(from: date)
    }

    static func megabytes(_ bytes: Int64) -> String { String(format: "%.1f MB", Double(bytes) / 1_048_576) }

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract:
                "Take a backup: full, diff or incr of the embedded cluster with pgBackRest (the default there), or logical (pg_dump, custom format) into BACKUP_LOCATION as strata_backup_YYYYMMDD_HHMMSS.dump (the default with DATABASE_URL)."
        )
        @OptionGroup var options: GlobalOptions

        @Option(help: "full, diff, incr (pgBackRest) or logical (pg_dump).")
        var type: String?

        func run() async throws {
            try await Strata.guarded {
                let kind = type ?? (ProcessInfo.processInfo.environment["DATABASE_URL"] == nil ? "full" : "logical")
                if kind == "logical" {
                    let taken = try await Backup.withBackups(options) { backup, _ in try await backup.create() }
                    let seconds = taken.finishedAt.map { $0.timeIntervalSince(taken.startedAt) } ?? 0
                    print("backup \(taken.id): \(taken.location)")
                    print(
                        "taken \(Backup.time(taken.startedAt)) in \(String(format: "%.1f", seconds)) s, \(Backup.megabytes(taken.sizeBytes ?? 0)) (\(taken.sizeBytes ?? 0) bytes)"
                    )
                    return
                }
                guard let physical = PhysicalBackup.Kind(rawValue: kind) else {
                    throw StrataError(.invalidValue, "--type must be full, diff, incr or logical (got \(kind)).", details: ["field": "type"])
                }
                let taken = try await Backup.withPhysical(options) { backup in
                    try await backup.create(physical) { line in print(line) }
                }
                let seconds = taken.finishedAt.map { $0.timeIntervalSince(taken.startedAt) } ?? 0
                print("backup \(taken.id): \(taken.kind) \(taken.label ?? "") in \(taken.location)")
                print(
                    "taken \(Backup.time(taken.startedAt)) in \(String(format: "%.1f", seconds)) s, \(Backup.megabytes(taken.sizeBytes ?? 0)) added to the repository"
                )
            }
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract:
                "List backups: the physical ones in the pgBackRest repository (type, times, LSN range, size, last verification) with the point-in-time window actually restorable, the logical ones newest first, and the restored copies running."
        )
        @OptionGroup var options: GlobalOptions

        @Option(help: "How many logical backups (1…1000).")
        var limit = 50

        @Flag(help: "Print JSON instead of tables.")
        var json = false

        /// Everything `list` shows.
        struct Listing: Codable, Sendable {
            var physical: [PhysicalBackup.BackupSet]?
            var window: PhysicalBackup.Window?
            var logical: [BackupRecord]
            var restoredCopies: [PhysicalRestore.Copy]
        }

        func run() async throws {
            try await Strata.guarded {
                guard (1...1000).contains(limit) else {
                    throw StrataError(.invalidValue, "--limit must be within 1…1000.", details: ["field": "limit"])
                }
                let (configuration, logger) = try options.configuration(defaultLogLevel: "warning")
                let limit = limit
                let listing = try await withDatabase(configuration, logger: logger) { pool, _ in
                    let logical = try await LogicalBackup(pool: pool, configuration: configuration.backups, logger: logger).list(limit: limit)
                    var listing = Listing(logical: logical, restoredCopies: [])
                    if configuration.backups.physical != nil, PgBackRest.isInstalled {
                        let physical = try PhysicalBackup(pool: pool, configuration: configuration.backups, logger: logger)
                        listing.physical = (try? await physical.sets()) ?? []
                        listing.window = try? await physical.window()
                        listing.restoredCopies = (try? PhysicalRestore(configuration: configuration.backups, logger: logger).copies()) ?? []
                    }
                    return listing
                }
                if json {
                    print(String(decoding: try JSONEncoder.api(pretty: true).encode(listing), as: UTF8.self))
                    return
                }
                if let physical = listing.physical {
                    print("Physical backups (pgBackRest, \(configuration.backups.physical?.repositoryPath ?? "")):")
                    printColumns(
                        header: ["LABEL", "TYPE", "STARTED", "STOPPED", "LSN START", "LSN STOP", "DB SIZE", "ADDED", "LAST VERIFIED", "LAST DRILL"],
                        rows: physical.reversed().map { set in
                            [
                                set.label, set.type, Backup.time(set.startedAt), Backup.time(set.stoppedAt), set.lsnStart ?? "-", set.lsnStop ?? "-",
                                Backup.megabytes(set.databaseBytes), Backup.megabytes(set.repositoryBytes),
                                Backup.outcome(set.lastVerifiedAt, set.lastVerificationPassed),
                                Backup.outcome(set.lastDrilledAt, set.lastDrillPassed),
                            ]
                        }
                    )
                    if let window = listing.window {
                        let earliest = window.earliest.map(Backup.time) ?? "none (no backup yet)"
                        let latest = window.latest.map(Backup.time) ?? "unknown (no commit archived yet)"
                        print("Restorable to a point in time: from \(earliest) to \(latest) (WAL archived up to \(window.newestSegment ?? "none"))")
                        print("Promised by the policy: from \(Backup.time(window.promisedEarliest)) (BACKUP_RETENTION_FULL_DAYS)")
                    }
                    print("")
                }
                print("Logical backups (\(configuration.backups.location)):")
                printColumns(
                    header: ["ID", "TYPE", "STATUS", "STARTED", "FINISHED", "SIZE", "LAST VERIFIED", "LAST DRILL", "LOCATION / ERROR"],
                    rows: listing.logical.filter { $0.kind == "logical" }.map(Backup.row)
                )
                if !listing.restoredCopies.isEmpty {
                    print("\nRestored copies (stop with `strata backup restore --stop ID`):")
                    printColumns(
                        header: ["ID", "TARGET", "RESTORED", "FOLDER", "URL"],
                        rows: listing.restoredCopies.map { [$0.id, $0.target, Backup.time($0.restoredAt), $0.folder, $0.url] }
                    )
                }
            }
        }
    }

    struct Verify: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract:
                "Verify backups: physical ones with pgBackRest's check and verify (every WAL segment and file against its checksum, WAL continuity) and their age against the policy; a logical one (--set N) with pg_restore --list. Exits 1 when anything fails."
        )
        @OptionGroup var options: GlobalOptions

        @Option(name: .customLong("set"), help: "A physical backup's label or a logical backup's id (see `strata backup list`).")
        var set: String?

        @Flag(help: "Verify the newest logical backup instead of the physical ones.")
        var logical = false

        func run() async throws {
            try await Strata.guarded {
                let (configuration, _) = try options.configuration(defaultLogLevel: "warning")
                if logical || set.map({ Int64($0) != nil }) == true || configuration.backups.physical == nil {
                    let id = set.flatMap { Int64($0) }
                    let result = try await Backup.withBackups(options) { backup, _ in try await backup.verify(id: id) }
                    print("backup \(result.backup.id) (\(result.backup.location)): \(result.entries) entries, \(result.tables) tables with data")
                    guard result.passed else {
                        for problem in result.problems { print("FAILED: \(problem)") }
                        throw ExitCode.failure
                    }
                    print("passed")
                    return
                }
                let label = set
                let result = try await Backup.withPhysical(options) { backup in try await backup.verify(label: label) }
                print("verified \(result.labels.count) backup(s) (\(result.filesChecked) files) and \(result.walChecked) archived WAL segments")
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
                "Restore drill: the newest physical backup restored side by side to a fresh restore point and every table compared row for row with the live database at that point (or --to-time T: restored and checked only), or a logical backup (--logical or --set ID) restored into a scratch database and compared with its manifest; pg_amcheck on the copy; recorded; the copy removed. Exits 1 when it fails."
        )
        @OptionGroup var options: GlobalOptions

        @Option(name: .customLong("set"), help: "A logical backup's id (see `strata backup list`).")
        var id: Int64?

        @Flag(help: "Drill the newest logical backup instead of the physical ones.")
        var logical = false

        @Option(name: .customLong("to-time"), help: "Physical: restore to this time (RFC 3339) instead of a fresh restore point.")
        var toTime: String?

        func run() async throws {
            try await Strata.guarded {
                let (configuration, logger) = try options.configuration(defaultLogLevel: "warning")
                let drill: BackupDrill
                if logical || id != nil || configuration.backups.physical == nil {
                    let id = id
                    drill = try await Backup.withBackups(options) { backup, _ in try await backup.drill(id: id) }
                } else {
                    var time: Date?
                    if let toTime {
                        guard let date = RFC3339.date(from: toTime) else {
                            throw StrataError(
                                .invalidValue,
                                "--to-time must be an RFC 3339 time such as 2026-12-07T01:22:52Z.",
                                details: ["field": "to-time"]
                            )
                        }
                        time = date
                    }
                    let restores = try PhysicalRestore(configuration: configuration.backups, logger: logger)
                    drill = try await Backup.withPhysical(options) { [time] backup in try await backup.drill(to: time, restores: restores) }
                }
                let seconds = drill.restoreSeconds.map { String(format: "%.1f s", $0) } ?? "-"
                print(
                    "drill \(drill.id) of backup \(drill.backup.id) \(drill.backup.label ?? ""): restored in \(seconds), \(drill.tablesCompared) tables compared, \(drill.differing.count) differing"
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
                "Restore: a physical backup side by side (a new folder on a free port, running until --stop) or --in-place, to the latest point or a point in time; or a logical backup into a new database.",
            discussion: """
                Physical (pgBackRest): exactly one of --latest, --to-time, --to-lsn, --to-restore-point. By default the copy \
                is restored into $STRATA_HOME/restores/<id> and started on a free loopback port; the running cluster is not \
                touched. --in-place --yes replaces the embedded cluster's data folder (kept aside as data.before-restore-…), \
                recovers, promotes and runs `strata migrate verify`; a running `strata serve` is stopped first (SIGTERM) and started \
                again afterwards as it was started (its output in $STRATA_HOME/serve.log). A target past the \
                archived WAL fails with PostgreSQL's message and promotes nothing.
                Logical: --logical FILE --into DB restores a dump into a new database (one transaction, stopping at the first error).
                """
        )
        @OptionGroup var options: GlobalOptions

        @Option(name: .customLong("logical"), help: "A dump file to restore (with --into).")
        var file: String?

        @Option(help: "The new database to restore a dump into.")
        var into: String?

        @Flag(help: "Recover to the end of the archived WAL.")
        var latest = false

        @Option(
            name: .customLong("to-time"),
            help: "Recover to a time (RFC 3339, e.g. 2026-12-07T01:22:52Z): every transaction committed at or before it."
        )
        var toTime: String?

        @Option(name: .customLong("to-lsn"), help: "Recover to a WAL location (e.g. 0/3000028).")
        var toLSN: String?

        @Option(name: .customLong("to-restore-point"), help: "Recover to a restore point made with pg_create_restore_point(name).")
        var toRestorePoint: String?

        @Option(name: .customLong("set"), help: "The backup to start from (default: the newest before the target).")
        var set: String?

        @Flag(help: "Replace the embedded cluster's data folder (needs --yes; a running strata serve is stopped first).")
        var inPlace = false

        @Flag(help: "Confirm --in-place.")
        var yes = false

        @Option(help: "Stop a restored copy and remove its folder.")
        var stop: String?

        @Flag(help: "With --stop: keep the copy's folder.")
        var keep = false

        @Flag(help: "List the restored copies.")
        var list = false

        func target() throws -> PhysicalRestore.Target {
            var targets: [PhysicalRestore.Target] = []
            if latest { targets.append(.latest) }
            if let toTime {
                guard let date = RFC3339.date(from: toTime) else {
                    throw StrataError(
                        .invalidValue,
                        "--to-time must be an RFC 3339 time such as 2026-12-07T01:22:52Z (got \(toTime)).",
                        details: ["field": "to-time"]
                    )
                }
                targets.append(.time(date))
            }
            if let toLSN {
                guard toLSN.range(of: #"^[0-9A-Fa-f]{1,8}/[0-9A-Fa-f]{1,8}$"#, options: .regularExpression) != nil else {
                    throw StrataError(
                        .invalidValue,
                        "--to-lsn must be a WAL location such as 0/3000028 (got \(toLSN)).",
                        details: ["field": "to-lsn"]
                    )
                }
                targets.append(.lsn(toLSN))
            }
            if let toRestorePoint {
                guard (1...63).contains(toRestorePoint.utf8.count) else {
                    throw StrataError(.invalidValue, "--to-restore-point must be 1…63 bytes.", details: ["field": "to-restore-point"])
                }
                targets.append(.restorePoint(toRestorePoint))
            }
            guard targets.count == 1, let target = targets.first else {
                throw StrataError(
                    .invalidValue,
                    "Name exactly one target: --latest, --to-time T, --to-lsn L or --to-restore-point N (or --logical FILE --into DB).",
                    details: ["field": "target"]
                )
            }
            return target
        }

        func run() async throws {
            try await Strata.guarded {
                if let file {
                    guard let into else { throw StrataError(.invalidValue, "--logical FILE needs --into DB.", details: ["field": "into"]) }
                    let restored = try await Backup.withBackups(options) { backup, _ in try await backup.restore(file: file, into: into) }
                    print(
                        "restored \(file) into database \(restored.database): \(restored.tables) tables with data in \(String(format: "%.1f", restored.duration.secondsDouble)) s"
                    )
                    return
                }
                let (restores, configuration, logger) = try Backup.restores(options)
                if list {
                    printColumns(
                        header: ["ID", "TARGET", "RESTORED", "FOLDER", "URL"],
                        rows: restores.copies().map { [$0.id, $0.target, Backup.time($0.restoredAt), $0.folder, $0.url] }
                    )
                    return
                }
                if let stop {
                    try await restores.stop(id: stop, keep: keep)
                    print(keep ? "stopped \(stop); its folder is kept" : "stopped \(stop) and removed its folder")
                    return
                }
                let target = try target()
                guard inPlace else {
                    let copy = try await restores.restoreSideBySide(to: target, set: set)
                    print("restored \(copy.target) in \(String(format: "%.1f", copy.seconds)) s: \(copy.id)")
                    print("folder: \(copy.folder)")
                    print("url:    \(copy.url)")
                    print("it keeps running until: strata backup restore --stop \(copy.id)")
                    return
                }
                guard yes else {
                    throw StrataError(
                        .invalidValue,
                        "--in-place replaces the cluster's data folder (the old one is kept aside); confirm with --yes.",
                        details: ["field": "yes"]
                    )
                }
                let directory = configuration.embeddedPostgresDirectory
                try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
                let (lock, stoppedServer) = try await Backup.takeOverCluster(directory, settings: configuration.backups.physical)
                let aside: String?
                do {
                    aside = try await restores.restoreInPlace(to: target, set: set)
                    lock.release()
                } catch {
                    lock.release()
                    throw error
                }
                if let aside { print("the previous data folder is kept at \(aside)") }
                print("restored \(target); recovering and promoting…")
                let verified = try await withDatabase(configuration, logger: logger, startTimeout: .seconds(3600)) { pool, _ in
                    let analysis = try await Migrator(lines: try StrataApplication.migrationLines(), pool: pool, logger: logger).status()
                    return (analysis.isCurrent && analysis.blockingErrors.isEmpty, analysis.entries.filter { $0.state != .applied })
                }
                for entry in verified.1 { print("\(entry.fileName): \(entry.state.rawValue)") }
                guard verified.0 else {
                    print("promoted, but the database is not current: run strata migrate up, then strata serve")
                    throw ExitCode.failure
                }
                guard let stoppedServer else {
                    print("promoted; migrations verified. Start the server with: strata serve")
                    return
                }
                let log = "\(configuration.home)/serve.log"
                print("promoted; migrations verified. Starting strata serve again (output in \(log))…")
                let pid = try await stoppedServer.start(clusterDirectory: directory, log: log)
                print("strata serve is running again (pid \(pid))")
            }
        }
    }

    struct Expire: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract:
                "Apply the retention policy: physical fulls older than BACKUP_RETENTION_FULL_DAYS (with what depends on them), diff/incr older than BACKUP_RETENTION_INCR_DAYS, WAL beyond BACKUP_RETENTION_WAL_DAYS; logical dumps older than BACKUP_RETENTION_DAYS (their rows stay, marked expired)."
        )
        @OptionGroup var options: GlobalOptions

        @Flag(help: "Only say what would go.")
        var dryRun = false

        func run() async throws {
            try await Strata.guarded {
                let verb = dryRun ? "would expire" : "expired"
                let dryRun = dryRun
                let (configuration, _) = try options.configuration(defaultLogLevel: "warning")
                if configuration.backups.physical != nil, PgBackRest.isInstalled {
                    let expired = try await Backup.withPhysical(options) { backup in try await backup.expire(dryRun: dryRun) }
                    print("\(verb) \(expired.count) physical backup(s)")
                    for set in expired { print("  \(set.label)  \(set.type)  \(Backup.time(set.stoppedAt))  \(set.reason)") }
                }
                let (expired, days) = try await Backup.withBackups(options) { backup, settings in
                    (try await backup.expire(dryRun: dryRun), settings.retentionDays)
                }
                print("\(verb) \(expired.count) logical backup(s) older than \(days) days")
                for backup in expired { print("  \(backup.id)  \(Backup.time(backup.startedAt))  \(backup.location)") }
            }
        }
    }
}
