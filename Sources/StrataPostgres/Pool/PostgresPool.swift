public import Logging
import Metrics
import NIOCore
public import PostgresNIO
public import ServiceLifecycle
public import StrataCore
import Synchronization

/// Strata's connection pool: postgres-nio's `PostgresClient` with the platform's rules.
///
/// - ``Configuration/poolSize`` connections stay open; up to ``Configuration/maximumConnections``
///   open under load.
/// - A caller that waits longer than ``Configuration/acquireTimeout`` gets the retryable
///   `database_busy` error (HTTP 503 with `Retry-After`).
/// - Connections older than ``Configuration/recycleAfter`` are closed when returned.
/// - Every error leaves as a ``StrataError`` (see ``StrataError/fromPostgres(_:file:line:)``).
///
/// The pool is a `Service`: run it in the `ServiceGroup` (or a task) before using it.
///
/// ```swift
/// let pool = PostgresPool(url: url, configuration: .init(), logger: logger)
/// async let _ = pool.run()
/// let rows = try await pool.query("SELECT id FROM factory.anomalies WHERE status = \(status)")
/// ```
public final class PostgresPool: Service, Sendable {
    /// The pool's configuration.
    public let configuration: Configuration
    /// Where the pool connects (password redacted in its description).
    public let url: DatabaseURL
    let client: PostgresClient
    let logger: Logger
    let queryLogger: Logger
    let cache: LeaseCache
    let metrics: PoolMetrics

    /// Creates a pool. Nothing connects until ``run()`` is running and a caller asks.
    /// - Parameters:
    ///   - url: The server and database.
    ///   - configuration: Sizing and timeouts.
    ///   - logger: Background logger for the pool.
    public init(url: DatabaseURL, configuration: Configuration = .init(), logger: Logger) {
        self.url = url
        self.configuration = configuration
        self.logger = logger
        var queryLogger = logger
        queryLogger.logLevel = configuration.echo ? .debug : .error
        self.queryLogger = queryLogger
        self.metrics = PoolMetrics(maximum: configuration.maximumConnections)

        var clientConfiguration: PostgresClient.Configuration
        let tls: PostgresClient.Configuration.TLS =
            switch url.tls {
            case .disable: .disable
            case .prefer: .prefer(.makeClientConfiguration())
            case .require: .require(.makeClientConfiguration())
            }
        if let socketPath = url.socketPath {
            clientConfiguration = .init(unixSocketPath: socketPath, username: url.username, password: url.password, database: url.database)
        } else {
            clientConfiguration = .init(
                host: url.host ?? "localhost",
                port: url.port,
                username: url.username,
                password: url.password,
                database: url.database,
                tls: tls
            )
        }
        clientConfiguration.options.minimumConnections = configuration.poolSize
        clientConfiguration.options.maximumConnections = configuration.maximumConnections
        clientConfiguration.options.connectTimeout = configuration.connectTimeout
        var parameters: [(String, String)] = [("application_name", configuration.applicationName)]
        if let timeout = configuration.statementTimeout {
            parameters.append(("statement_timeout", "\(timeout.milliseconds)"))
        }
        if let searchPath = configuration.searchPath {
            parameters.append(("search_path", searchPath.isEmpty ? "\"\"" : searchPath))
        }
        clientConfiguration.options.additionalStartupParameters = parameters
        // postgres-nio warns when a lease races the start of run(); that is expected here.
        var clientLogger = logger
        if clientLogger.logLevel > .debug { clientLogger.logLevel = .error }
        let client = PostgresClient(
            configuration: clientConfiguration,
            eventLoopGroup: SpreadingEventLoopGroup(PostgresClient.defaultEventLoopGroup),
            backgroundLogger: clientLogger
        )
        self.client = client
        let metrics = self.metrics
        self.cache = LeaseCache(
            client: client,
            maximum: configuration.maximumConnections,
            keepIdle: configuration.poolSize,
            recycleAfter: configuration.recycleAfter,
            logger: logger,
            timeoutError: { [configuration, url] connectionsOpen in
                connectionsOpen
                    ? StrataError(
                        .databaseBusy,
                        "No database connection became free within \(configuration.acquireTimeout); retry shortly.",
                        details: ["timeout_ms": "\(configuration.acquireTimeout.milliseconds)"]
                    )
                    : StrataError(
                        .databaseUnavailable,
                        "Cannot connect to the database at \(url.endpointDescription) within \(configuration.connectTimeout); retry shortly."
                    )
            },
            onChange: { leased, open in
                metrics.record(leased: leased, open: open)
            }
        )
    }

    /// Runs the pool until cancelled or gracefully shut down; then idle connections are given
    /// back and closed.
    public func run() async {
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await self.client.run() }
            try? await gracefulShutdown()
            cache.shutDown()
            group.cancelAll()
        }
    }

    /// Runs the pool for the closure's duration, then closes its connections: for commands,
    /// tests and tools that live outside a `ServiceGroup`.
    ///
    /// ```swift
    /// let count = try await pool.withRunning { try await pool.query("SELECT count(*) …") }
    /// ```
    @discardableResult
    public func withRunning<Result: Sendable>(_ body: () async throws -> Result) async throws -> Result {
        let runner = Task { await run() }
        do {
            let result = try await body()
            runner.cancel()
            await runner.value
            return result
        } catch {
            runner.cancel()
            await runner.value
            throw error
        }
    }

    // MARK: Leasing

    /// Leases a connection for the closure's lifetime.
    ///
    /// The connection must not escape the closure. Errors thrown by the closure that come
    /// from PostgreSQL are mapped to ``StrataError``; the closure's own errors pass unchanged.
    /// - Throws: `database_busy` after ``Configuration/acquireTimeout`` when every connection is
    ///   in use; `database_unavailable` when no connection could be opened within
    ///   ``Configuration/connectTimeout``; any mapped database error.
    public func withConnection<Result: Sendable>(
        _ body: @Sendable (PostgresConnection) async throws -> Result
    ) async throws -> Result {
        let start = ContinuousClock.now
        let entry: LeaseCache.Entry
        do {
            entry = try await cache.acquire(timeout: configuration.acquireTimeout, connectTimeout: configuration.connectTimeout)
        } catch let error as StrataError {
            if error.code == .databaseBusy || error.code == .databaseUnavailable { metrics.acquireTimeouts.increment() }
            throw error
        } catch {
            throw StrataError.fromPostgres(error)
        }
        metrics.recordAcquired(after: start.duration(to: .now))
        defer { cache.release(entry) }
        do {
            return try await withTaskExecutorPreference(entry.executor) { try await body(entry.connection) }
        } catch let error as PSQLError {
            throw StrataError.fromPostgres(error)
        } catch let error as PostgresDecodingError {
            throw StrataError.fromPostgres(error)
        }
    }

    // MARK: Queries

    /// Runs one statement and returns all its rows.
    /// - Throws: A mapped ``StrataError``.
    @discardableResult
    public func query(_ query: PostgresQuery, file: String = #fileID, line: Int = #line) async throws -> [PostgresRow] {
        try await withConnection { connection in
            try await connection.query(query, logger: self.queryLogger, file: file, line: line).collect()
        }
    }

    /// The logger statements should be run with (debug level when `DB_ECHO` is on).
    public var statementLogger: Logger { queryLogger }

    /// A snapshot of the pool's bookkeeping.
    public var statistics: Statistics {
        Statistics(
            open: cache.openCount,
            leased: cache.leasedCount,
            waiting: cache.waitingCount,
            maximum: configuration.maximumConnections
        )
    }

    /// Connection counts at one moment.
    public struct Statistics: Sendable, Equatable {
        /// Connections currently open.
        public var open: Int
        /// Connections currently leased to callers.
        public var leased: Int
        /// Callers waiting for a connection.
        public var waiting: Int
        /// The configured maximum.
        public var maximum: Int
        /// Open connections not leased.
        public var idle: Int { max(0, open - leased) }
    }
}
