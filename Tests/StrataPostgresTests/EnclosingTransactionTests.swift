import PostgresNIO
import StrataCore
import StrataPostgres
import StrataTestSupport
import Testing

/// One transaction around several calls on the pool: they join it, a service's own transaction
/// is a savepoint, and work after the commit waits for it.
@Suite struct EnclosingTransactionTests {
    static func names(_ pool: PostgresPool) async throws -> [String] {
        try await pool.query("SELECT name FROM public.enclosed ORDER BY name").map { try $0.decode(String.self) }
    }

    /// Names seen by a connection of its own (what other requests see).
    static func committedNames(_ database: TestDatabase) async throws -> [String] {
        let outsider = PostgresPool(url: database.url, configuration: .init(poolSize: 1, maxOverflow: 0), logger: TestPostgres.logger)
        return try await outsider.withRunning { try await names(outsider) }
    }

    @Test(.timeLimit(.minutes(1)))
    func callsJoinItSavepointsUndoOnlyTheirOwnAndAfterCommitWaitsForTheCommit() async throws {
        try await withTestDatabase { database in
            let pool = database.pool
            try await pool.query("CREATE TABLE public.enclosed (name text PRIMARY KEY)")
            let seenAfterCommit = TestCounter(0)
            try await pool.withEnclosingTransaction { _ in
                try await pool.query("INSERT INTO public.enclosed VALUES ('plain')")
                try await pool.withTransaction { connection in
                    try await connection.run("INSERT INTO public.enclosed VALUES ('service')", logger: pool.statementLogger)
                }
                struct Refused: Error {}
                await #expect(throws: Refused.self) {
                    try await pool.withTransaction { connection in
                        try await connection.run("INSERT INTO public.enclosed VALUES ('undone')", logger: pool.statementLogger)
                        throw Refused()
                    }
                }
                #expect(try await Self.names(pool) == ["plain", "service"], "the calls share one transaction")
                #expect(try await Self.committedNames(database) == [], "nothing is visible before the commit")
                await EnclosingTransaction.afterCommit {
                    if (try? await Self.committedNames(database)) == ["plain", "service"] { seenAfterCommit.increment() }
                }
                #expect(seenAfterCommit.value == 0, "held until the commit")
                return ((), commit: true)
            }
            #expect(seenAfterCommit.value == 1, "ran after the commit, which it could see")
            #expect(try await Self.committedNames(database) == ["plain", "service"])

            // Rolled back: nothing stays and the after-commit work is dropped.
            let dropped = TestCounter(0)
            try await pool.withEnclosingTransaction { _ in
                try await pool.query("INSERT INTO public.enclosed VALUES ('rolled back')")
                await EnclosingTransaction.afterCommit { dropped.increment() }
                return ((), commit: false)
            }
            struct Failed: Error {}
            await #expect(throws: Failed.self) {
                try await pool.withEnclosingTransaction { _ -> ((), commit: Bool) in
                    try await pool.query("INSERT INTO public.enclosed VALUES ('thrown')")
                    await EnclosingTransaction.afterCommit { dropped.increment() }
                    throw Failed()
                }
            }
            #expect(dropped.value == 0)
            #expect(try await Self.names(pool) == ["plain", "service"])

            // Outside one, after-commit work runs at once.
            let immediate = TestCounter(0)
            await EnclosingTransaction.afterCommit { immediate.increment() }
            #expect(immediate.value == 1)
            #expect(pool.statistics.leased == 0, "the transaction's connection went back")
        }
    }
}
