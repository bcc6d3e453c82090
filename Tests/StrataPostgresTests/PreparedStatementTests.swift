import PostgresNIO
import StrataCore
import StrataTestSupport
import Testing

@testable import StrataPostgres

/// Prepared statements on the pool against a real PostgreSQL: a statement whose preparation
/// failed is prepared anew on a fresh connection, and an error of running one keeps the
/// connection.
@Suite struct PreparedStatementTests {
    /// `count(*)` of `public.notes` rows of one kind, or `1 / divisor` with them.
    struct CountNotes: PostgresPreparedStatement {
        static let name = "test.CountNotes"
        static let sql = "SELECT count(*) / $2::bigint FROM public.notes WHERE kind = $1"
        typealias Row = Int64

        var kind: String
        var divisor: Int64 = 1

        func makeBindings() throws -> PostgresBindings {
            var bindings = PostgresBindings(capacity: 2)
            bindings.append(kind)
            bindings.append(divisor)
            return bindings
        }

        func decodeRow(_ row: PostgresRow) throws -> Row { try row.decode(Int64.self) }
    }

    static let oneConnection = PostgresPool.Configuration(poolSize: 1, maxOverflow: 0, searchPath: "")

    func backendPID(_ pool: PostgresPool) async throws -> Int32 {
        try await pool.query("SELECT pg_backend_pid()").first?.decode(Int32.self) ?? -1
    }

    @Test(.timeLimit(.minutes(2)))
    func aStatementThatFailedToPrepareRunsOnceItsTableExists() async throws {
        try await withTestDatabase(poolConfiguration: Self.oneConnection) { database in
            let pool = database.pool
            let before = try await backendPID(pool)
            await #expect(throws: StrataError.self, "no table yet") { try await pool.rows(CountNotes(kind: "a")) }
            try await pool.query("CREATE TABLE public.notes (kind text NOT NULL)")
            try await pool.query("INSERT INTO public.notes VALUES ('a'), ('a'), ('b')")
            #expect(try await pool.rows(CountNotes(kind: "a")) == [2])
            #expect(try await backendPID(pool) != before, "the connection that remembered the failure was replaced")
        }
    }

    @Test(.timeLimit(.minutes(2)))
    func aStatementFirstUsedInAnAbortedTransactionRunsAfterwards() async throws {
        try await withTestDatabase(poolConfiguration: Self.oneConnection) { database in
            let pool = database.pool
            try await pool.query("CREATE TABLE public.notes (kind text NOT NULL)")
            try await pool.query("INSERT INTO public.notes VALUES ('a')")
            await #expect(throws: (any Error).self) {
                try await pool.withTransaction { connection in
                    _ = try? await connection.run("SELECT 1 / 0", logger: TestPostgres.logger)
                    // The transaction is aborted: preparing fails with 25P02.
                    _ = try await connection.rows(CountNotes(kind: "a"), logger: TestPostgres.logger)
                }
            }
            #expect(try await pool.rows(CountNotes(kind: "a")) == [1])
        }
    }

    @Test(.timeLimit(.minutes(2)))
    func anErrorOfRunningAPreparedStatementKeepsTheConnection() async throws {
        try await withTestDatabase(poolConfiguration: Self.oneConnection) { database in
            let pool = database.pool
            try await pool.query("CREATE TABLE public.notes (kind text NOT NULL)")
            #expect(try await pool.rows(CountNotes(kind: "a")) == [0])
            let before = try await backendPID(pool)
            await #expect {
                try await pool.rows(CountNotes(kind: "a", divisor: 0))
            } throws: { error in
                (error as? StrataError)?.code == .invalidValue  // 22012, division by zero
            }
            #expect(try await pool.rows(CountNotes(kind: "a")) == [0])
            #expect(try await backendPID(pool) == before, "a division by zero is no reason to reconnect")
        }
    }

    @Test(.timeLimit(.minutes(2)))
    func aTransactionWhoseBackendIsTerminatedFailsAndThePoolGoesOn() async throws {
        try await withTestDatabase(poolConfiguration: .init(poolSize: 1, maxOverflow: 1, searchPath: "")) { database in
            let pool = database.pool
            try await pool.query("CREATE TABLE public.notes (kind text NOT NULL)")
            let refused = TestCounter(0)
            await #expect(throws: (any Error).self) {
                try await pool.withTransaction { connection in
                    let pid = try await connection.run("SELECT pg_backend_pid()", logger: TestPostgres.logger).collect().first?.decode(Int32.self)
                    try await withTestDatabase(migrated: false) { other in
                        try await other.pool.query("SELECT pg_terminate_backend(\(pid ?? 0))")
                    }
                    // The next statements find the connection closed: an error, not a wait for ever.
                    try? await Task.sleep(for: .milliseconds(300))
                    do { try await connection.run("SELECT 1", logger: TestPostgres.logger) } catch { refused.increment() }
                    _ = try await connection.rows(CountNotes(kind: "a"), logger: TestPostgres.logger)
                }
            }
            #expect(refused.value == 1)
            #expect(try await pool.rows(CountNotes(kind: "a")) == [0])
        }
    }
}
