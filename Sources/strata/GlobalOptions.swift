import ArgumentParser
import Foundation
import Logging
import StrataCore
import StrataPostgres
import StrataServer

/// Flags shared by every command; each overrides the environment variable named in its help.
struct GlobalOptions: ParsableArguments {
    @Option(name: .customLong("database-url"), help: "PostgreSQL URL (DATABASE_URL); unset: embedded cluster.")
    var databaseURL: String?

    @Option(name: .customLong("home"), help: "State folder (STRATA_HOME, default ./.strata).")
    var home: String?

    @Option(name: .customLong("log-level"), help: "trace, debug, info, notice, warning, error, critical (LOG_LEVEL).")
    var logLevel: String?

    @Option(name: .customLong("log-format"), help: "text or json (LOG_FORMAT).")
    var logFormat: String?

    @Option(name: .customLong("db-pool-size"), help: "Connections kept open (DB_POOL_SIZE, default 10).")
    var poolSize: String?

    @Option(name: .customLong("db-max-overflow"), help: "Extra connections under load (DB_MAX_OVERFLOW, default 20).")
    var maxOverflow: String?

    @Option(name: .customLong("db-pool-timeout"), help: "Wait for a free connection (DB_POOL_TIMEOUT, default 30s).")
    var poolTimeout: String?

    @Option(name: .customLong("db-pool-recycle"), help: "Connection lifetime (DB_POOL_RECYCLE, default 1800s; 0 = never).")
    var poolRecycle: String?

    @Flag(name: .customLong("db-echo"), help: "Log every statement (DB_ECHO).")
    var echo = false

    /// The environment with the flags laid over it.
    func environment(extra: [String: String?] = [:]) -> EnvironmentReader {
        var variables = ProcessInfo.processInfo.environment
        let flags: [String: String?] = [
            "DATABASE_URL": databaseURL, "STRATA_HOME": home, "LOG_LEVEL": logLevel, "LOG_FORMAT": logFormat,
            "DB_POOL_SIZE": poolSize, "DB_MAX_OVERFLOW": maxOverflow, "DB_POOL_TIMEOUT": poolTimeout,
            "DB_POOL_RECYCLE": poolRecycle, "DB_ECHO": echo ? "true" : nil,
        ]
        for (key, value) in flags.merging(extra, uniquingKeysWith: { _, new in new }) {
            if let value { variables[key] = value }
        }
        return EnvironmentReader(variables)
    }

    /// Reads the configuration and sets up logging.
    func configuration(extra: [String: String?] = [:], defaultLogLevel: String = "info") throws -> (ServerConfiguration, Logger) {
        var reader = environment(extra: extra)
        if reader.string("LOG_LEVEL") == nil {
            var variables = reader.variables
            variables["LOG_LEVEL"] = defaultLogLevel
            reader = EnvironmentReader(variables)
        }
        let configuration = try ServerConfiguration(environment: reader)
        LoggingSetup.bootstrap(level: configuration.logLevel.level, format: configuration.logFormat)
        return (configuration, Logger(label: "strata"))
    }
}

/// Opens the configured database and a running pool on it for the closure's lifetime, then
/// stops both (and the embedded cluster when this command started it).
/// - Parameter poolConfiguration: The pool's sizing; by default the configured one with a
///   single warm connection (commands make few queries).
func withDatabase<T: Sendable>(
    _ configuration: ServerConfiguration,
    logger: Logger,
    poolConfiguration: PostgresPool.Configuration? = nil,
    startTimeout: Duration = .seconds(60),
    _ body: @Sendable (PostgresPool, DatabaseEndpoint) async throws -> T
) async throws -> T {
    let endpoint = try await DatabaseEndpoint.open(configuration: configuration, logger: logger, startTimeout: startTimeout)
    let poolConfiguration =
        poolConfiguration
        ?? {
            var commandPool = configuration.pool
            commandPool.poolSize = 1
            return commandPool
        }()
    let pool = PostgresPool(url: endpoint.url, configuration: poolConfiguration, logger: logger)
    do {
        let result = try await pool.withRunning { try await body(pool, endpoint) }
        await endpoint.cluster?.stop()
        return result
    } catch {
        await endpoint.cluster?.stop()
        throw error
    }
}
