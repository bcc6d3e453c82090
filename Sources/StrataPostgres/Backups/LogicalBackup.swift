public import Foundation
public import Logging
import PostgresNIO
import StrataCore

/// Logical backups with PostgreSQL's own tools (seed 004's `BackupManager`, and the only kind
/// possible against an external `DATABASE_URL`): `pg_dump --format=custom` into
/// ``BackupConfiguration/location`` as `strata_backup_YYYYMMDD_HHMMSS.dump`, restored with
/// `pg_restore --single-transaction --exit-on-error` into a scratch database, checked with
/// `pg_restore --list`, and expired after ``BackupConfiguration/retentionDays``. Every backup
/// and every check is a row (`strata.backups`, `strata.backup_verifications`).
///
/// The tools get the connection through libpq's environment (`PGHOST`, `PGPASSWORD`, …), never
/// on their command line, where `ps` would show the password. A `pg_dump` older than the
/// server is refused: it cannot dump a newer server reliably.
public struct LogicalBackup: Sendable {
    let pool: PostgresPool
    let configuration: BackupConfiguration
    let logger: Logger

    public init(pool: PostgresPool, configuration: BackupConfiguration, logger: Logger) {
        self.pool = pool
        self.configuration = configuration
        self.logger = logger
    }

    // MARK: Create

    /// Dumps the database into a new file of the backup folder and records it with its
    /// manifest: every table's row count and checksum (``TableChecksum``), taken in the
    /// snapshot the dump is taken in, so that a restore can be checked row for row although
    /// writers kept writing (``drill(id:)``).
    /// - Parameter now: The time the file is named after.
    /// - Returns: The backup's record: its file, times and size.
    /// - Throws: `dependency_missing` when no usable `pg_dump` is installed or it is older than
    ///   the server; `backup_failed` with `pg_dump`'s message (the row says `failed` too).
    public func create(now: Date = Date()) async throws -> BackupRecord {
        // The snapshot's transaction stays open until pg_dump has finished with it; the manifest
        // is taken on its connection while pg_dump reads on its own.
        try await pool.withTransaction(isolation: .repeatableRead, readOnly: true, maxAttempts: 1) { connection in
            let snapshot = try await connection.run("SELECT pg_export_snapshot()", logger: logger).collect().first?.decode(String.self)
            return try await dump(snapshot: snapshot, now: now) { try await TableChecksum.all(on: connection, logger: logger) }
        }
    }

    /// Dumps what an exported snapshot shows (or the database as it is, when `snapshot` is
    /// nil), taking `manifest` meanwhile.
    func dump(
        snapshot: String?,
        now: Date,
        manifest takeManifest: @Sendable () async throws -> [TableChecksum]? = { nil }
    ) async throws -> BackupRecord {
        let (server, tools) = try await locateTools()
        try FileManager.default.createDirectory(
            atPath: configuration.location,
            withIntermediateDirectories: true,
            attributes: [.posixPermissions: 0o700]
        )
        let path = freshPath(now: now)
        let store = BackupStore(pool: pool)
        let id = try await store.begin(
            kind: "logical",
            location: path,
            database: pool.url.database,
            serverVersion: server.text,
            toolVersion: tools.version
        )
        let partial = path + ".partial"
        var arguments = ["--format=custom", "--compress=\(configuration.compress ? 9 : 0)", "--file=\(partial)", "--no-password"]
        if let snapshot { arguments.append("--snapshot=\(snapshot)") }
        let manifest: [TableChecksum]?
        do {
            async let dumped = ChildProcess.run(tools.pgDump, arguments, environment: DumpTools.libpqEnvironment(pool.url))
            manifest = try await takeManifest()
            _ = try await dumped
            try FileManager.default.moveItem(atPath: partial, toPath: path)
        } catch {
            try? FileManager.default.removeItem(atPath: partial)
            let reason = Self.reason(error)
            try? await store.fail(id, error: reason)
            throw StrataError(.backupFailed, "The backup failed: \(reason)", underlying: error)
        }
        let size = (try? FileManager.default.attributesOfItem(atPath: path)[.size] as? Int64) ?? 0
        try await store.succeed(id, size: size, manifest: manifest)
        logger.info(
            "logical backup taken",
            metadata: ["strata.backup.id": "\(id)", "strata.backup.path": "\(path)", "strata.backup.bytes": "\(size)"]
        )
        return try await store.record(id)
    }

    /// `strata_backup_YYYYMMDD_HHMMSS.dump` (UTC) in the backup folder; `_2`, `_3` … when a
    /// backup of the same second exists.
    func freshPath(now: Date) -> String {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "UTC")
        formatter.dateFormat = "yyyyMMdd_HHmmss"
        let stem = "\(configuration.location)/strata_backup_\(formatter.string(from: now))"
        var path = stem + ".dump"
        var suffix = 2
        while FileManager.default.fileExists(atPath: path) || FileManager.default.fileExists(atPath: path + ".partial") {
            path = "\(stem)_\(suffix).dump"
            suffix += 1
        }
        return path
    }

    /// Backups, newest first, with their latest verification and drill.
    public func list(limit: Int = 50) async throws -> [BackupRecord] {
        try await BackupStore(pool: pool).list(limit: limit)
    }

    // MARK: Restore

    /// What a restore did.
    public struct Restored: Sendable {
        /// The database the dump went into.
        public var database: String
        /// The tables whose data it loaded.
        public var tables: Int
        /// How long it took.
        public var duration: Duration
    }

    /// Restores a dump into a new database of the same server, in one transaction that stops
    /// at the first error (a failed restore leaves no half-filled database: the new database is
    /// dropped again). The live database is never the target.
    /// - Throws: `invalid_value` for a bad database name or the live database; `conflict` when
    ///   the database exists; `not_found` for a missing file; `backup_failed` with
    ///   `pg_restore`'s message.
    public func restore(file: String, into database: String) async throws -> Restored {
        try await restore(file: file, into: database, tools: try await locateTools().tools)
    }

    /// ``restore(file:into:)`` with the tools already found.
    func restore(file: String, into database: String, tools: DumpTools) async throws -> Restored {
        let start = ContinuousClock.now
        guard database.wholeMatch(of: /[a-z_][a-z0-9_]{0,62}/) != nil else {
            throw StrataError(
                .invalidValue,
                "The database to restore into must be a lowercase name (letters, digits, _; at most 63).",
                details: ["field": "into"]
            )
        }
        guard database != pool.url.database else {
            throw StrataError(
                .invalidValue,
                "Restoring over the live database \(database) is refused: restore into a scratch database, check it, then switch.",
                details: ["field": "into"]
            )
        }
        guard FileManager.default.isReadableFile(atPath: file) else {
            throw StrataError(.notFound, "No readable backup file at \(file).", details: ["field": "file"])
        }
        let contents = try await list(file: file, tools: tools)
        let exists = try await pool.query("SELECT count(*) FROM pg_database WHERE datname = \(database)").first?.decode(Int64.self) ?? 0
        guard exists == 0 else {
            throw StrataError(.conflict, "The database \(database) exists; choose another name or drop it first.", details: ["field": "into"])
        }
        try await pool.query(PostgresQuery(unsafeSQL: "CREATE DATABASE \(quoteIdentifier(database))"))
        do {
            _ = try await ChildProcess.run(
                tools.pgRestore,
                ["--single-transaction", "--exit-on-error", "--no-owner", "--no-password", "--dbname=\(database)", file],
                environment: DumpTools.libpqEnvironment(pool.url.with(database: database))
            )
        } catch {
            _ = try? await pool.query(PostgresQuery(unsafeSQL: "DROP DATABASE IF EXISTS \(quoteIdentifier(database)) WITH (FORCE)"))
            throw StrataError(.backupFailed, "pg_restore failed: \(Self.reason(error))", underlying: error)
        }
        return Restored(database: database, tables: contents.tables, duration: start.duration(to: .now))
    }

    // MARK: Verify

    /// What a verification found.
    public struct Verification: Sendable {
        /// The backup checked.
        public var backup: BackupRecord
        /// Whether it passed.
        public var passed: Bool
        /// Why it did not (empty when it passed).
        public var problems: [String]
        /// Entries in the archive's table of contents.
        public var entries: Int
        /// Tables whose data it holds.
        public var tables: Int
    }

    /// Checks a backup (the newest successful one by default): its file is there with the
    /// size recorded, `pg_restore --list` reads its whole table of contents, and the newest
    /// backup is not older than twice the schedule's interval. The result is recorded.
    /// - Throws: `not_found` when there is no such backup.
    public func verify(id: Int64? = nil, now: Date = Date()) async throws -> Verification {
        let store = BackupStore(pool: pool)
        let backup = try await chosen(id, store: store)
        var problems: [String] = []
        var entries = 0
        var tables = 0
        if backup.status != "succeeded" {
            problems.append("backup \(backup.id) is \(backup.status)")
        } else if let size = try? FileManager.default.attributesOfItem(atPath: backup.location)[.size] as? Int64 {
            if size != backup.sizeBytes { problems.append("\(backup.location) is \(size) bytes; \(backup.sizeBytes ?? 0) were written") }
            do {
                let contents = try await list(file: backup.location, tools: try await locateTools().tools)
                (entries, tables) = (contents.entries, contents.tables)
            } catch {
                problems.append("pg_restore --list: \(Self.reason(error))")
            }
        } else {
            problems.append("\(backup.location) is missing")
        }
        let newest = id == nil ? backup : try await store.newest(kind: "logical")
        if let overdue = configuration.overdueBackup(finishedAt: newest?.finishedAt, now: now) { problems.append(overdue) }
        let passed = problems.isEmpty
        try await store.recordVerification(
            backup.id,
            method: "list",
            passed: passed,
            details: .object([
                "entries": .number(Double(entries)), "tables": .number(Double(tables)),
                "problems": .array(problems.map { .string($0) }),
            ])
        )
        return Verification(backup: try await store.record(backup.id), passed: passed, problems: problems, entries: entries, tables: tables)
    }

    /// `pg_restore --list`: the archive's table-of-contents entries and its table-data entries.
    func list(file: String, tools: DumpTools) async throws -> (entries: Int, tables: Int) {
        let output: String
        do {
            output = try await ChildProcess.run(tools.pgRestore, ["--list", file])
        } catch {
            throw StrataError(.backupFailed, "\(file) is not a readable custom-format dump: \(Self.reason(error))", underlying: error)
        }
        let lines = output.split(separator: "\n").filter { !$0.hasPrefix(";") && !$0.isEmpty }
        return (lines.count, lines.filter { $0.contains(" TABLE DATA ") }.count)
    }

    // MARK: Drill

    /// What a restore drill found.
    public typealias Drill = BackupDrill

    /// Restores a backup (the newest successful one by default) into a scratch database,
    /// compares every table with the backup's manifest (row count and checksum), runs
    /// `pg_amcheck --heapallindexed` on the copy, records the result in
    /// `strata.backup_drills` and drops the copy.
    /// - Throws: `not_found` when there is no such backup; `invalid_value` for a backup that
    ///   is not a successful logical one. A drill that runs and fails is a result, not an error.
    public func drill(id: Int64? = nil) async throws -> Drill {
        let store = BackupStore(pool: pool)
        let backup = try await chosen(id, store: store)
        guard backup.status == "succeeded" else {
            throw StrataError(
                .invalidValue,
                "Backup \(backup.id) is a \(backup.status) \(backup.kind) backup; a drill restores a successful logical one."
            )
        }
        let startedAt = Date()
        let scratch = "strata_drill_\(backup.id)_\(Int(startedAt.timeIntervalSince1970))"
        var problems: [String] = []
        var differing: [String] = []
        var compared = 0
        var restoreSeconds: Double?
        let manifest = try await store.manifest(backup.id)
        if manifest == nil { problems.append("backup \(backup.id) has no manifest to compare with") }
        do {
            let tools = try await locateTools().tools
            let restored = try await restore(file: backup.location, into: scratch, tools: tools)
            restoreSeconds = restored.duration.secondsDouble
            let copyURL = pool.url.with(database: scratch)
            let copy = PostgresPool(url: copyURL, configuration: .init(poolSize: 1, maxOverflow: 0), logger: logger)
            let found = try await copy.withRunning {
                try await copy.withConnection {
                    try await TableChecksum.all(on: $0, method: manifest.map(TableChecksum.Method.of) ?? .rowHashes, logger: logger)
                }
            }
            if let manifest {
                compared = manifest.count
                differing = BackupDrill.differing(expected: manifest, found: found)
            }
            if let problem = await tools.amcheck(copyURL) { problems.append(problem) }
        } catch {
            problems.append(Self.reason(error))
        }
        _ = try? await pool.query(PostgresQuery(unsafeSQL: "DROP DATABASE IF EXISTS \(quoteIdentifier(scratch)) WITH (FORCE)"))
        return try await BackupDrill.record(
            of: backup,
            startedAt: startedAt,
            compared: compared,
            differing: differing,
            problems: problems,
            restoreSeconds: restoreSeconds,
            store: store,
            logger: logger
        )
    }

    // MARK: Expire

    /// Removes the dumps older than ``BackupConfiguration/retentionDays`` (their rows stay,
    /// marked `expired`); with `dryRun`, only says which.
    /// - Returns: The backups expired (or that would be).
    public func expire(dryRun: Bool = false, now: Date = Date()) async throws -> [BackupRecord] {
        let store = BackupStore(pool: pool)
        let cutoff = now.addingTimeInterval(-TimeInterval(configuration.retentionDays) * 86_400)
        let due = try await store.expirable(kind: "logical", startedBefore: cutoff)
        guard !dryRun else { return due }
        var expired: [BackupRecord] = []
        for backup in due {
            do {
                try FileManager.default.removeItem(atPath: backup.location)
            } catch CocoaError.fileNoSuchFile {
                // Gone already: the row still says so.
            }
            expired.append(try await store.expire(backup.id))
        }
        if !expired.isEmpty { logger.info("logical backups expired", metadata: ["strata.backup.expired": "\(expired.count)"]) }
        return expired
    }

    // MARK: Helpers

    /// The backup `id` names, or the newest successful logical one.
    /// - Throws: `not_found` when there is none; `invalid_value` for one that is not logical.
    private func chosen(_ id: Int64?, store: BackupStore) async throws -> BackupRecord {
        let found: BackupRecord? = if let id { try await store.record(id) } else { try await store.newest(kind: "logical") }
        guard let backup = found else {
            throw StrataError(.notFound, "No logical backup has been taken yet; run `strata backup create --type logical`.")
        }
        guard backup.kind == "logical" else {
            throw StrataError(.invalidValue, "Backup \(backup.id) is a \(backup.kind) backup; only logical backups are checked and drilled yet.")
        }
        return backup
    }

    /// The server's version and the tools that can dump and restore it.
    private func locateTools() async throws -> (server: (text: String, major: Int), tools: DumpTools) {
        let server = try await serverVersion()
        return (server, try DumpTools.locate(in: configuration.toolsDirectory, serverMajor: server.major))
    }

    /// The server's version: its text (`15.18 (Debian …)`) and major number.
    func serverVersion() async throws -> (text: String, major: Int) {
        let row = try await pool.query("SELECT current_setting('server_version'), current_setting('server_version_num')::int").first
        guard let (text, number) = try row?.decode((String, Int).self) else {
            throw StrataError(.internalError, "The server did not say its version.")
        }
        return (text, number / 10_000)
    }

    /// The tool's own words for a failure, without our wrapping.
    static func reason(_ error: any Error) -> String {
        (error as? StrataError)?.message ?? String(describing: error)
    }
}
