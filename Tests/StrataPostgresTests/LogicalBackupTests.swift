import Foundation
import PostgresNIO
import StrataCore
import StrataTestSupport
import Testing

@testable import StrataPostgres

/// Logical backups against the real test PostgreSQL and Debian's `pg_dump`/`pg_restore`: a
/// dump taken while writers write equals the manifest taken in its snapshot, table by table,
/// and a restore drill says so (and fails when it does not); restores
/// go only into new databases; the tools never see the password on their command line; an old
/// `pg_dump` is refused; verification and expiry are recorded.
@Suite struct LogicalBackupTests {
    func configuration(_ folder: String, tools: String? = nil) -> BackupConfiguration {
        BackupConfiguration(location: folder, retentionDays: 30, toolsDirectory: tools)
    }

    func temporaryFolder() throws -> String {
        let folder = NSTemporaryDirectory() + "strata-backup-test-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        return folder
    }

    /// A table with jsonb, bytea and values large enough to be TOASTed, and `count` rows in it.
    func makeLedger(_ pool: PostgresPool, rows count: Int) async throws {
        try await pool.query(
            """
            CREATE TABLE public.ledger (
                id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
                written_by text NOT NULL,
                payload jsonb NOT NULL,
                blob bytea NOT NULL,
                note text NOT NULL
            )
            """
        )
        try await pool.query(
            """
            INSERT INTO public.ledger (written_by, payload, blob, note)
            SELECT 'seed', jsonb_build_object('n', n, 'tags', jsonb_build_array('a', n)), decode(md5(n::text), 'hex'),
                   repeat(md5(n::text), CASE WHEN n % 10 = 0 THEN 400 ELSE 1 END)
            FROM generate_series(1, \(count)) AS n
            """
        )
    }

    @Test(.timeLimit(.minutes(2)))
    func aDumpTakenWhileWritersWriteEqualsItsManifestAndADrillSaysSo() async throws {
        try await withTestDatabase { database in
            let pool = database.pool
            try await makeLedger(pool, rows: 2_000)
            let folder = try temporaryFolder()
            defer { try? FileManager.default.removeItem(atPath: folder) }
            let backups = LogicalBackup(pool: pool, configuration: configuration(folder), logger: TestPostgres.logger)

            // Writers keep inserting while the snapshot is exported, the manifest taken and the dump runs.
            let stop = TestCounter(0)
            let written = TestCounter(0)
            let writers = (0..<3).map { writer in
                Task {
                    while stop.value == 0 {
                        try await pool.query(
                            "INSERT INTO public.ledger (written_by, payload, blob, note) VALUES (\("writer-\(writer)"), '{\"live\":true}', '\\x00ff', 'during')"
                        )
                        written.increment()
                    }
                }
            }
            let backup = try await backups.create()
            let writtenDuringBackup = written.value
            stop.increment()
            for writer in writers { try await writer.value }
            #expect(writtenDuringBackup > 0, "the writers wrote during the backup")

            let manifest = try #require(try await BackupStore(pool: pool).manifest(backup.id))
            let inSnapshot = manifest.first { $0.table == "public.ledger" }?.rows ?? 0
            let live = try await pool.query("SELECT count(*) FROM public.ledger").first?.decode(Int64.self) ?? 0
            #expect(manifest.count >= 10 && inSnapshot >= 2_000 && live > inSnapshot, "rows written after the snapshot are not in it")

            // The drill restores the dump into a scratch database and finds every table equal.
            let drill = try await backups.drill()
            #expect(drill.passed && drill.backup.id == backup.id, "\(drill.differing) \(drill.problems)")
            #expect(drill.tablesCompared == manifest.count && drill.differing.isEmpty && drill.restoreSeconds ?? 0 > 0)
            let scratch = try await pool.query("SELECT count(*) FROM pg_database WHERE datname LIKE 'strata_drill_%'").first?.decode(Int64.self)
            #expect(scratch == 0, "the copy is dropped")

            // A manifest that does not match what was dumped fails the drill, naming the table.
            try await pool.query(
                "UPDATE strata.backups SET manifest = (SELECT jsonb_agg(CASE WHEN m->>'table' = 'public.ledger' THEN jsonb_set(m, '{rows}', '1') ELSE m END) FROM jsonb_array_elements(manifest) AS m) WHERE id = \(backup.id)"
            )
            let failed = try await backups.drill(id: backup.id)
            #expect(!failed.passed && failed.differing == ["public.ledger"])
            let recorded = try await pool.query("SELECT passed, tables_differing FROM strata.backup_drills ORDER BY id").map {
                try $0.decode((Bool, Int32).self)
            }
            #expect(recorded.map(\.0) == [true, false] && recorded.last?.1 == 1)
            #expect(backup.status == "succeeded" && backup.sizeBytes ?? 0 > 0)
            #expect(URL(fileURLWithPath: backup.location).lastPathComponent.wholeMatch(of: /strata_backup_\d{8}_\d{6}\.dump/) != nil)
        }
    }

    @Test(.timeLimit(.minutes(2)))
    func restoresGoOnlyIntoNewDatabasesAndAFailedOneLeavesNone() async throws {
        try await withTestDatabase { database in
            let pool = database.pool
            let folder = try temporaryFolder()
            defer { try? FileManager.default.removeItem(atPath: folder) }
            let backup = LogicalBackup(pool: pool, configuration: configuration(folder), logger: TestPostgres.logger)
            let taken = try await backup.create()

            func refusal(_ file: String, _ target: String) async -> StrataError? {
                do {
                    _ = try await backup.restore(file: file, into: target)
                    return nil
                } catch { return error as? StrataError }
            }
            #expect(await refusal(taken.location, database.name)?.code == .invalidValue, "the live database")
            #expect(await refusal(taken.location, "Bad Name; DROP")?.code == .invalidValue)
            #expect(await refusal(folder + "/missing.dump", "\(database.name)_x")?.code == .notFound)
            #expect(await refusal(taken.location, "postgres")?.code == .conflict, "an existing database")

            // A file that is not a dump: refused before any database is created.
            let junk = folder + "/junk.dump"
            try Data("not a dump".utf8).write(to: URL(fileURLWithPath: junk))
            #expect(await refusal(junk, "\(database.name)_junk")?.code == .backupFailed)
            let left = try await pool.query("SELECT count(*) FROM pg_database WHERE datname = \("\(database.name)_junk")").first?.decode(Int64.self)
            #expect(left == 0)
        }
    }

    /// Wrappers of the real tools that note their arguments and whether `PGPASSWORD` was set.
    func recordingTools(_ folder: String) throws -> (directory: String, log: String) {
        let directory = folder + "/tools"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let log = folder + "/calls.log"
        let real = try DumpTools.locate(in: nil, serverMajor: 15)
        for (name, target) in [("pg_dump", real.pgDump), ("pg_restore", real.pgRestore)] {
            let path = "\(directory)/\(name)"
            try Data(
                """
                #!/bin/sh
                echo "\(name) $* password:${PGPASSWORD:+set}" >> '\(log)'
                exec '\(target)' "$@"

                """.utf8
            ).write(to: URL(fileURLWithPath: path))
            chmod(path, 0o755)
        }
        return (directory, log)
    }

    @Test(.timeLimit(.minutes(2)))
    func thePasswordReachesTheToolsByTheirEnvironmentNeverTheirCommandLine() async throws {
        try await withTestDatabase { database in
            let folder = try temporaryFolder()
            defer { try? FileManager.default.removeItem(atPath: folder) }
            let (tools, log) = try recordingTools(folder)
            let password = try #require(database.url.password)
            let backup = LogicalBackup(
                pool: database.pool,
                configuration: configuration(folder + "/dumps", tools: tools),
                logger: TestPostgres.logger
            )
            let taken = try await backup.create()
            let restored = try await backup.restore(file: taken.location, into: "\(database.name)_copy")
            try await database.pool.query(PostgresQuery(unsafeSQL: "DROP DATABASE \(quoteIdentifier(restored.database)) WITH (FORCE)"))

            let calls = try String(contentsOfFile: log, encoding: .utf8).split(separator: "\n")
            #expect(calls.contains { $0.hasPrefix("pg_dump --format=custom --compress=9") }, "\(calls)")
            #expect(calls.contains { $0.hasPrefix("pg_restore --single-transaction --exit-on-error") }, "\(calls)")
            #expect(calls.filter { $0.contains(" --list ") || $0.hasPrefix("pg_restore --list") }.count >= 1)
            #expect(!calls.contains { $0.contains(password) }, "no command line holds the password")
            #expect(
                calls.filter { $0.hasPrefix("pg_dump --format") || $0.hasPrefix("pg_restore --single") }.allSatisfy { $0.hasSuffix("password:set") }
            )
        }
    }

    @Test(.timeLimit(.minutes(2)))
    func aPgDumpOlderThanTheServerIsRefusedAndNothingIsRecorded() async throws {
        try await withTestDatabase { database in
            let folder = try temporaryFolder()
            defer { try? FileManager.default.removeItem(atPath: folder) }
            for name in ["pg_dump", "pg_restore"] {
                let path = "\(folder)/\(name)"
                try Data("#!/bin/sh\necho '\(name) (PostgreSQL) 14.2'\n".utf8).write(to: URL(fileURLWithPath: path))
                chmod(path, 0o755)
            }
            let backup = LogicalBackup(
                pool: database.pool,
                configuration: configuration(folder + "/dumps", tools: folder),
                logger: TestPostgres.logger
            )
            await #expect {
                try await backup.create()
            } throws: { error in
                let error = error as? StrataError
                return error?.code == .dependencyMissing && error?.message.contains("older than the server") == true
            }
            #expect(try await backup.list().isEmpty)
        }
    }

    @Test(.timeLimit(.minutes(2)))
    func verificationAndExpiryAreRecordedAndTheScheduledJobTakesAndExpires() async throws {
        try await withTestDatabase { database in
            let pool = database.pool
            let folder = try temporaryFolder()
            defer { try? FileManager.default.removeItem(atPath: folder) }
            let settings = configuration(folder)
            let backup = LogicalBackup(pool: pool, configuration: settings, logger: TestPostgres.logger)
            let old = try await backup.create()
            let recent = try await backup.create()
            #expect(old.location != recent.location, "two backups of one second get two files")

            let verified = try await backup.verify()
            #expect(verified.passed && verified.backup.id == recent.id && verified.tables > 0, "\(verified.problems)")
            #expect(verified.backup.lastVerificationPassed == true)

            // A truncated file fails, naming the difference, and the failure is recorded.
            let handle = try #require(FileHandle(forWritingAtPath: old.location))
            try handle.truncate(atOffset: 100)
            try handle.close()
            let broken = try await backup.verify(id: old.id)
            #expect(!broken.passed && broken.problems.contains { $0.contains("bytes") }, "\(broken.problems)")
            #expect(try await backup.list().first { $0.id == old.id }?.lastVerificationPassed == false)

            // Relabelled 40 days old: a dry run names it and removes nothing; expiry removes it.
            try await pool.query("UPDATE strata.backups SET started_at = now() - interval '40 days' WHERE id = \(old.id)")
            #expect(try await backup.expire(dryRun: true).map(\.id) == [old.id])
            #expect(FileManager.default.fileExists(atPath: old.location))
            let expired = try await backup.expire()
            #expect(expired.map(\.id) == [old.id] && expired.first?.status == "expired")
            #expect(!FileManager.default.fileExists(atPath: old.location) && FileManager.default.fileExists(atPath: recent.location))

            // The platform queue's handler takes a backup and expires by the same rules.
            let handler = try #require(PlatformJobs.handlers(pool: pool, backups: settings, logger: TestPostgres.logger)[PlatformJobs.logicalBackup])
            let job = ClaimedJob(id: 1, queue: PlatformJobs.queue, kind: PlatformJobs.logicalBackup, leaseToken: UUID())
            let result = try await handler(JobContext(job: job, cancellation: Latch()))
            #expect(result?.contains(#""expired":0"#) == true, "\(result ?? "")")
            let statuses = try await backup.list().map(\.status)
            #expect(statuses == ["succeeded", "succeeded", "expired"])
            #expect(PlatformJobs.schedules(backups: settings).contains { $0.name == PlatformJobs.logicalBackup })

            // Where backups stand: the failed verification shows, and a day-old clock sees the backup overdue.
            let status = try await BackupStatus.collect(from: pool)
            #expect(status.lastLogicalBackup != nil && status.lastVerificationPassed == false && status.failedThisWeek == 0)
            #expect(status.problems(configuration: settings) == ["the last verification failed"])
            let later = try #require(status.lastLogicalBackup).addingTimeInterval(49 * 3600)
            #expect(status.problems(configuration: settings, now: later).first?.contains("the policy allows 48 h") == true)
            #expect(status.prometheusText().contains("strata_backup_last_verification_passed 0.0"))
            #expect(status.prometheusText().contains("strata_backup_last_success_timestamp_seconds "))
            var disabled = settings
            disabled.enabled = false
            #expect(!PlatformJobs.schedules(backups: disabled).contains { $0.name == PlatformJobs.logicalBackup })
        }
    }
}
