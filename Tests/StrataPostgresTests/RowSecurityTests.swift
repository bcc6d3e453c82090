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

    /// What a connection's session is now: the current user, the line scope, whether this
    /// transaction and transactions by default are read-only, and the backend's pid (last).
    @Sendable static func session(_ connection: PostgresConnection) async throws -> [String] {
        try await connection.run(
            """
            SELECT current_user::text, coalesce(current_setting('testscope.line_ids', true), ''), current_setting('transaction_read_only'),
                   current_setting('default_transaction_read_only'), pg_backend_pid()::text
            """,
            logger: TestPostgres.logger
        ).collect().first.map { row in
            let (user, lines, readOnly, readOnlyDefault, pid) = try row.decode((String, String, String, String, String).self)
            return [user, lines, readOnly, readOnlyDefault, pid]
        } ?? []
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

    /// A scoped read leaves its scope on the connection's session for the next read of the same
    /// scope; another scope replaces it, and any other use of the connection finds the session as
    /// it was opened: the platform's role, no scope, writes allowed.
    @Test(.timeLimit(.minutes(1)))
    func aScopeKeptOnTheSessionIsReplacedByAnotherAndResetForAnyOtherUse() async throws {
        var configuration = TestPostgres.defaultPoolConfiguration
        configuration.poolSize = 1
        configuration.maxOverflow = 0
        try await withTestDatabase(poolConfiguration: configuration) { database in
            let pool = database.pool
            try await Self.prepare(pool)
            let owner = try await pool.query("SELECT current_user::text").first?.decode(String.self)
            let first = try await Self.security.read(on: pool, for: ["line_ids": ["L1"]], logger: TestPostgres.logger) { try await Self.session($0) }
            #expect(Array(first.prefix(3)) == ["strata_test_scoped", "L1", "on"])
            // The same scope again: the same session, still scoped, sees the same rows.
            let again = try await Self.security.read(on: pool, for: ["line_ids": ["L1"]], logger: TestPostgres.logger) {
                (try await Self.session($0), try await Self.names($0))
            }
            #expect(again.0 == first && again.1 == ["one"])
            // Another scope on the same session replaces it.
            let other = try await Self.security.read(on: pool, for: ["line_ids": ["L2"]], logger: TestPostgres.logger) {
                (try await Self.session($0), try await Self.names($0))
            }
            #expect(Array(other.0.prefix(3)) == ["strata_test_scoped", "L2", "on"] && other.0.last == first.last && other.1 == ["two"])
            // A read may not write, even under an unlimited scope.
            let write = await #expect(throws: StrataError.self) {
                try await Self.security.read(on: pool, for: [:], logger: TestPostgres.logger) { connection in
                    try await connection.run("INSERT INTO public.scoped_rows VALUES ('L1', 'four')", logger: TestPostgres.logger)
                }
            }
            #expect(write != nil)
            // Any other use of the connection (a statement that forgets the scope, a transaction)
            // gets the session as it was opened.
            let plain = try await pool.withConnection { try await Self.session($0) }
            #expect(Array(plain.prefix(3)) == [owner ?? "", "", "off"] && plain.last == first.last)
            _ = try await Self.security.read(on: pool, for: ["line_ids": ["L1"]], logger: TestPostgres.logger) { try await Self.session($0) }
            let written = try await pool.withTransaction { connection in
                try await connection.run("INSERT INTO public.scoped_rows VALUES ('L9', 'nine')", logger: TestPostgres.logger)
                return try await Self.session(connection)
            }
            #expect(Array(written.prefix(3)) == [owner ?? "", "", "off"])
            #expect(try await pool.query("SELECT count(*) FROM public.scoped_rows").first?.decode(Int64.self) == 3)
        }
    }

    /// A scoped write on a connection whose session a read keeps scoped overrides the session
    /// for its transaction (its own scope, writes allowed) and leaves it as it was.
    @Test(.timeLimit(.minutes(1)))
    func aScopedWriteOverridesAKeptSessionLocallyAndLeavesIt() async throws {
        var configuration = TestPostgres.defaultPoolConfiguration
        configuration.poolSize = 1
        configuration.maxOverflow = 0
        try await withTestDatabase(poolConfiguration: configuration) { database in
            let pool = database.pool
            try await Self.prepare(pool)
            let owner = try await pool.query("SELECT current_user::text").first?.decode(String.self)
            let write: @Sendable ([String], String, String) async throws -> ([String], [String]) = { lines, line, name in
                try await Self.security.transaction(
                    on: pool,
                    for: Caller(actor: "t", name: "t", scopes: ["line_ids": lines]),
                    logger: TestPostgres.logger
                ) {
                    connection in
                    try await connection.run("INSERT INTO public.scoped_rows VALUES (\(line), \(name))", logger: TestPostgres.logger)
                    return ((try await Self.session(connection), try await Self.names(connection)), nil)
                }
            }
            let kept = try await Self.security.read(on: pool, for: ["line_ids": ["L1"]], logger: TestPostgres.logger) { try await Self.session($0) }
            #expect(Array(kept.prefix(4)) == ["strata_test_scoped", "L1", "on", "on"])
            // The session's own scope: it writes, as that scope, in a read-write transaction; the
            // session's read-only default shows it was kept, not reset.
            let same = try await write(["L1"], "L1", "three")
            #expect(same.0 == ["strata_test_scoped", "L1", "off", "on", kept[4]] && same.1 == ["one", "three"])
            // Another scope replaces the kept one for the transaction only, policy and all.
            let other = try await write(["L2"], "L2", "four")
            #expect(other.0 == ["strata_test_scoped", "L2", "off", "on", kept[4]] && other.1 == ["four", "two"])
            let refused = await #expect(throws: StrataError.self) { try await write(["L2"], "L1", "five") }
            #expect(refused?.code == .forbidden)
            // The session still holds the read's scope, read-only; anything else gets it reset.
            let after = try await Self.security.read(on: pool, for: ["line_ids": ["L1"]], logger: TestPostgres.logger) {
                (try await Self.session($0), try await Self.names($0))
            }
            #expect(after.0 == kept && after.1 == ["one", "three"])
            let plain = try await pool.withConnection { try await Self.session($0) }
            #expect(Array(plain.prefix(4)) == [owner ?? "", "", "off", "off"] && plain.last == kept.last)
            #expect(try await pool.query("SELECT count(*) FROM public.scoped_rows").first?.decode(Int64.self) == 4)
        }
    }
}
