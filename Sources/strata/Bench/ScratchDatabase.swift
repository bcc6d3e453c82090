import Logging
import PostgresNIO
import StrataCore
import StrataPostgres
import StrataRedis
import StrataServer

/// A database of a benchmark's own on the configured server (embedded unless `DATABASE_URL`
/// is set): dropped if left over, created, dropped again when the benchmark ends, whether it
/// succeeded or not. One left over by a killed run is dropped; one another benchmark is using
/// is not — this run stops with a clear error instead.
enum ScratchDatabase {
    /// Runs `body` with the server's URL of a fresh database named `name`.
    static func with<Result>(
        _ name: String,
        on url: DatabaseURL,
        logger: Logger,
        _ body: (DatabaseURL) async throws -> Result
    ) async throws -> Result {
        do {
            try await run(["DROP DATABASE IF EXISTS \(quoteIdentifier(name))", "CREATE DATABASE \(quoteIdentifier(name))"], on: url, logger: logger)
        } catch let error as PSQLError where error.serverInfo?[.sqlState] == PostgresError.Code.objectInUse.raw {
            throw StrataError(
                .conflict,
                "The benchmark's database \(name) is in use on \(url.endpointDescription): another run of this benchmark is going on; wait for it to end.",
                underlying: error
            )
        }
        do {
            let result = try await body(url.with(database: name))
            try await run(["DROP DATABASE IF EXISTS \(quoteIdentifier(name)) WITH (FORCE)"], on: url, logger: logger)
            return result
        } catch {
            try? await run(["DROP DATABASE IF EXISTS \(quoteIdentifier(name)) WITH (FORCE)"], on: url, logger: logger)
            throw error
        }
    }

    /// Runs `body` with a running pool on a fresh database migrated with `lines` (the platform's
    /// by default), and the hot layer the server would open; everything is stopped afterwards.
    static func withPlatform<Result: Sendable>(
        _ name: String,
        configuration: ServerConfiguration,
        pool poolConfiguration: PostgresPool.Configuration,
        lines: [MigrationLine]? = nil,
        logger: Logger,
        _ body: (PostgresPool, HotLayer) async throws -> Result
    ) async throws -> Result {
        let endpoint = try await DatabaseEndpoint.open(configuration: configuration, logger: logger)
        let hotLayer = await HotLayer.open(configuration: configuration, logger: logger)
        func stop() async {
            await hotLayer.client?.close()
            await hotLayer.embedded?.stop()
            await endpoint.cluster?.stop()
        }
        do {
            let result = try await with(name, on: endpoint.url, logger: logger) { url in
                let pool = PostgresPool(url: url, configuration: poolConfiguration, logger: logger)
                return try await pool.withRunning {
                    _ = try await Migrator(lines: try lines ?? [.platform()], pool: pool, logger: logger).migrate()
                    return try await body(pool, hotLayer)
                }
            }
            await stop()
            return result
        } catch {
            await stop()
            throw error
        }
    }

    private static func run(_ statements: [String], on url: DatabaseURL, logger: Logger) async throws {
        try await EmbeddedCluster.withConnection(to: url.with(database: "postgres"), logger: logger) { connection in
            for statement in statements { try await connection.run(PostgresQuery(unsafeSQL: statement), logger: logger) }
        }
    }
}
