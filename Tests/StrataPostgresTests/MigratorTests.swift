import Foundation
import Logging
import PostgresNIO
import StrataCore
import StrataPostgres
import StrataTestSupport
import Testing

@Suite struct MigratorTests {
    /// The platform's own migration files, which every run applies first.
    var platformFiles: [String] { (try? MigrationLine.platform().migrations.map(\.fileName)) ?? [] }
    /// Their ledger rows, as `ledger(_:)` prints them.
    var platformLedger: [String] { (try? MigrationLine.platform().migrations.map { "strata/\($0.version):applied" }) ?? [] }

    let logger = TestPostgres.logger

    func appLine(_ files: [(Int, String)], module: String = "demo") throws -> MigrationLine {
        try MigrationLine(module: module, migrations: files.map { Migration(module: module, version: $0.0, name: "step_\($0.0)", sql: $0.1) })
    }

    func lines(_ app: MigrationLine) throws -> [MigrationLine] { [try .platform(), app] }

    func tableExists(_ name: String, in pool: PostgresPool) async throws -> Bool {
        let rows = try await pool.query("SELECT to_regclass(\(name)) IS NOT NULL")
        return try rows.first?.decode(Bool.self) ?? false
    }

    /// The ledger rows of the test's line and the platform's (a migrated template also holds the apps' lines).
    func ledger(_ pool: PostgresPool) async throws -> [String] {
        let rows = try await pool.query(
            "SELECT module || '/' || version || ':' || state FROM strata.schema_migrations WHERE module IN ('demo', 'strata') ORDER BY module, version"
        )
        return try rows.map { try $0.decode(String.self) }
    }

    @Test(.timeLimit(.minutes(2)))
    func eightConcurrentMigratorsApplyEachFileExactlyOnce() async throws {
        try await withTestDatabase(migrated: false, poolConfiguration: .init(poolSize: 1, maxOverflow: 9, searchPath: "")) { database in
            let app = try appLine([(1, "CREATE TABLE public.demo_a (id int PRIMARY KEY);"), (2, "CREATE TABLE public.demo_b (id int PRIMARY KEY);")])
            let migrator = Migrator(lines: try lines(app), pool: database.pool, logger: logger)
            let counts = try await withThrowingTaskGroup(of: Int.self) { group in
                for _ in 0..<8 { group.addTask { try await migrator.migrate().count } }
                return try await group.reduce(into: [Int]()) { $0.append($1) }
            }
            let total = 2 + platformFiles.count
            #expect(counts.reduce(0, +) == total)
            #expect(counts.filter { $0 == total }.count == 1)
            #expect(counts.filter { $0 == 0 }.count == 7)
            #expect(try await ledger(database.pool) == ["demo/1:applied", "demo/2:applied"] + platformLedger)
        }
    }

    @Test(.timeLimit(.minutes(2)))
    func aFailingMigrationLeavesNoTraceAndNamesTheFile() async throws {
        try await withTestDatabase { database in
            let app = try appLine([
                (1, "CREATE TABLE public.demo_ok (id int);"),
                (2, "CREATE TABLE public.demo_half (id int);\n\nCREATE TABLE public.demo_broken (id nosuchtype);"),
            ])
            let migrator = Migrator(lines: try lines(app), pool: database.pool, logger: logger)
            await #expect {
                try await migrator.migrate()
            } throws: { error in
                let error = error as? StrataError
                return error?.code == .migrationFailed && error?.message.contains("demo/0002_step_2.sql") == true
                    && error?.message.contains("line 3") == true && error?.message.contains("nosuchtype") == true
            }
            #expect(try await tableExists("public.demo_ok", in: database.pool))
            #expect(try await !tableExists("public.demo_half", in: database.pool))
            #expect(try await ledger(database.pool) == ["demo/1:applied"] + platformLedger)
        }
    }

    @Test(.timeLimit(.minutes(2)))
    func aNoTransactionFileIsRecordedFailedAndARerunRepairsIt() async throws {
        try await withTestDatabase { database in
            let setup = (1, "CREATE TABLE public.demo_items (id int, name text);")
            let broken = try appLine([
                setup, (2, "-- strata:no-transaction\nCREATE INDEX CONCURRENTLY IF NOT EXISTS demo_items_name ON public.demo_items (nosuchcolumn);"),
            ])
            await #expect(throws: StrataError.self) {
                try await Migrator(lines: try lines(broken), pool: database.pool, logger: logger).migrate()
            }
            #expect(try await ledger(database.pool) == ["demo/1:applied", "demo/2:failed"] + platformLedger)
            let analysis = try await Migrator(lines: try lines(broken), pool: database.pool, logger: logger).status()
            #expect(analysis.entries.first { $0.module == "demo" && $0.version == 2 }?.state == .failed)

            let fixed = try appLine([
                setup,
                (
                    2,
                    "-- strata:no-transaction\nDROP INDEX CONCURRENTLY IF EXISTS public.demo_items_name;\nCREATE INDEX CONCURRENTLY demo_items_name ON public.demo_items (name);"
                ),
            ])
            let applied = try await Migrator(lines: try lines(fixed), pool: database.pool, logger: logger).migrate()
            #expect(applied.map(\.fileName) == ["demo/0002_step_2.sql"])
            #expect(try await ledger(database.pool) == ["demo/1:applied", "demo/2:applied"] + platformLedger)
            #expect(try await tableExists("public.demo_items_name", in: database.pool))
        }
    }

    @Test(.timeLimit(.minutes(2)))
    func anEditedAppliedFileIsRefusedUntilRepaired() async throws {
        try await withTestDatabase { database in
            try await Migrator(lines: try lines(try appLine([(1, "CREATE TABLE public.demo_x (id int);")])), pool: database.pool, logger: logger)
                .migrate()
            let edited = try appLine([(1, "CREATE TABLE public.demo_x (id bigint);"), (2, "CREATE TABLE public.demo_y (id int);")])
            let migrator = Migrator(lines: try lines(edited), pool: database.pool, logger: logger)
            await #expect {
                try await migrator.migrate()
            } throws: { error in
                (error as? StrataError)?.code == .migrationChecksumMismatch
                    && (error as? StrataError)?.message.contains("demo/0001_step_1.sql") == true
            }
            #expect(try await !tableExists("public.demo_y", in: database.pool))
            #expect(try await migrator.repair() == ["demo/0001_step_1.sql"])
            #expect(try await migrator.migrate().map(\.version) == [2])
        }
    }

    @Test(.timeLimit(.minutes(2)))
    func aPendingFileNumberedBelowAnAppliedOneIsAnError() async throws {
        try await withTestDatabase { database in
            try await Migrator(lines: try lines(try appLine([(1, "SELECT 1;"), (3, "SELECT 3;")])), pool: database.pool, logger: logger).migrate()
            let withGap = try appLine([(1, "SELECT 1;"), (2, "CREATE TABLE public.demo_late (id int);"), (3, "SELECT 3;")])
            await #expect {
                try await Migrator(lines: try lines(withGap), pool: database.pool, logger: logger).migrate()
            } throws: { error in
                (error as? StrataError)?.code == .migrationOutOfOrder
            }
            #expect(try await !tableExists("public.demo_late", in: database.pool))
        }
    }

    @Test(.timeLimit(.minutes(2)))
    func statusIsReadOnlyAndCreatesNothing() async throws {
        try await withTestDatabase(migrated: false) { database in
            let migrator = Migrator(lines: try lines(try appLine([(1, "SELECT 1;")])), pool: database.pool, logger: logger)
            let analysis = try await migrator.status()
            #expect(analysis.toApply.map(\.fileName) == platformFiles + ["demo/0001_step_1.sql"])
            #expect(try await !tableExists("strata.schema_migrations", in: database.pool))
        }
    }

    @Test(.timeLimit(.minutes(2)))
    func aHeldLockMakesOthersWaitThenTimeOut() async throws {
        try await withTestDatabase { database in
            let migrator = Migrator(
                lines: try lines(try appLine([(1, "SELECT 1;")])),
                pool: database.pool,
                options: .init(lockTimeout: .milliseconds(300)),
                logger: logger
            )
            try await database.pool.withConnection { holder in
                _ = try await holder.query("SELECT pg_advisory_lock(\(Migrator.lockKey))", logger: TestPostgres.logger).collect()
                await #expect {
                    try await migrator.migrate()
                } throws: { error in
                    (error as? StrataError)?.code == .migrationLockTimeout
                }
                _ = try await holder.query("SELECT pg_advisory_unlock(\(Migrator.lockKey))", logger: TestPostgres.logger).collect()
            }
            #expect(try await migrator.migrate().count == 1)
        }
    }
}
