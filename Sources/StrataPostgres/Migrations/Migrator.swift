import Foundation
public import Logging
import PostgresNIO
import StrataCore

/// Applies migration lines to a database.
///
/// ```swift
/// let migrator = Migrator(lines: [try .platform(), helpdesk.migrations], pool: pool, logger: logger)
/// let plan = try await migrator.status()          // read-only: what would run
/// let applied = try await migrator.migrate()      // applies pending files under the lock
/// ```
///
/// Guarantees:
/// - A session advisory lock is taken before the ledger is read, with a bounded wait, so
///   concurrent migrators (several servers starting at once) apply each file exactly once;
///   the others wait and find nothing to do.
/// - A transactional file and its ledger row commit together; a failure leaves no trace and
///   names the file, the statement's line and PostgreSQL's message.
/// - Edited applied files and pending files numbered below applied ones stop the run before
///   anything is applied (see ``MigrationAnalysis/blockingErrors``).
/// - ``status()`` is read-only: a `READ ONLY` transaction, no lock, nothing created.
public struct Migrator: Sendable {
    /// Options of a run.
    public struct Options: Sendable {
        /// The longest wait for another migrator to finish.
        public var lockTimeout: Duration
        /// Apply pending files numbered below applied ones instead of refusing.
        public var allowOutOfOrder: Bool

        public init(lockTimeout: Duration = .seconds(60), allowOutOfOrder: Bool = false) {
            self.lockTimeout = lockTimeout
            self.allowOutOfOrder = allowOutOfOrder
        }
    }

    /// The advisory lock key shared by every Strata migrator ("StrataMG").
    public static let lockKey: Int64 = 0x5374_7261_7461_4D47

    /// The lines, applied in this order (the platform's `strata` line first).
    public let lines: [MigrationLine]
    public let options: Options
    let pool: PostgresPool
    let logger: Logger

    /// Creates a migrator.
    public init(lines: [MigrationLine], pool: PostgresPool, options: Options = .init(), logger: Logger) {
        self.lines = lines
        self.pool = pool
        self.options = options
        self.logger = logger
    }

    /// Compares files and ledger without changing anything (a read-only transaction, no lock).
    public func status() async throws -> MigrationAnalysis {
        let ledger = try await pool.withTransaction(readOnly: true) { connection in
            try await Self.readLedger(on: connection, logger: pool.statementLogger)
        }
        return MigrationAnalysis(lines: lines, ledger: ledger, allowOutOfOrder: options.allowOutOfOrder)
    }

    /// Applies every pending migration, in line order then version order.
    /// - Parameter progress: Called with a line of text before and after each file.
    /// - Returns: The migrations applied by this call (empty when up to date).
    /// - Throws: `migration_lock_timeout`, `migration_checksum_mismatch`, `migration_out_of_order`,
    ///   `migration_failed` (naming the file), or a mapped database error.
    @discardableResult
    public func migrate(progress: (@Sendable (String) -> Void)? = nil) async throws -> [MigrationStatus] {
        try await withMigrationLock { connection in
            let ledger = try await Self.readLedger(on: connection, logger: pool.statementLogger)
            let analysis = MigrationAnalysis(lines: lines, ledger: ledger, allowOutOfOrder: options.allowOutOfOrder)
            if let problem = analysis.blockingErrors.first { throw problem }
            var applied: [MigrationStatus] = []
            for migration in analysis.toApply {
                progress?("applying \(migration.fileName)")
                let started = ContinuousClock.now
                try await apply(migration, on: connection)
                let elapsed = started.duration(to: .now)
                progress?("applied  \(migration.fileName) in \(elapsed.milliseconds) ms")
                logger.info(
                    "migration applied",
                    metadata: ["strata.migration.file": "\(migration.fileName)", "strata.migration.ms": "\(elapsed.milliseconds)"]
                )
                applied.append(
                    MigrationStatus(
                        module: migration.module,
                        version: migration.version,
                        name: migration.name,
                        state: .applied,
                        appliedAt: Date(),
                        durationMilliseconds: Int(elapsed.milliseconds)
                    )
                )
            }
            return applied
        }
    }

    /// Accepts edited applied files: records their current checksum.
    /// - Returns: The files whose checksum was updated.
    @discardableResult
    public func repair() async throws -> [String] {
        try await withMigrationLock { connection in
            let ledger = try await Self.readLedger(on: connection, logger: pool.statementLogger)
            let analysis = MigrationAnalysis(lines: lines, ledger: ledger, allowOutOfOrder: options.allowOutOfOrder)
            var repaired: [String] = []
            for line in lines {
                for migration in line.migrations {
                    guard
                        analysis.entries.contains(where: {
                            $0.module == migration.module && $0.version == migration.version && $0.state == .checksumMismatch
                        })
                    else { continue }
                    try await connection.run(
                        """
                        UPDATE strata.schema_migrations SET checksum = \(migration.checksum), name = \(migration.name)
                        WHERE module = \(migration.module) AND version = \(migration.version)
                        """,
                        logger: pool.statementLogger
                    )
                    repaired.append(migration.fileName)
                    logger.notice("migration checksum accepted", metadata: ["strata.migration.file": "\(migration.fileName)"])
                }
            }
            return repaired
        }
    }

    // MARK: Steps

    private func withMigrationLock<T: Sendable>(_ body: @Sendable (PostgresConnection) async throws -> T) async throws -> T {
        let timeout = options.lockTimeout
        return try await pool.withConnection { connection in
            let log = pool.statementLogger
            // Migrations may run long; the pool's statement timeout is for requests.
            try await connection.run("SET statement_timeout = 0", logger: log)
            let deadline = ContinuousClock.now + timeout
            var announced = false
            while true {
                let rows = try await connection.run("SELECT pg_try_advisory_lock(\(Self.lockKey))", logger: log).collect()
                if try rows.first?.decode(Bool.self) == true { break }
                if ContinuousClock.now >= deadline {
                    _ = try? await connection.run("RESET statement_timeout", logger: log)
                    throw StrataError(
                        .migrationLockTimeout,
                        "Another migrator held the migration lock for more than \(timeout); try again when it has finished"
                    )
                }
                if !announced {
                    logger.info("waiting for another migrator to finish")
                    announced = true
                }
                try await Task.sleep(for: .milliseconds(100))
            }
            do {
                let result = try await body(connection)
                try await connection.run("SELECT pg_advisory_unlock(\(Self.lockKey))", logger: log)
                try await connection.run("RESET statement_timeout", logger: log)
                return result
            } catch {
                _ = try? await connection.run("SELECT pg_advisory_unlock(\(Self.lockKey))", logger: log)
                _ = try? await connection.run("RESET statement_timeout", logger: log)
                throw error
            }
        }
    }

    private func apply(_ migration: Migration, on connection: PostgresConnection) async throws {
        let log = pool.statementLogger
        let statements = SQLScript(migration.sql).statements
        let started = ContinuousClock.now
        if migration.isTransactional {
            try await connection.run("BEGIN", logger: log)
            do {
                try await run(statements, of: migration, on: connection)
                let duration = Int(started.duration(to: .now).milliseconds)
                try await connection.run(
                    """
                    INSERT INTO strata.schema_migrations (module, version, name, checksum, state, duration_ms)
                    VALUES (\(migration.module), \(migration.version), \(migration.name), \(migration.checksum), 'applied', \(duration))
                    ON CONFLICT (module, version) DO UPDATE
                    SET name = EXCLUDED.name, checksum = EXCLUDED.checksum, state = 'applied', applied_at = now(),
                        duration_ms = EXCLUDED.duration_ms, applied_by = current_user, error = NULL
                    """,
                    logger: log
                )
                try await connection.run("COMMIT", logger: log)
            } catch {
                _ = try? await connection.run("ROLLBACK", logger: log)
                throw error
            }
        } else {
            try await connection.run(
                """
                INSERT INTO strata.schema_migrations (module, version, name, checksum, state)
                VALUES (\(migration.module), \(migration.version), \(migration.name), \(migration.checksum), 'failed')
                ON CONFLICT (module, version) DO UPDATE
                SET name = EXCLUDED.name, checksum = EXCLUDED.checksum, state = 'failed', error = NULL
                """,
                logger: log
            )
            do {
                try await run(statements, of: migration, on: connection)
            } catch let error as StrataError {
                _ = try? await connection.run(
                    """
                    UPDATE strata.schema_migrations SET error = \(error.message)
                    WHERE module = \(migration.module) AND version = \(migration.version)
                    """,
                    logger: log
                )
                throw error
            }
            let duration = Int(started.duration(to: .now).milliseconds)
            try await connection.run(
                """
                UPDATE strata.schema_migrations
                SET state = 'applied', applied_at = now(), duration_ms = \(duration), applied_by = current_user, error = NULL
                WHERE module = \(migration.module) AND version = \(migration.version)
                """,
                logger: log
            )
        }
    }

    private func run(_ statements: [SQLScript.Statement], of migration: Migration, on connection: PostgresConnection) async throws {
        for (index, statement) in statements.enumerated() {
            do {
                try await connection.run(PostgresQuery(unsafeSQL: statement.sql), logger: pool.statementLogger)
            } catch let error as PSQLError {
                let reason = error.serverMessage ?? String(describing: error.code)
                throw StrataError(
                    .migrationFailed,
                    "\(migration.fileName) failed at statement \(index + 1) (line \(statement.line)): \(reason)",
                    details: ["file": migration.fileName, "line": "\(statement.line)", "sqlstate": error.serverInfo?[.sqlState] ?? ""],
                    underlying: error
                )
            }
        }
    }

    static func readLedger(on connection: PostgresConnection, logger: Logger) async throws -> [LedgerRow] {
        let exists = try await connection.run(
            "SELECT to_regclass('strata.schema_migrations') IS NOT NULL",
            logger: logger
        ).collect()
        guard try exists.first?.decode(Bool.self) == true else { return [] }
        let rows = try await connection.run(
            """
            SELECT module, version, name, checksum, state, applied_at, duration_ms
            FROM strata.schema_migrations ORDER BY module, version
            """,
            logger: logger
        )
        var ledger: [LedgerRow] = []
        for try await (module, version, name, checksum, state, appliedAt, duration) in rows.decode(
            (String, Int, String, String, String, Date, Int).self
        ) {
            ledger.append(
                LedgerRow(
                    module: module,
                    version: version,
                    name: name,
                    checksum: checksum,
                    state: state,
                    appliedAt: appliedAt,
                    durationMilliseconds: duration
                )
            )
        }
        return ledger
    }
}
