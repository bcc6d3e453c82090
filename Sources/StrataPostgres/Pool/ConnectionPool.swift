import Logging
import NIOCore
import PostgresNIO
import StrataCore
import Synchronization

/// Strata's connection pool: opens `PostgresConnection`s itself and lends them out, so that
/// taking and returning a connection is a lock and an array operation, and so that a database
/// that goes away is met with a circuit breaker rather than with retries that pile up.
///
/// - **Acquire**: take an idle connection, one on the caller's event loop if there is one
///   (skipping closed ones); otherwise join a FIFO queue, and open a connection while fewer than
///   `maximum` are open or opening and fewer are opening than callers wait. The wait ends with a
///   connection, with `database_busy` (or `database_unavailable` when none could be opened)
///   after the timeout — the acquire timeout for a full pool, the connect timeout (if longer)
///   for a caller that had a connection opened — or with cancellation.
/// - **Release**: hand the connection to the oldest waiter, or keep it idle; close it when it is
///   closed already, older than the recycle age, or beyond `keepIdle` idle connections (the
///   overflow rule of SQLAlchemy's `QueuePool`).
/// - **Outage** (the circuit breaker): the first connection that cannot be opened opens the
///   breaker. Every waiter fails at once with `database_unavailable`, and so does every later
///   acquire that finds no idle connection, until one probe connection — retried with backoff,
///   100 ms doubling to 1 s — succeeds. Nothing else connects meanwhile. The outage and the
///   recovery are each logged once.
/// - **Shutdown**: idle connections close, waiters fail, later releases close.
///
/// The rules live in ``PoolStateMachine``, which does no I/O; this class holds it under one
/// lock and carries out the actions it returns (resuming callers, opening and closing
/// connections, timers) after the lock is released.
final class ConnectionPool: Sendable {
    /// An open connection owned by the pool. A class: it moves between the idle stack, waiters
    /// and callers on every lease, and a copy is then one reference.
    final class Entry: PooledConnection, Sendable {
        let connection: PostgresConnection
        /// Runs the leaseholder's jobs on the connection's event loop.
        let executor: ConnectionExecutor
        let bornAt: ContinuousClock.Instant
        /// The settings kept on the connection's session between leases
        /// (``PostgresPool/withSession(_:_:)``), or `nil` when the session is as it was opened.
        /// Set before they are applied, so that settings applied part-way are reset too.
        let session = Mutex<SessionSettings?>(nil)

        init(connection: PostgresConnection, bornAt: ContinuousClock.Instant) {
            self.connection = connection
            self.executor = ConnectionExecutor(connection.eventLoop)
            self.bornAt = bornAt
        }

        var isClosed: Bool { connection.isClosed }
    }

    typealias Rules = PoolStateMachine<Entry, CheckedContinuation<Entry, any Error>, Scheduled<Void>>
    typealias Counts = Rules.Counts
    private typealias Queued = Rules.Queued

    private let state: Mutex<Rules>
    private let connectionConfiguration: Result<PostgresConnection.Configuration, any Error>
    private let logger: Logger
    /// What postgres-nio logs about each connection (errors only unless the pool logs debug).
    private let connectionLogger: Logger
    /// Waiters' timers and probes run on these loops.
    private let eventLoops: any EventLoopGroup
    /// Connections take the group's loops in turn (a counter of their own: timers taking
    /// `next()` too would put every connection on the same loop).
    private let connectionLoops: [any EventLoop]
    private let nextConnectionLoop = Atomic<Int>(0)
    private let lastConnectionID = Atomic<Int>(0)
    /// The error for a caller whose wait ran out: `true` when connections are open (busy pool),
    /// `false` when none could be opened. Built only when a wait times out.
    private let timeoutError: @Sendable (_ connectionsOpen: Bool) -> StrataError
    /// The error for a caller turned away while the database cannot be reached.
    private let unavailableError: @Sendable (_ cause: any Error) -> StrataError
    /// Called with the counts whenever either changes.
    private let onChange: @Sendable (Counts) -> Void
    /// Called with `true` when the database comes back, `false` when it goes away.
    private let onAvailabilityChange: @Sendable (Bool) -> Void

    init(
        connectionConfiguration: Result<PostgresConnection.Configuration, any Error>,
        maximum: Int,
        keepIdle: Int,
        recycleAfter: Duration?,
        logger: Logger,
        eventLoops: any EventLoopGroup = PostgresConnection.defaultEventLoopGroup,
        timeoutError: @escaping @Sendable (_ connectionsOpen: Bool) -> StrataError,
        unavailableError: @escaping @Sendable (_ cause: any Error) -> StrataError,
        onChange: @escaping @Sendable (Counts) -> Void,
        onAvailabilityChange: @escaping @Sendable (Bool) -> Void
    ) {
        self.state = Mutex(Rules(limits: .init(maximum: maximum, keepIdle: keepIdle, recycleAfter: recycleAfter)))
        self.connectionConfiguration = connectionConfiguration
        self.logger = logger
        var connectionLogger = logger
        if connectionLogger.logLevel > .debug { connectionLogger.logLevel = .error }
        self.connectionLogger = connectionLogger
        self.eventLoops = eventLoops
        self.connectionLoops = Array(eventLoops.makeIterator())
        self.timeoutError = timeoutError
        self.unavailableError = unavailableError
        self.onChange = onChange
        self.onAvailabilityChange = onAvailabilityChange
    }

    /// Connections currently leased to callers.
    var leasedCount: Int { state.withLock { $0.leased } }
    /// Callers waiting for a connection.
    var waitingCount: Int { state.withLock { $0.queue.count } }
    /// Open connections.
    var openCount: Int { state.withLock { $0.open } }
    /// Whether connections can be opened: `false` from the first failed attempt until a probe
    /// succeeds.
    var isAvailable: Bool { state.withLock { $0.outage == nil && !$0.isShutDown } }
    /// Whether the pool has been shut down.
    var isShutDown: Bool { state.withLock { $0.isShutDown } }

    // MARK: Acquire

    /// What a caller gets from a pool that is shut down or shutting down.
    private static var shutDownError: StrataError { StrataError(.databaseUnavailable, "The database pool is shut down.") }

    /// A connection on the caller's own event loop first: its statements are then written
    /// without a hop to another thread, and its replies wake the caller where it runs.
    private static func onCallersLoop(_ entry: Entry) -> Bool { entry.connection.eventLoop.inEventLoop }

    /// Takes a connection.
    /// - Parameters:
    ///   - timeout: The longest wait for a connection to come free when the pool is full.
    ///   - connectTimeout: The longest wait when this call had a new connection opened.
    /// - Throws: The `unavailableError` at once while the database cannot be reached; the
    ///   `timeoutError` when the wait runs out; `CancellationError` when cancelled.
    func acquire(timeout: Duration, connectTimeout: Duration) async throws -> Entry {
        let id: Int
        switch state.withLock({ $0.acquire(preferring: Self.onCallersLoop) }) {
        case .lease(let entry, let counts):
            onChange(counts)
            return entry
        case .shutDown:
            throw Self.shutDownError
        case .unavailable(let cause):
            throw unavailableError(cause)
        case .wait(let waiterID):
            id = waiterID
        }
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { continuation in
                switch state.withLock({ $0.enqueue(continuation, id: id, preferring: Self.onCallersLoop) }) {
                case .lease(let entry, let counts):
                    onChange(counts)
                    continuation.resume(returning: entry)
                case .unavailable(let cause):
                    continuation.resume(throwing: unavailableError(cause))
                case .shutDown:
                    continuation.resume(throwing: Self.shutDownError)
                case .queued(let openConnection):
                    let limit = openConnection ? max(timeout, connectTimeout) : timeout
                    // An event-loop timer, not a sleeping task: a cancelled timer is removed at
                    // once, where a cancelled `Task.sleep` on NIO's executor stays scheduled (and
                    // its task in memory) until its deadline.
                    let timer = eventLoops.next().scheduleTask(in: .nanoseconds(limit.nanoseconds)) { [weak self] () -> Void in
                        self?.waitRanOut(id: id)
                    }
                    if !state.withLock({ $0.timerScheduled(timer, forWaiter: id) }) { timer.cancel() }
                    if Task.isCancelled { cancelWait(id: id) }
                    if openConnection { self.openConnection() }
                }
            }
        } onCancel: {
            cancelWait(id: id)
        }
    }

    private func waitRanOut(id: Int) {
        guard let (queued, reason) = state.withLock({ $0.waiterTimedOut(id: id) }) else { return }
        switch reason {
        case .busy: queued.waiter.resume(throwing: timeoutError(true))
        case .noConnection: queued.waiter.resume(throwing: timeoutError(false))
        case .unavailable(let cause): queued.waiter.resume(throwing: unavailableError(cause))
        }
    }

    private func cancelWait(id: Int) {
        guard let queued = state.withLock({ $0.waiterCancelled(id: id) }) else { return }
        queued.timer?.cancel()
        queued.waiter.resume(throwing: CancellationError())
    }

    /// Gives a queued caller its connection.
    private func handOver(_ entry: Entry, to queued: Queued) {
        queued.timer?.cancel()
        queued.waiter.resume(returning: entry)
    }

    // MARK: Connecting

    /// Opens one connection; the rules have counted it as opening.
    private func openConnection() {
        let configuration: PostgresConnection.Configuration
        switch connectionConfiguration {
        case .success(let value): configuration = value
        case .failure(let error):
            connectFailed(error)
            return
        }
        let id = lastConnectionID.wrappingAdd(1, ordering: .relaxed).newValue
        let turn = nextConnectionLoop.wrappingAdd(1, ordering: .relaxed).oldValue & Int.max
        let eventLoop = connectionLoops.isEmpty ? eventLoops.next() : connectionLoops[turn % connectionLoops.count]
        PostgresConnection.connect(on: eventLoop, configuration: configuration, id: id, logger: connectionLogger)
            .whenComplete { result in
                switch result {
                case .success(let connection): self.connected(connection)
                case .failure(let error): self.connectFailed(error)
                }
            }
    }

    /// A new connection is open: it goes to the oldest waiter, the idle stack, or is closed.
    private func connected(_ connection: PostgresConnection) {
        let entry = Entry(connection: connection, bornAt: .now)
        let (action, recovered, counts) = state.withLock { $0.connectionOpened(entry) }
        connection.closeFuture.whenComplete { [weak self] _ in
            guard let self else { return }
            let (counts, toOpen) = self.state.withLock { $0.connectionClosed(entry) }
            self.onChange(counts)
            // A slot is free: a caller waiting on a full pool may have one opened now.
            for _ in 0..<toOpen { self.openConnection() }
        }
        if let recovered {
            recovered.probe?.cancel()
            logger.notice(
                "the database is reachable again; serving requests",
                metadata: ["strata.db.unavailable_ms": "\(recovered.since.duration(to: .now).milliseconds)"]
            )
            onAvailabilityChange(true)
        }
        switch action {
        case .handOver(let queued): handOver(entry, to: queued)
        case .keep: break
        case .close: connection.closeInBackground()
        }
        onChange(counts)
    }

    /// A connection could not be opened: the breaker opens (or stays open), waiters are turned
    /// away, and one probe is scheduled once no other attempt is under way.
    private func connectFailed(_ error: any Error) {
        let failure = state.withLock { $0.connectFailed(error, now: .now) }
        if failure.outageStarted {
            logger.error(
                "the database cannot be reached; requests that need it answer 503 until a probe connection succeeds",
                metadata: ["strata.error": "\(String(reflecting: error))"]
            )
            onAvailabilityChange(false)
        } else {
            logger.debug("probe connection failed", metadata: ["strata.error": "\(String(reflecting: error))"])
        }
        if !failure.turnedAway.isEmpty {
            let refusal = unavailableError(error)
            for queued in failure.turnedAway {
                queued.timer?.cancel()
                queued.waiter.resume(throwing: refusal)
            }
        }
        if let delay = failure.probeAfter { scheduleProbe(after: delay) }
    }

    private func scheduleProbe(after delay: Duration) {
        let probe = eventLoops.next().scheduleTask(in: .nanoseconds(delay.nanoseconds)) { [weak self] in
            guard let self else { return }
            if self.state.withLock({ $0.probeFired() }) { self.openConnection() }
        }
        if !state.withLock({ $0.probeScheduled(probe) }) { probe.cancel() }
    }

    // MARK: Release

    /// Returns a connection: to a waiter, to the idle stack, or closes it.
    func release(_ entry: Entry) {
        let (action, counts) = state.withLock { $0.release(entry, now: .now) }
        switch action {
        case .handOver(let queued): handOver(entry, to: queued)
        case .keep, .drop: break
        case .close: entry.connection.closeInBackground()
        case .recycle:
            logger.debug("recycling database connection", metadata: ["strata.db.connection": "\(entry.connection.id)"])
            entry.connection.closeInBackground()
        }
        onChange(counts)
    }

    // MARK: Shutdown

    /// Closes every idle connection and fails every waiter; later releases close too. Returns
    /// when the idle connections are closed.
    func shutDown() async {
        let closing = state.withLock { $0.shutDown() }
        closing.probe?.cancel()
        for queued in closing.turnedAway {
            queued.timer?.cancel()
            queued.waiter.resume(throwing: Self.shutDownError)
        }
        for entry in closing.idle {
            try? await entry.connection.close()
        }
    }
}

extension PostgresConnection {
    /// Starts closing the connection without waiting for it (its `closeFuture` completes later).
    fileprivate func closeInBackground() {
        let closing: EventLoopFuture<Void> = close()
        _ = closing
    }
}
