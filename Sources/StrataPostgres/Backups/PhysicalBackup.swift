public import Foundation
public import Logging
import PostgresNIO
import StrataCore
import Synchronization

/// Physical backups of the embedded cluster with pgBackRest (``PgBackRest``): full,
/// differential and incremental backups of the data folder, WAL archived continuously by the
/// server, verification of the repository, and expiry by the seed's policy. Every backup and
/// every verification is a row (`strata.backups`, `strata.backup_verifications`); the
/// repository's own catalogue (`pgbackrest info`) is what ``sets()`` lists, so that a backup
/// taken while the database was elsewhere still shows.
public struct PhysicalBackup: Sendable {
    let pool: PostgresPool
    let settings: BackupConfiguration.Physical
    let tool: PgBackRest
    let logger: Logger

    /// The physical backups of the cluster `pool` reaches.
    /// - Throws: `invalid_configuration` against an external `DATABASE_URL` (its data folder
    ///   is not Strata's to back up: take logical backups); `dependency_missing` when
    ///   pgBackRest is not installed.
    public init(pool: PostgresPool, configuration: BackupConfiguration, logger: Logger) throws {
        guard let settings = configuration.physical else {
            throw StrataError(
                .invalidConfiguration,
                "Physical backups (full, diff, incr) are taken of the embedded cluster; with DATABASE_URL set, take logical ones (--type logical).",
                details: ["field": "type"]
            )
        }
        self.pool = pool
        self.settings = settings
        self.tool = try PgBackRest(settings: settings, url: pool.url)
        self.logger = logger
    }

    /// The kinds of physical backup.
    public enum Kind: String, Sendable, CaseIterable {
        case full, diff, incr
    }

    // MARK: Create

    /// Takes a backup of `kind` (pgBackRest makes a full one when none exists yet), reporting
    /// its progress, and records it.
    /// - Parameter progress: Called with each line worth showing: the start LSN, every tenth
    ///   of the copy, the label.
    /// - Returns: The record, with its label, LSN range and size.
    /// - Throws: `backup_failed` with pgBackRest's message (the row says `failed` too).
    public func create(_ kind: Kind, progress: @escaping @Sendable (String) -> Void = { _ in }) async throws -> BackupRecord {
        let store = BackupStore(pool: pool)
        let server = try await pool.query("SHOW server_version").first?.decode(String.self) ?? "?"
        let id = try await store.begin(
            kind: kind.rawValue,
            location: settings.repositoryPath,
            database: pool.url.database,
            serverVersion: server,
            toolVersion: "pgBackRest"
        )
        let reporter = ProgressReporter(progress)
        var result: (status: Int32, tail: [String])
        do {
            result = try await tool.stream(["backup", "--type=\(kind.rawValue)", "--log-level-console=detail"]) { reporter.line($0) }
            if result.status != 0, result.tail.contains(where: { $0.contains("does not exist") || $0.contains("stanza-create") }) {
                // A repository made after the server started: make the stanza and try once more.
                try await tool.prepareStanza()
                result = try await tool.stream(["backup", "--type=\(kind.rawValue)", "--log-level-console=detail"]) { reporter.line($0) }
            }
        } catch {
            try? await store.fail(id, error: "\(error)")
            throw error
        }
        guard result.status == 0 else {
            let reason = result.tail.filter { $0.contains("ERROR") || $0.contains("HINT") }.joined(separator: "\n")
            let message = reason.isEmpty ? result.tail.suffix(5).joined(separator: "\n") : reason
            try? await store.fail(id, error: message)
            throw StrataError(.backupFailed, "pgbackrest backup failed: \(message)")
        }
        // "INFO: new backup label = 20261207-012808F_20261207-012813I"
        let label = result.tail.last { $0.contains("new backup label = ") }?.components(separatedBy: "new backup label = ").last?
            .trimmingCharacters(in: .whitespaces)
        let sets = try await tool.info().backup
        guard let taken = sets.last(where: { $0.label == label }) ?? (label == nil ? sets.last : nil) else {
            try? await store.fail(id, error: "the backup is not in the repository's catalogue")
            throw StrataError(.backupFailed, "pgbackrest backup ended but its backup is not in the repository's catalogue")
        }
        try await store.succeedPhysical(id, set: taken)
        logger.info(
            "physical backup taken",
            metadata: ["strata.backup.id": "\(id)", "strata.backup.label": "\(taken.label)", "strata.backup.type": "\(taken.type)"]
        )
        return try await store.record(id)
    }

    /// Turns pgBackRest's detail lines into a few progress lines.
    private final class ProgressReporter: Sendable {
        let report: @Sendable (String) -> Void
        let lastTenth = Mutex(-1)

        init(_ report: @escaping @Sendable (String) -> Void) { self.report = report }

        func line(_ text: String) {
            // "P01 DETAIL: backup file /…/base/1/1255 (776KB, 12.34%) checksum …"
            if text.contains("backup file"),
                let open = text.range(of: ", ", options: .backwards, range: text.startIndex..<(text.range(of: "%)")?.lowerBound ?? text.endIndex)),
                let close = text.range(of: "%)"), let percent = Double(text[open.upperBound..<close.lowerBound])
            {
                let tenth = Int(percent / 10)
                let advanced = lastTenth.withLock { last in
                    guard tenth > last else { return false }
                    last = tenth
                    return true
                }
                if advanced { report("copied \(tenth * 10)%") }
                return
            }
            for marker in ["backup start archive", "new backup label", "backup stop archive", "WARN:", "ERROR:"] where text.contains(marker) {
                report(text.components(separatedBy: "INFO: ").last ?? text)
                return
            }
        }
    }

    // MARK: List

    /// A backup in the repository, with Strata's record of it.
    public struct BackupSet: Sendable, Codable, Equatable {
        /// pgBackRest's label (`20261207-010000F`, `…_20261207-020000I`).
        public var label: String
        /// `full`, `diff` or `incr`.
        public var type: String
        public var startedAt: Date
        public var stoppedAt: Date
        public var lsnStart: String?
        public var lsnStop: String?
        /// The first and last WAL segment the backup needs to be consistent.
        public var walStart: String?
        public var walStop: String?
        /// The database's size, and what this backup added to the repository.
        public var databaseBytes: Int64
        public var repositoryBytes: Int64
        /// The backup it depends on (diff and incr).
        public var prior: String?
        /// Strata's row of it, when it has one, and its last verification.
        public var recordID: Int64?
        public var lastVerifiedAt: Date?
        public var lastVerificationPassed: Bool?
        /// Its last restore drill, and whether that passed.
        public var lastDrilledAt: Date?
        public var lastDrillPassed: Bool?
    }

    /// The span a point-in-time restore can reach: from the end of the oldest backup to the
    /// last commit in the archived WAL.
    public struct Window: Sendable, Codable, Equatable {
        public var earliest: Date?
        public var latest: Date?
        /// The newest archived WAL segment.
        public var newestSegment: String?
        /// The oldest time the retention policy promises (now − full retention days).
        public var promisedEarliest: Date
    }

    /// The backups in the repository, oldest first.
    public func sets() async throws -> [BackupSet] {
        try await sets(in: try await tool.info())
    }

    func sets(in info: PgBackRest.Info) async throws -> [BackupSet] {
        let records = try await BackupStore(pool: pool).physicalRecords()
        return info.backup.map { set in
            let record = records[set.label]
            return BackupSet(
                label: set.label,
                type: set.type,
                startedAt: Date(timeIntervalSince1970: TimeInterval(set.timestamp.start)),
                stoppedAt: Date(timeIntervalSince1970: TimeInterval(set.timestamp.stop)),
                lsnStart: set.lsn?.start,
                lsnStop: set.lsn?.stop,
                walStart: set.archive?.start,
                walStop: set.archive?.stop,
                databaseBytes: set.info.size,
                repositoryBytes: set.info.repository.delta,
                prior: set.prior,
                recordID: record?.id,
                lastVerifiedAt: record?.lastVerifiedAt,
                lastVerificationPassed: record?.lastVerificationPassed,
                lastDrilledAt: record?.lastDrilledAt,
                lastDrillPassed: record?.lastDrillPassed
            )
        }
    }

    /// The restorable window: the oldest backup's end, and the time of the last commit in the
    /// newest archived WAL segment (read with `pg_waldump`; a target after it cannot be
    /// reached, since recovery stops at the first commit past its target).
    public func window(now: Date = Date()) async throws -> Window {
        let info = try await tool.info()
        let newest = info.archive.compactMap(\.max).max()
        var latest: Date?
        // The newest segment may hold no commit (a switch or a checkpoint only): look back a few.
        var segment = newest
        for _ in 0..<8 {
            guard let current = segment, latest == nil else { break }
            latest = try? await lastCommit(inSegment: current)
            segment = Self.segment(before: current)
        }
        return Window(
            earliest: info.backup.first.map { Date(timeIntervalSince1970: TimeInterval($0.timestamp.stop)) },
            latest: latest,
            newestSegment: newest,
            promisedEarliest: now.addingTimeInterval(-TimeInterval(settings.fullRetentionDays * 86_400))
        )
    }

    /// The WAL segment before `name` (`000000010000000A000000FF` before `000000010000000B00000000`),
    /// nil at the first.
    static func segment(before name: String) -> String? {
        guard name.count == 24, let log = UInt32(name.dropFirst(8).prefix(8), radix: 16), let number = UInt32(name.suffix(8), radix: 16) else {
            return nil
        }
        let timeline = name.prefix(8)
        if number > 0 { return timeline + String(format: "%08X%08X", log, number - 1) }
        guard log > 0 else { return nil }
        return timeline + String(format: "%08X%08X", log - 1, 0xFF)
    }

    /// The commit time of the last transaction in an archived segment.
    func lastCommit(inSegment segment: String) async throws -> Date? {
        let scratch = "\(settings.stateDirectory)/waldump-\(UUID().uuidString)"
        try FileSystem.makeDirectory(scratch, mode: 0o700, owner: tool.user)
        defer { try? FileManager.default.removeItem(atPath: scratch) }
        try await tool.run(["archive-get", segment, "\(scratch)/\(segment)"])
        let waldump = try PostgresBinaries.locate().tool("pg_waldump")
        // pg_waldump stops with an error at the zeroed end of a switched segment: keep its output.
        let output =
            (try? await ChildProcess.run("/bin/sh", ["-c", "\"$0\" \"$1\" 2>/dev/null || true", waldump, "\(scratch)/\(segment)"], as: tool.user))
            ?? ""
        // "… desc: COMMIT 2026-12-07 01:22:52.123456 UTC"
        guard let line = output.split(separator: "\n").last(where: { $0.contains("desc: COMMIT ") }),
            let range = line.range(of: "desc: COMMIT ")
        else { return nil }
        let stamp = line[range.upperBound...].split(separator: ";").first.map(String.init) ?? ""
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.dateFormat = "yyyy-MM-dd HH:mm:ss.SSSSSS zzz"
        return formatter.date(from: stamp.trimmingCharacters(in: .whitespaces))
    }

    // MARK: Verify

    /// What ``verify(label:now:)`` found.
    public struct Verification: Sendable {
        public var passed: Bool
        /// Every problem: a WAL gap, a file whose checksum or size is wrong, a failed `check`,
        /// an overdue backup.
        public var problems: [String]
        /// The backups verified.
        public var labels: [String]
        /// WAL segments checked.
        public var walChecked: Int
        /// Backed-up files checked.
        public var filesChecked: Int
    }

    /// Checks the repository: pgBackRest's `check` (the server archives into it now) and
    /// `verify` (every archived WAL segment and every backed-up file against its checksum and
    /// size; continuity of the WAL), and the age of the newest full and incremental backup
    /// against the policy. The result is recorded for each backup verified.
    /// - Parameter label: One backup (default: all).
    /// - Parameter checkArchiving: Also run `check` (the server archives into this repository).
    public func verify(label: String? = nil, checkArchiving: Bool = true, now: Date = Date()) async throws -> Verification {
        var problems: [String] = []
        if checkArchiving {
            do {
                try await tool.run(["check"])
            } catch let error as StrataError {
                problems.append("archiving does not work: \(error.message)")
            }
        }
        let info = try await tool.info()
        var arguments = ["verify", "--output=text", "--verbose", "--log-level-console=detail"]
        if let label { arguments.append("--set=\(label)") }
        let output = try await tool.run(arguments)
        // WAL kept only for the consistency of older backups (expired for point in time) leaves
        // gaps between one backup's last segment and a later backup's first: those are expected.
        let boundaries = info.backup.compactMap { set in set.archive.map { ($0.stop, $0.start) } }
        let report = Self.readVerifyOutput(output, backupRanges: boundaries)
        problems += report.problems
        if let label, !info.backup.contains(where: { $0.label == label }) {
            throw StrataError(.notFound, "No backup \(label) in the repository.", details: ["field": "set"])
        }
        if label == nil {
            for kind in ["full", "incr"] {
                // A full backup is as fresh as an incremental for the incremental schedule.
                let newest = info.backup.last { kind == "incr" || $0.type == "full" }
                if let complaint = settings.overdue(
                    kind: kind,
                    finishedAt: newest.map { Date(timeIntervalSince1970: TimeInterval($0.timestamp.stop)) },
                    now: now
                ) {
                    problems.append(complaint)
                }
            }
        }
        let labels = label.map { [$0] } ?? info.backup.map(\.label)
        let store = BackupStore(pool: pool)
        let records = try await store.physicalRecords()
        let details = JSONValue.object([
            "problems": .array(problems.map(JSONValue.string)),
            "wal_checked": .number(Double(report.walChecked)),
            "files_checked": .number(Double(report.filesChecked)),
        ])
        for label in labels {
            guard let record = records[label] else { continue }
            let own = problems.filter { !$0.contains("backup ") || $0.contains(label) }
            try await store.recordVerification(record.id, method: "pgbackrest", passed: own.isEmpty, details: details)
        }
        return Verification(
            passed: problems.isEmpty,
            problems: problems,
            labels: labels,
            walChecked: report.walChecked,
            filesChecked: report.filesChecked
        )
    }

    /// Reads `pgbackrest verify --output=text --verbose --log-level-console=detail`: its
    /// invalid files, its per-backup status, and its WAL ranges (more than one range on a
    /// timeline is a gap).
    /// - Parameter backupRanges: Each backup's first and last WAL segment: a gap from one
    ///   backup's last segment to another's first is what WAL expiry leaves, not a loss.
    static func readVerifyOutput(
        _ output: String,
        backupRanges: [(stop: String, start: String)] = []
    ) -> (
        problems: [String], walChecked: Int, filesChecked: Int
    ) {
        let stops = Set(backupRanges.map(\.stop))
        let starts = Set(backupRanges.map(\.start))
        var problems: [String] = []
        var walChecked = 0
        var filesChecked = 0
        var rangesByTimeline: [String: [(start: String, stop: String)]] = [:]
        for line in output.split(separator: "\n").map(String.init) {
            // The text report's lines are indented by two or four spaces; the same lines
            // repeated inside a log message are indented much further.
            let isReport = line.prefix { $0 == " " }.count <= 4
            if let range = line.range(of: "INFO: invalid ") ?? line.range(of: "WARN: ") ?? line.range(of: "ERROR: ") {
                problems.append(String(line[range.lowerBound...]).replacingOccurrences(of: "INFO: ", with: ""))
            } else if let range = line.range(of: "wal start: "), let stop = line.range(of: ", wal stop: ") {
                let start = String(line[range.upperBound..<stop.lowerBound])
                let end = String(line[stop.upperBound...]).trimmingCharacters(in: .whitespaces)
                rangesByTimeline[String(start.prefix(8)), default: []].append((start, end))
            } else if isReport, line.contains("total WAL checked:"), let number = Self.number(after: "total WAL checked: ", in: line) {
                walChecked += number
            } else if isReport, line.contains("total files checked:"), let number = Self.number(after: "total files checked: ", in: line) {
                filesChecked += number
                if line.contains("status: invalid"), let name = line.split(separator: ",").first {
                    problems.append("\(name.trimmingCharacters(in: .whitespaces)) is invalid")
                }
            }
        }
        for (_, ranges) in rangesByTimeline.sorted(by: { $0.key < $1.key }) {
            let ordered = ranges.sorted { $0.start < $1.start }
            for (before, after) in zip(ordered, ordered.dropFirst()) where !(stops.contains(before.stop) && starts.contains(after.start)) {
                problems.append("WAL gap: the archive has no segment after \(before.stop) up to \(after.start)")
            }
        }
        return (problems, walChecked, filesChecked)
    }

    private static func number(after marker: String, in line: String) -> Int? {
        guard let range = line.range(of: marker) else { return nil }
        return Int(line[range.upperBound...].prefix { $0.isNumber })
    }

    // MARK: Drill

    /// Restores the newest backup side by side to a fresh restore point, compares every table
    /// of every app in the copy with the live database as it was at that point (row count and
    /// ordered checksum, ``TableChecksum``), runs `pg_amcheck --heapallindexed` on the copy,
    /// records the result in `strata.backup_drills` against the backup it started from, and
    /// stops and removes the copy.
    ///
    /// The reference is exact although writers write: the restore point is created while every
    /// persistent user table is locked in `SHARE` mode (writers wait; readers do not), in the
    /// snapshot that lock was taken before, and that snapshot is handed to a second transaction
    /// that computes the reference once the lock is released. Writes pause for as long as the
    /// lock takes: it waits at most two seconds for a writer's transaction to end, five times;
    /// a database that never lets it through is compared against the snapshot of the restore
    /// point's transaction alone, and a transaction committing in the instant between that
    /// snapshot and the restore point's WAL record would then show as a difference. Unlogged
    /// tables, empty in any physical copy, are left out.
    /// - Parameter time: Restore to this time instead; the copy is then checked by
    ///   `pg_amcheck` and its tables counted, with no live reference to compare with.
    /// - Throws: `not_found` when the repository holds no backup, or none Strata recorded.
    public func drill(to time: Date? = nil, restores: PhysicalRestore) async throws -> BackupDrill {
        let startedAt = Date()
        var reference: [TableChecksum]?
        let target: PhysicalRestore.Target
        if let time {
            target = .time(time)
        } else {
            let name = "strata-drill-\(Int(startedAt.timeIntervalSince1970 * 1000))"
            reference = try await referenceAtRestorePoint(named: name)
            // The restore point's segment archived before restoring to it.
            try await tool.run(["check"])
            target = .restorePoint(name)
        }
        let records = try await BackupStore(pool: pool).physicalRecords()
        var problems: [String] = []
        var differing: [String] = []
        var compared = 0
        var restoreSeconds: Double?
        var restoredFrom: String?
        do {
            let copy = try await restores.restoreSideBySide(to: target, database: pool.url.database)
            restoredFrom = copy.backupSet
            restoreSeconds = copy.seconds
            do {
                let copyURL = try DatabaseURL(parsing: copy.url)
                let copyPool = PostgresPool(url: copyURL, configuration: .init(poolSize: 1, maxOverflow: 0, statementTimeout: nil), logger: logger)
                let found = try await copyPool.withRunning {
                    try await copyPool.withConnection { try await TableChecksum.all(on: $0, includingUnlogged: false, logger: logger) }
                }
                if let reference {
                    compared = reference.count
                    differing = BackupDrill.differing(expected: reference, found: found)
                } else {
                    compared = found.count
                }
                let server = try await pool.query("SELECT current_setting('server_version_num')::int").first?.decode(Int.self) ?? 0
                if let problem = try await DumpTools.locate(in: nil, serverMajor: server / 10_000).amcheck(copyURL) { problems.append(problem) }
            } catch {
                problems.append((error as? StrataError)?.message ?? "\(error)")
            }
            try await restores.stop(id: copy.id)
        } catch {
            problems.append((error as? StrataError)?.message ?? "\(error)")
        }
        let sets = try await tool.info().backup
        let label = restoredFrom ?? sets.last?.label
        guard let label, let record = records[label] ?? sets.reversed().lazy.compactMap({ records[$0.label] }).first else {
            throw StrataError(.notFound, "No physical backup Strata recorded to drill; take one with strata backup create --type full.")
        }
        return try await BackupDrill.record(
            of: record,
            startedAt: startedAt,
            compared: compared,
            differing: differing,
            problems: problems,
            restoreSeconds: restoreSeconds,
            details: ["label": .string(label), "target": .string(target.description)],
            store: BackupStore(pool: pool),
            logger: logger
        )
    }

    /// Creates the restore point `name` with writes paused and returns every persistent table's
    /// checksum exactly as of that point (see ``drill(to:restores:)``).
    func referenceAtRestorePoint(named name: String) async throws -> [TableChecksum] {
        let paused = try await pool.withTransaction(isolation: .repeatableRead, readOnly: true, maxAttempts: 1) { reader in
            do {
                // The reader's first statement imports the snapshot the locker saw with every
                // table locked; the locker commits (writers go on) before the long reading.
                // Read committed, so that the snapshot it exports is its last statement's, taken
                // with the locks held (not its first statement's, before them). A lock timeout
                // is a collision: the pool tries again, five times in all.
                try await pool.withTransaction(isolation: .readCommitted, maxAttempts: 5) { locker in
                    _ = try await locker.run("SET LOCAL lock_timeout = '2s'", logger: logger).collect()
                    let tables = try await locker.run(
                        """
                        SELECT string_agg(format('%I.%I', n.nspname, c.relname), ', ')
                        FROM pg_class AS c JOIN pg_namespace AS n ON n.oid = c.relnamespace
                        WHERE c.relkind = 'r' AND c.relpersistence = 'p'
                          AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_%'
                        """,
                        logger: logger
                    ).collect().first?.decode(String?.self)
                    if let tables {
                        // The names come from the catalogue, quoted there.
                        _ = try await locker.run(PostgresQuery(unsafeSQL: "LOCK TABLE \(tables) IN SHARE MODE"), logger: logger).collect()
                    }
                    let row = try await locker.run("SELECT pg_create_restore_point(\(name))::text, pg_export_snapshot()", logger: logger)
                        .collect().first
                    if let (_, snapshot) = try row?.decode((String, String).self) {
                        _ = try await reader.run(PostgresQuery(unsafeSQL: "SET TRANSACTION SNAPSHOT '\(snapshot)'"), logger: logger).collect()
                    }
                }
            } catch let error as StrataError where error.code == .concurrentUpdate {
                return nil as [TableChecksum]?
            }
            return try await TableChecksum.all(on: reader, includingUnlogged: false, logger: logger)
        }
        if let paused { return paused }
        logger.warning("backup drill: writes could not be paused; the reference is the restore point's own snapshot")
        return try await pool.withTransaction(isolation: .repeatableRead, maxAttempts: 1) { connection in
            _ = try await connection.run("SELECT pg_create_restore_point(\(name))", logger: logger).collect()
            return try await TableChecksum.all(on: connection, includingUnlogged: false, logger: logger)
        }
    }

    // MARK: Expire

    /// A backup ``expire(dryRun:now:)`` removed (or would).
    public struct Expired: Sendable, Codable, Equatable {
        public var label: String
        public var type: String
        public var stoppedAt: Date
        public var reason: String
    }

    /// Applies the policy: full backups older than ``BackupConfiguration/Physical/fullRetentionDays``
    /// go with everything depending on them (pgBackRest's time-based retention); differential and
    /// incremental backups older than ``BackupConfiguration/Physical/incrementalRetentionDays``
    /// go one by one (pgBackRest does not expire those by age); WAL is kept from the oldest
    /// backup still inside ``BackupConfiguration/Physical/walRetentionDays`` on (counted in
    /// backups, which pgBackRest 2.45 expires correctly, rather than its time-based archive
    /// retention). Expired rows of `strata.backups` are marked `expired`.
    /// - Parameter dryRun: Say what would go; change nothing.
    public func expire(dryRun: Bool = false, now: Date = Date()) async throws -> [Expired] {
        let info = try await tool.info()
        let day: TimeInterval = 86_400
        func stopped(_ set: PgBackRest.Info.BackupSet) -> Date { Date(timeIntervalSince1970: TimeInterval(set.timestamp.stop)) }
        var expired: [Expired] = []
        var gone = Set<String>()
        // The labels to hand to `expire --set` (a full takes its dependants with it).
        var roots: [String] = []
        // Fulls past their age go with their dependants, but the newest full always stays.
        let fullCutoff = now.addingTimeInterval(-TimeInterval(settings.fullRetentionDays) * day)
        let fulls = info.backup.filter { $0.type == "full" }
        let newest = info.backup.last?.label
        for full in fulls.dropLast() where stopped(full) < fullCutoff {
            roots.append(full.label)
            for set in info.backup where set.label == full.label || set.label.hasPrefix(full.label + "_") {
                gone.insert(set.label)
                expired.append(
                    Expired(label: set.label, type: set.type, stoppedAt: stopped(set), reason: "older than \(settings.fullRetentionDays) days")
                )
            }
        }
        // Incrementals past their age, newest first, and only when no backup that stays
        // depends on them (an incremental needs every backup of its chain back to its full).
        let incrementalCutoff = now.addingTimeInterval(-TimeInterval(settings.incrementalRetentionDays) * day)
        var neededByKept = Set<String>()
        for set in info.backup.reversed() where !gone.contains(set.label) {
            let old = set.type != "full" && set.label != newest && stopped(set) < incrementalCutoff
            if old && !neededByKept.contains(set.label) {
                gone.insert(set.label)
                roots.append(set.label)
                expired.append(
                    Expired(label: set.label, type: set.type, stoppedAt: stopped(set), reason: "older than \(settings.incrementalRetentionDays) days")
                )
            } else {
                neededByKept.formUnion(set.reference ?? [])
            }
        }
        guard !dryRun else { return expired }
        for label in roots {
            try await tool.run(["expire", "--set=\(label)"])
        }
        // WAL: keep what the backups inside the WAL window (and the newest, always) need.
        let remaining = info.backup.filter { !gone.contains($0.label) }
        let walCutoff = now.addingTimeInterval(-TimeInterval(settings.walRetentionDays) * day)
        let keep = max(1, remaining.filter { stopped($0) >= walCutoff }.count)
        try await tool.run(["expire", "--repo1-retention-archive-type=incr", "--repo1-retention-archive=\(keep)"])
        let store = BackupStore(pool: pool)
        let records = try await store.physicalRecords()
        for set in expired {
            if let record = records[set.label] { _ = try await store.expire(record.id) }
        }
        return expired
    }
}
