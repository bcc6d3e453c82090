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
    let state = Mutex(PoolState())
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
        self.client = PostgresClient(configuration: clientConfiguration, backgroundLogger: clientLogger)
    }

    /// Runs the pool until cancelled or gracefully shut down (then its connections close).
    public func run() async {
        await cancelWhenGracefulShutdown {
            await self.client.run()
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
    /// from PostgreSQL are mapped to ``StrataError``.
    /// - Throws: `database_busy` after ``Configuration/acquireTimeout``; any mapped database error.
    public func withConnection<Result: Sendable>(
        _ body: @Sendable (PostgresConnection) async throws -> Result
    ) async throws -> Result {
        let start = ContinuousClock.now
        let decision = LeaseDecision()
        // Without an idle connection a lease may wait: for a busy pool, or for a server that
        // does not answer (postgres-nio keeps retrying). Then the lease races the timeout.
        let mayWait = state.withLock { state -> Bool in
            state.waiting += 1
            return state.connections.count - state.leased < state.waiting
        }
        do {
            if mayWait {
                return try await leaseRacingTimeout(start: start, decision: decision, body)
            }
            return try await client.withConnection { connection in
                _ = decision.claim(.acquired)
                return try await self.use(connection, acquiredAfter: start.duration(to: .now), body)
            }
        } catch {
            if decision.claim(.failed) {
                state.withLock { $0.waiting -= 1 }
                // Failed before a connection was leased: the server could not be reached.
                if !(error is StrataError) && !(error is CancellationError) {
                    throw StrataError(
                        .databaseUnavailable,
                        "Cannot connect to the database at \(url.endpointDescription); retry shortly.",
                        underlying: error
                    )
                }
            }
            throw StrataError.fromPostgres(error)
        }
    }

    /// Runs the closure on a connection that was just acquired, and recycles old connections.
    private func use<Result>(
        _ connection: PostgresConnection,
        acquiredAfter wait: Duration,
        _ body: (PostgresConnection) async throws -> Result
    ) async throws -> Result {
        let now = ContinuousClock.now
        let (bornAt, isNew, counts) = state.withLock { state in
            state.waiting -= 1
            state.leased += 1
            let known = state.connections[connection.id]
            if known == nil { state.connections[connection.id] = now }
            return (known ?? now, known == nil, (state.leased, state.connections.count))
        }
        if isNew {
            let id = connection.id
            connection.closeFuture.whenComplete { [weak self] _ in
                guard let self else { return }
                let counts = self.state.withLock { state in
                    state.connections[id] = nil
                    return (state.leased, state.connections.count)
                }
                self.metrics.record(leased: counts.0, open: counts.1)
            }
        }
        metrics.recordAcquired(after: wait)
        metrics.record(leased: counts.0, open: counts.1)
        defer {
            let counts = state.withLock { state in
                state.leased -= 1
                return (state.leased, state.connections.count)
            }
            metrics.record(leased: counts.0, open: counts.1)
        }
        let result = try await body(connection)
        if let recycle = configuration.recycleAfter, bornAt.duration(to: .now) > recycle {
            logger.debug("recycling database connection", metadata: ["strata.db.connection": "\(connection.id)"])
            try? await connection.close()
        }
        return result
    }

    private enum Race<Value: Sendable>: Sendable {
        case finished(Value)
        case timerFired
    }

    /// The slow path when no idle connection is known: the lease races a timer, and whichever
    /// claims the decision first decides whether the body runs or the caller gets `database_busy`.
    private func leaseRacingTimeout<Result: Sendable>(
        start: ContinuousClock.Instant,
        decision: LeaseDecision,
        _ body: @Sendable (PostgresConnection) async throws -> Result
    ) async throws -> Result {
        let timeout = configuration.acquireTimeout
        let busy = StrataError(
            .databaseBusy,
            "No database connection became free within \(timeout); retry shortly.",
            details: ["timeout_ms": "\(timeout.milliseconds)"]
        )
        return try await withoutActuallyEscaping(body) { body in
            try await withThrowingTaskGroup(of: Race<Result>.self) { group in
                group.addTask {
                    let value = try await self.client.withConnection { connection in
                        guard decision.claim(.acquired) else { throw busy }
                        return try await self.use(connection, acquiredAfter: start.duration(to: .now), body)
                    }
                    return .finished(value)
                }
                group.addTask {
                    try await Task.sleep(for: timeout)
                    return .timerFired
                }
                while let next = try await group.next() {
                    switch next {
                    case .finished(let value):
                        group.cancelAll()
                        return value
                    case .timerFired:
                        if decision.claim(.timedOut) {
                            group.cancelAll()
                            let open = state.withLock { state in
                                state.waiting -= 1
                                return state.connections.count
                            }
                            metrics.acquireTimeouts.increment()
                            if open == 0 {
                                throw StrataError(
                                    .databaseUnavailable,
                                    "Cannot connect to the database at \(url.endpointDescription) within \(timeout); retry shortly."
                                )
                            }
                            throw busy
                        }
                    }
                }
                throw CancellationError()
            }
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
        state.withLock {
            Statistics(open: $0.connections.count, leased: $0.leased, waiting: max(0, $0.waiting), maximum: configuration.maximumConnections)
        }
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

struct PoolState {
    var leased = 0
    var waiting = 0
    var connections: [PostgresConnection.ID: ContinuousClock.Instant] = [:]
}

/// Decides once whether a racing lease acquired its connection or timed out.
final class LeaseDecision: Sendable {
    enum Outcome: Int {
        case acquired = 1
        case timedOut = 2
        case failed = 3
    }
    private let value = Mutex(0)
    /// Claims the outcome; false when the other outcome already won.
    func claim(_ outcome: Outcome) -> Bool {
        value.withLock { current in
            if current == 0 {
                current = outcome.rawValue
                return true
            }
            return current == outcome.rawValue
        }
    }
}
