public import Logging
import Metrics
import NIOCore
public import PostgresNIO
public import ServiceLifecycle
public import StrataCore
import Synchronization

/// Strata's connection pool: connections opened with postgres-nio's `PostgresConnection` and
/// lent out under the platform's rules (``ConnectionPool`` holds the bookkeeping).
///
/// - ``Configuration/poolSize`` connections stay open once opened; up to
///   ``Configuration/maximumConnections`` open under load.
/// - A caller that waits longer than ``Configuration/acquireTimeout`` gets the retryable
///   `database_busy` error (HTTP 503 with `Retry-After`).
/// - While the database cannot be reached, callers get `database_unavailable` at once, one probe
///   connection retries with backoff, and ``isAvailable`` is `false` (see ``waitUntilAvailable()``).
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
    let logger: Logger
    let queryLogger: Logger
    let connections: ConnectionPool
    let metrics: PoolMetrics

    /// Creates a pool. Nothing connects until a caller asks.
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
        let metrics = PoolMetrics(maximum: configuration.maximumConnections)
        self.metrics = metrics

        var parameters: [(String, String)] = [("application_name", configuration.applicationName)]
        if let timeout = configuration.statementTimeout {
            parameters.append(("statement_timeout", "\(timeout.milliseconds)"))
        }
        if let searchPath = configuration.searchPath {
            parameters.append(("search_path", searchPath.isEmpty ? "\"\"" : searchPath))
        }
        let connectionConfiguration = Result {
            var connection = try Self.connectionConfiguration(url: url, connectTimeout: configuration.connectTimeout)
            connection.options.additionalStartupParameters = parameters
            return connection
        }
        self.connections = ConnectionPool(
            connectionConfiguration: connectionConfiguration,
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
            unavailableError: { [url] cause in
                StrataError(
                    .databaseUnavailable,
                    "The database at \(url.endpointDescription) cannot be reached; retry shortly.",
                    details: ["retry_after_s": "1"],
                    underlying: ReportedOutage(dependency: "postgresql", cause: cause)
                )
            },
            onChange: { counts in
                metrics.record(leased: counts.leased, open: counts.open)
            },
            onAvailabilityChange: { available in
                metrics.recordAvailability(available)
            }
        )
    }

    /// Runs the pool until cancelled or gracefully shut down; then idle connections are closed
    /// and waiters fail.
    public func run() async {
        try? await gracefulShutdown()
        await connections.shutDown()
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

    /// Leases a connection for the closure's lifetime — or, inside an
    /// ``EnclosingTransaction`` of this pool, runs the closure on that transaction's connection.
    ///
    /// The connection must not escape the closure. Errors thrown by the closure that come
    /// from PostgreSQL are mapped to ``StrataError``; the closure's own errors pass unchanged.
    /// - Throws: `database_busy` after ``Configuration/acquireTimeout`` when every connection is
    ///   in use; `database_unavailable` when no connection could be opened within
    ///   ``Configuration/connectTimeout``; any mapped database error.
    public func withConnection<Result: Sendable>(
        _ body: @Sendable (PostgresConnection) async throws -> Result
    ) async throws -> Result {
        if let enclosing = EnclosingTransaction.joinable(by: self) {
            return try await mappingPostgresErrors { try await body(enclosing.connection) }
        }
        return try await withLeased { entry in try await body(entry.connection) }
    }

    /// Runs `body` on a leased connection (``lease(keeping:overriding:)``) on the connection's
    /// event loop, mapping PostgreSQL's errors, and returns the connection to the pool.
    func withLeased<Result: Sendable>(
        keeping kept: SessionSettings? = nil,
        overriding: Bool = false,
        _ body: @Sendable (ConnectionPool.Entry) async throws -> Result
    ) async throws -> Result {
        let entry = try await lease(keeping: kept, overriding: overriding)
        defer { connections.release(entry) }
        return try await mappingPostgresErrors {
            try await withTaskExecutorPreference(entry.executor) { try await body(entry) }
        }
    }

    /// Takes a connection from the pool, counting the wait. A connection whose session holds
    /// settings other than `kept` (``withSession(_:_:)``) is reset first: whoever leases a
    /// connection gets the session as it was opened, or the settings they asked for — unless
    /// they are `overriding` whatever the session holds themselves, locally to a transaction
    /// (``withTransaction(overSessionKeyed:maxAttempts:_:)``).
    func lease(keeping kept: SessionSettings? = nil, overriding: Bool = false) async throws -> ConnectionPool.Entry {
        let start = ContinuousClock.now
        let entry: ConnectionPool.Entry
        do {
            entry = try await connections.acquire(timeout: configuration.acquireTimeout, connectTimeout: configuration.connectTimeout)
        } catch let error as StrataError {
            if error.code == .databaseBusy || error.code == .databaseUnavailable { metrics.acquireTimeouts.increment() }
            throw error
        } catch {
            throw StrataError.fromPostgres(error)
        }
        metrics.recordAcquired(after: start.duration(to: .now))
        if !overriding, let held = entry.session.withLock({ $0 }), held != kept {
            do {
                try await mappingPostgresErrors {
                    try await withTaskExecutorPreference(entry.executor) {
                        try await entry.connection.run(held.reset, logger: self.queryLogger)
                    }
                }
                entry.session.withLock { $0 = nil }
            } catch {
                // Still marked: the next lease resets it again (or the connection is closed).
                connections.release(entry)
                throw error
            }
        }
        return entry
    }

    /// Runs `body` on a connection whose session holds `settings`, in autocommit: a connection
    /// that already holds them (left by an earlier call with the same key) is used as it is;
    /// another is given them first. Whoever leases the connection afterwards for anything else
    /// gets it reset (``SessionSettings/reset``). For many short statements under the same
    /// settings — a scoped user's reads — this saves the `BEGIN`, the settings and the `COMMIT`
    /// of a transaction around each.
    /// - Throws: As ``withConnection(_:)``.
    func withSession<Result: Sendable>(
        _ settings: SessionSettings,
        _ body: @Sendable (PostgresConnection) async throws -> Result
    ) async throws -> Result {
        try await withLeased(keeping: settings) { entry in
            if entry.session.withLock({ $0 }) == nil {
                entry.session.withLock { $0 = settings }
                try await entry.connection.run(settings.apply, logger: self.queryLogger)
            }
            return try await body(entry.connection)
        }
    }

    /// Runs `body`, mapping PostgreSQL's errors to ``StrataError`` and passing others unchanged.
    func mappingPostgresErrors<Result: Sendable>(_ body: () async throws -> Result) async throws -> Result {
        do {
            return try await body()
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
            try await connection.run(query, logger: self.queryLogger, file: file, line: line).collect()
        }
    }

    /// The logger statements should be run with (debug level when `DB_ECHO` is on).
    public var statementLogger: Logger { queryLogger }

    // MARK: Availability

    /// Whether the database can be reached: `false` from the first connection that could not be
    /// opened until a probe connection succeeds. While it is `false`, callers that find no idle
    /// connection get `database_unavailable` at once.
    public var isAvailable: Bool { connections.isAvailable }

    /// Returns when the database can be reached again, at once if it can; also when the pool
    /// shuts down, when graceful shutdown begins, or when the task is cancelled. Background
    /// services call it after a failure instead of retrying on their own clock, so that an
    /// outage costs one probe connection and one log line (the pool's), not one per service and
    /// attempt.
    public func waitUntilAvailable() async {
        guard !connections.isAvailable else { return }
        let doorbell = Doorbell()
        await withGracefulShutdownHandler {
            while !connections.isAvailable && !connections.isShutDown && !Task.isCancelled && !Task.isShuttingDownGracefully {
                await doorbell.wait(timeout: .milliseconds(200))
            }
        } onGracefulShutdown: {
            doorbell.ring()
        }
    }

    /// Whether `error` means the database cannot be reached right now (the pool has already
    /// said so once in its log).
    public func isOutage(_ error: any Error) -> Bool {
        guard let error = error as? StrataError, error.code == .databaseUnavailable else { return false }
        return error.isReportedOutage || !connections.isAvailable
    }

    /// A snapshot of the pool's bookkeeping.
    public var statistics: Statistics {
        Statistics(
            open: connections.openCount,
            leased: connections.leasedCount,
            waiting: connections.waitingCount,
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
