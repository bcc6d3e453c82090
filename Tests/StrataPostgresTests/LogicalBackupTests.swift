import Foundation
import PostgresNIO
import StrataCore
import StrataTestSupport
import Testing

@testable import StrataPostgres

/// Logical backups against the real test PostgreSQL and Debian's `pg_dump`/`pg_restore`: a
/// dump taken while writers write equals the snapshot it was taken in, table by table; restores
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

    func checksums(_ url: DatabaseURL) async throws -> [TableChecksum] {
        let pool = PostgresPool(url: url, configuration: .init(poolSize: 1, maxOverflow: 0, searchPath: ""), logger: TestPostgres.logger)
        return try await pool.withRunning {
            try await pool.withConnection { try await TableChecksum.all(on: $0, logger: TestPostgres.logger) }
        }
    }

    @Test(.timeLimit(.minutes(2)))
    func aDumpTakenWhileWritersWriteEqualsTheSnapshotItWasTakenIn() async throws {
        try await withTestDatabase { database in
            let pool = database.pool
            try await makeLedger(pool, rows: 2_000)
            let folder = try temporaryFolder()
            defer { try? FileManager.default.removeItem(atPath: folder) }

            // Writers keep inserting while the snapshot is exported and the dump runs.
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
            let holder = PostgresPool(
                url: database.url,
                configuration: .init(poolSize: 1, maxOverflow: 0, searchPath: ""),
                logger: TestPostgres.logger
            )
            let (expected, backup) = try await holder.withRunning {
                try await holder.withConnection { connection in
                    let logger = TestPostgres.logger
                    try await connection.run("BEGIN ISOLATION LEVEL REPEATABLE READ", logger: logger)
                    let snapshot = try await connection.run("SELECT pg_export_snapshot()", logger: logger).collect().first?.decode(String.self)
                    let expected = try await TableChecksum.all(on: connection, logger: logger)
                    let backup = try await LogicalBackup(pool: pool, configuration: configuration(folder), logger: logger)
                        .create(snapshot: snapshot)
                    try await connection.run("COMMIT", logger: logger)
                    return (expected, backup)
                }
            }
            stop.increment()
            for writer in writers { try await writer.value }
            #expect(written.value > 0, "the writers wrote during the dump")

            let scratch = "\(database.name)_restored"
            let restored = try await LogicalBackup(pool: pool, configuration: configuration(folder), logger: TestPostgres.logger)
                .restore(file: backup.location, into: scratch)
            #expect(restored.tables > 0)
            let actual = try await checksums(database.url.with(database: scratch))
            try await pool.query(PostgresQuery(unsafeSQL: "DROP DATABASE \(quoteIdentifier(scratch)) WITH (FORCE)"))

            let inSnapshot = expected.first { $0.table == "public.ledger" }?.rows ?? 0
            #expect(expected.count >= 10 && inSnapshot >= 2_000)
            #expect(actual == expected, "every table equal: \(Set(actual).symmetricDifference(expected).map(\.table))")
            let live = try await pool.query("SELECT count(*) FROM public.ledger").first?.decode(Int64.self) ?? 0
            #expect(live == 2_000 + Int64(written.value) && live > inSnapshot, "rows written after the snapshot are not in the dump")
            #expect(backup.status == "succeeded" && backup.sizeBytes ?? 0 > 0 && backup.location.hasSuffix(".dump"))
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
            #expect(try await LogicalBackup.list(pool: database.pool).isEmpty)
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
            #expect(try await LogicalBackup.list(pool: pool).first { $0.id == old.id }?.lastVerificationPassed == false)

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
            let statuses = try await LogicalBackup.list(pool: pool).map(\.status)
            #expect(statuses == ["succeeded", "succeeded", "expired"])
            #expect(PlatformJobs.schedules(backups: settings).contains { $0.name == PlatformJobs.logicalBackup })
            var disabled = settings
            disabled.enabled = false
            #expect(!PlatformJobs.schedules(backups: disabled).contains { $0.name == PlatformJobs.logicalBackup })
        }
    }
}
