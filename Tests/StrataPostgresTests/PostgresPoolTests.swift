import NIOCore
import PostgresNIO
import StrataCore
import StrataTestSupport
import Testing

@testable import StrataPostgres

@Suite struct PostgresPoolTests {
    @Test(.timeLimit(.minutes(2)))
    func answersAQueryOnAFreshDatabase() async throws {
        try await withTestDatabase { database in
            let rows = try await database.pool.query("SELECT \(41) + 1")
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

    @Test(.timeLimit(.minutes(2)))
    func aSaturatedPoolAnswersDatabaseBusyAfterTheTimeout() async throws {
        let configuration = PostgresPool.Configuration(poolSize: 1, maxOverflow: 0, acquireTimeout: .milliseconds(200), searchPath: "")
        try await withTestDatabase(poolConfiguration: configuration) { database in
            let pool = database.pool
            let (held, holding) = AsyncStream.makeStream(of: Void.self)
            let (release, releasing) = AsyncStream.makeStream(of: Void.self)
            async let holder: Void = pool.withConnection { _ in
                holding.yield()
                for await _ in release { break }
            }
            for await _ in held { break }
            await #expect {
                try await pool.query("SELECT 1")
            } throws: { error in
                let error = error as? StrataError
                return error?.code == .databaseBusy && error?.isRetryable == true
            }
            #expect(pool.statistics.waiting == 0)
            releasing.yield()
            try await holder
            let rows = try await pool.query("SELECT 1")
            #expect(rows.count == 1)
            #expect(pool.statistics.leased == 0)
        }
    }

    @Test(.timeLimit(.minutes(2)))
    func aCallerGetsAConnectionOnItsOwnEventLoopWhenOneIsIdle() async throws {
        let configuration = PostgresPool.Configuration(poolSize: 4, maxOverflow: 0, searchPath: "")
        try await withTestDatabase(poolConfiguration: configuration) { database in
            let pool = database.pool
            // Four connections held at once, so that four are open: spread over the event loops.
            let loops = try await withThrowingTaskGroup(of: (any EventLoop).self) { group in
                let (opened, open) = AsyncStream.makeStream(of: Void.self)
                let (release, releasing) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .unbounded)
                for _ in 0..<4 {
                    group.addTask {
                        try await pool.withConnection { connection in
                            open.yield()
                            for await _ in release { break }
                            return connection.eventLoop
                        }
                    }
                }
                var count = 0
                for await _ in opened {
                    count += 1
                    if count == 4 { break }
                }
                for _ in 0..<4 { releasing.yield() }
                return try await group.reduce(into: [any EventLoop]()) { loops, loop in
                    if !loops.contains(where: { $0 === loop }) { loops.append(loop) }
                }
            }
            try #require(loops.count >= 2, "the pool's connections should sit on more than one event loop")
            for loop in loops {
                for _ in 0..<5 {
                    let onCallersLoop = try await withTaskExecutorPreference(ConnectionExecutor(loop)) {
                        try await pool.withConnection { connection in connection.eventLoop === loop }
                    }
                    #expect(onCallersLoop)
                }
            }
            #expect(pool.statistics.open == 4)
        }
    }

    @Test(.timeLimit(.minutes(2)))
    func oldConnectionsAreRecycledAfterUse() async throws {
        let configuration = PostgresPool.Configuration(poolSize: 1, maxOverflow: 0, recycleAfter: .milliseconds(100), searchPath: "")
        try await withTestDatabase(poolConfiguration: configuration) { database in
            // Ages the connection past the limit on the server's clock, not the test's.
            let first = try await database.pool.query("SELECT pg_backend_pid() FROM (SELECT pg_sleep(0.2)) AS aged")
            let firstPID = try first.first?.decode(Int32.self)
            let second = try await database.pool.query("SELECT pg_backend_pid()")
            #expect(try second.first?.decode(Int32.self) != firstPID)
        }
    }

    @Test(.timeLimit(.minutes(2)))
    func constraintViolationsMapToStableCodesWithoutValues() async throws {
        try await withTestDatabase { database in
            let pool = database.pool
            try await pool.query("CREATE TABLE public.parents (id int PRIMARY KEY, email text UNIQUE, age int CHECK (age >= 0) NOT NULL)")
            try await pool.query("CREATE TABLE public.children (parent_id int NOT NULL REFERENCES public.parents (id))")
            try await pool.query("INSERT INTO public.parents VALUES (1, 'secret@example.com', 30)")
            let cases: [(PostgresQuery, StrataError.Code, String?)] = [
                ("INSERT INTO public.parents VALUES (2, \("secret@example.com"), 1)", .conflict, "parents_email_key"),
                ("INSERT INTO public.parents VALUES (3, 'x', \(-5))", .invalidValue, "parents_age_check"),
                ("INSERT INTO public.parents (id, email) VALUES (4, 'y')", .missingValue, nil),
                ("INSERT INTO public.children VALUES (\(99))", .invalidReference, "children_parent_id_fkey"),
                ("SELECT \("not-a-number")::int", .invalidValue, nil),
            ]
            for (query, code, constraint) in cases {
                await #expect {
                    try await pool.query(query)
                } throws: { error in
                    let error = error as? StrataError
                    return error?.code == code && error?.details["constraint"] == constraint
                        && error?.message.contains("secret@example.com") == false && error?.message.contains("not-a-number") == false
                }
            }
        }
    }

    @Test(.timeLimit(.minutes(2)))
    func serializationFailuresAreRetriedUntilTheTransactionCommits() async throws {
        try await withTestDatabase { database in
            let pool = database.pool
            try await pool.query("CREATE TABLE public.counters (id int PRIMARY KEY, n int NOT NULL)")
            try await pool.query("INSERT INTO public.counters VALUES (1, 0)")
            let attempts = TestCounter()
            try await withThrowingTaskGroup(of: Void.self) { group in
                for _ in 0..<6 {
                    group.addTask {
                        try await pool.withTransaction(isolation: .serializable, maxAttempts: 50) { connection in
                            attempts.increment()
                            let rows = try await connection.run("SELECT n FROM public.counters WHERE id = 1", logger: pool.statementLogger)
                                .collect()
                            let n = try rows[0].decode(Int.self)
                            try await connection.run("UPDATE public.counters SET n = \(n + 1) WHERE id = 1", logger: pool.statementLogger)
                        }
                    }
                }
                try await group.waitForAll()
            }
            let rows = try await pool.query("SELECT n FROM public.counters WHERE id = 1")
            #expect(try rows[0].decode(Int.self) == 6)
            #expect(attempts.value >= 6)
        }
    }

    @Test(.timeLimit(.minutes(2)))
    func aLongStatementIsCancelledByTheStatementTimeout() async throws {
        let configuration = PostgresPool.Configuration(poolSize: 1, maxOverflow: 1, statementTimeout: .milliseconds(100), searchPath: "")
        try await withTestDatabase(poolConfiguration: configuration) { database in
            await #expect {
                try await database.pool.query("SELECT pg_sleep(5)")
            } throws: { error in
                (error as? StrataError)?.code == .statementTimeout
            }
        }
    }

    @Test(.timeLimit(.minutes(1)))
    func anUnreachableServerIsReportedAsUnavailableWithoutCredentials() async throws {
        let url = DatabaseURL(username: "app", password: "hunter2", host: "127.0.0.1", port: 1, database: "app")
        let pool = PostgresPool(
            url: url,
            configuration: .init(poolSize: 1, maxOverflow: 0, acquireTimeout: .milliseconds(500), connectTimeout: .seconds(2)),
            logger: TestPostgres.logger
        )
        await #expect {
            try await pool.withRunning { try await pool.query("SELECT 1") }
        } throws: { error in
            let error = error as? StrataError
            return error?.code == .databaseUnavailable && error?.message.contains("hunter2") == false
        }
    }
}
