import PostgresNIO
import StrataCore
import StrataPostgres
import StrataTestSupport
import Testing

/// Row-level scopes: statements run as the scoped role with the caller's settings, policies
/// filter them, and the platform's own writes run as the platform again.
@Suite struct RowSecurityTests {
    static let security = RowSecurity(role: "strata_test_scoped", settingPrefix: "testscope", scopes: ["line_ids"])

    /// A table of rows per line under a policy reading `testscope.line_ids`, and its role.
    static func prepare(_ pool: PostgresPool) async throws {
        try await pool.query(
            """
            DO $$ BEGIN CREATE ROLE strata_test_scoped NOLOGIN; EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL; END $$
            """
        )
        try await pool.query("CREATE TABLE public.scoped_rows (line_id text NOT NULL, name text NOT NULL)")
        try await pool.query("ALTER TABLE public.scoped_rows ENABLE ROW LEVEL SECURITY")
        try await pool.query(
            """
            CREATE POLICY scoped ON public.scoped_rows USING (
                coalesce(current_setting('testscope.line_ids', true) = '*'
                         OR line_id = ANY (string_to_array(current_setting('testscope.line_ids', true), ',')), false))
            """
        )
        try await pool.query("GRANT SELECT, INSERT ON public.scoped_rows TO strata_test_scoped")
        try await pool.query("INSERT INTO public.scoped_rows VALUES ('L1', 'one'), ('L2', 'two')")
    }

    static func names(_ connection: PostgresConnection) async throws -> [String] {
        try await connection.run("SELECT name FROM public.scoped_rows ORDER BY name", logger: TestPostgres.logger).collect()
            .map { try $0.decode(String.self) }
    }

    @Test(.timeLimit(.minutes(1)))
    func aScopedTransactionSeesItsRowsAndTheConnectionIsThePlatformsAgainAfterIt() async throws {
        try await withTestDatabase { database in
            let pool = database.pool
            try await Self.prepare(pool)
            let owner = try await pool.query("SELECT current_user::text").first?.decode(String.self)
            let scoped = try await Self.security.read(on: pool, for: ["line_ids": ["L1"]], logger: TestPostgres.logger) { try await Self.names($0) }
            #expect(scoped == ["one"])
            #expect(try await Self.security.read(on: pool, for: [:], logger: TestPostgres.logger) { try await Self.names($0) } == ["one", "two"])
            #expect(
                try await Self.security.read(on: pool, for: ["line_ids": ["L1,L2"]], logger: TestPostgres.logger) { try await Self.names($0) } == []
            )
            // A write outside the scope is refused by the policy: 403.
            let refused = await #expect(throws: StrataError.self) {
                try await Self.security.transaction(
                    on: pool,
                    for: Caller(actor: "t", name: "t", scopes: ["line_ids": ["L1"]]),
                    logger: TestPostgres.logger
                ) {
                    connection in
                    try await connection.run("INSERT INTO public.scoped_rows VALUES ('L2', 'three')", logger: TestPostgres.logger)
                    return ((), nil)
                }
            }
            #expect(refused?.code == .forbidden)
            // Inside an enclosing transaction the scope ends with the read, not with the commit.
            let after = try await pool.withEnclosingTransaction { connection in
                _ = try await Self.security.read(on: pool, for: ["line_ids": ["L1"]], logger: TestPostgres.logger) { try await Self.names($0) }
                let user = try await connection.run("SELECT current_user::text", logger: TestPostgres.logger).collect().first?.decode(String.self)
                return (result: (user, try await Self.names(connection)), commit: true)
            }
            #expect(after.0 == owner && after.1 == ["one", "two"])
            #expect(try await pool.query("SELECT current_user::text").first?.decode(String.self) == owner)
        }
    }
}
