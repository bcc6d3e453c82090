import PostgresNIO
import StrataCore
import StrataPostgres
import StrataTestSupport
import Testing

@Suite struct PostgresPoolTests {
    @Test(.timeLimit(.minutes(2)))
    func answersAQueryOnAFreshDatabase() async throws {
        try await withTestDatabase { database in
            let rows = try await database.pool.query("SELECT 41 + 1")
            #expect(try rows.first?.decode(Int.self) == 42)
        }
    }

    @Test(.timeLimit(.minutes(2)))
    func emptySearchPathMakesUnqualifiedNamesFail() async throws {
        try await withTestDatabase { database in
            await #expect(throws: StrataError.self) {
                try await database.pool.query("SELECT count(*) FROM schema_migrations")
            }
            let rows = try await database.pool.query("SELECT count(*) FROM strata.schema_migrations")
            #expect(try rows.first?.decode(Int.self) ?? 0 >= 1)
        }
    }
}
