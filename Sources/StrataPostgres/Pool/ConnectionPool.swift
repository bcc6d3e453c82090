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
final class ConnectionPool: Sendable {
    /// An open connection owned by the pool. A class: it moves between the idle stack, waiters
    /// and callers on every lease, and a copy is then one reference.
    final class Entry: Sendable {
        let connection: PostgresConnection
        /// Runs the leaseholder's jobs on the connection's event loop.
        let executor: ConnectionExecutor
        let bornAt: ContinuousClock.Instant

        init(connection: PostgresConnection, bornAt: ContinuousClock.Instant) {
            self.connection = connection
            self.executor = ConnectionExecutor(connection.eventLoop)
            self.bornAt = bornAt
        }
    }

    private struct Waiter {
        let id: Int
        let continuation: CheckedContinuation<Entry, any Error>
        /// Ends the wait when it runs out; cancelled when the waiter is served.
        var timer: Scheduled<Void>?
    }

    /// Why connections cannot be opened, since when, and the next probe.
    private struct Outage {
        let since: ContinuousClock.Instant
        var lastError: any Error
        var failedAttempts: Int
        var probe: Scheduled<Void>?
    }

    private struct State {
        var idle: [Entry] = []
        /// Connections opened and not yet closed (idle, leased, or closing).
        var open = 0
        var opening = 0
        var leased = 0
        var waiters: [Waiter] = []
        var nextWaiterID = 0
        var nextConnectionID = 0
        var outage: Outage?
        var shutDown = false

        var counts: Counts { Counts(leased: leased, open: open) }

        /// Leases an idle connection — one on the caller's event loop first — or says why not.
        mutating func takeIdle() -> Step {
            if shutDown { return .shutDown }
            // A connection on the caller's own event loop first: its statements are then written
            // without a hop to another thread, and its replies wake the caller where it runs.
            if let local = idle.lastIndex(where: { $0.connection.eventLoop.inEventLoop && !$0.connection.isClosed }) {
                leased += 1
                return .ready(idle.remove(at: local), counts)
            }
            // Closed idle connections are dropped here; their close already counted them out.
            while let entry = idle.popLast() {
                if entry.connection.isClosed { continue }
                leased += 1
                return .ready(entry, counts)
            }
            if let outage { return .unavailable(outage.lastError) }
            return .wait
        }

        /// Whether a caller about to wait should have a connection opened for it.
        mutating func reserveConnectionForWaiter(maximum: Int) -> Bool {
            guard outage == nil, open + opening < maximum, opening < waiters.count else { return false }
            opening += 1
            return true
        }
    }

    /// Leased and open connections at one moment, read under the lock that changed them.
    struct Counts {
        var leased: Int
        var open: Int
    }

    private let state = Mutex(State())
    private let connectionConfiguration: Result<PostgresConnection.Configuration, any Error>
    private let maximum: Int
    private let keepIdle: Int
    private let recycleAfter: Duration?
    private let logger: Logger
    /// What postgres-nio logs about each connection (errors only unless the pool logs debug).
    private let connectionLogger: Logger
    /// Waiters' timers and probes run on these loops.
    private let eventLoops: any EventLoopGroup
    /// Connections take the group's loops in turn (a counter of their own: timers taking
    /// `next()` too would put every connection on the same loop).
    private let connectionLoops: [any EventLoop]
    private let nextConnectionLoop = Atomic<Int>(0)
    private let probeBackoff = Backoff(initial: .milliseconds(100), maximum: .seconds(1))
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
        self.connectionConfiguration = connectionConfiguration
        self.maximum = maximum
        self.keepIdle = keepIdle
        self.recycleAfter = recycleAfter
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
    var waitingCount: Int { state.withLock { $0.waiters.count } }
    /// Open connections.
    var openCount: Int { state.withLock { $0.open } }
    /// Whether connections can be opened: `false` from the first failed attempt until a probe
    /// succeeds.
    var isAvailable: Bool { state.withLock { $0.outage == nil && !$0.shutDown } }
    /// Whether the pool has been shut down.
    var isShutDown: Bool { state.withLock { $0.shutDown } }

    // MARK: Acquire

    /// What a caller gets from a pool that is shut down or shutting down.
    private static var shutDownError: StrataError { StrataError(.databaseUnavailable, "The database pool is shut down.") }

    private enum Step {
        case ready(Entry, Counts)
        case wait
        case unavailable(any Error)
        case shutDown
    }

    /// Takes a connection.
    /// - Parameters:
    ///   - timeout: The longest wait for a connection to come free when the pool is full.
    ///   - connectTimeout: The longest wait when this call had a new connection opened.
    /// - Throws: The `unavailableError` at once while the database cannot be reached; the
    ///   `timeoutError` when the wait runs out; `CancellationError` when cancelled.
    func acquire(timeout: Duration, connectTimeout: Duration) async throws -> Entry {
        let (first, id) = state.withLock { state in
            let step = state.takeIdle()
            guard case .wait = step else { return (step, 0) }
            state.nextWaiterID += 1
            return (step, state.nextWaiterID)
        }
        switch first {
        case .ready(let entry, let counts):
            onChange(counts)
            return entry
        case .shutDown:
            throw Self.shutDownError
        case .unavailable(let cause):
            throw unavailableError(cause)
        case .wait:
            break
        }
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { continuation in
                // Looked at again under the lock that queues the waiter: a connection may have
                // come back since, and the decision to open one counts every waiter queued.
                enum Decision {
                    case step(Step)
                    case queued(openConnection: Bool)
                }
                let decision = state.withLock { state -> Decision in
                    let step = state.takeIdle()
                    guard case .wait = step else { return .step(step) }
                    state.waiters.append(Waiter(id: id, continuation: continuation))
                    return .queued(openConnection: state.reserveConnectionForWaiter(maximum: maximum))
                }
                switch decision {
                case .step(.ready(let entry, let counts)):
                    onChange(counts)
                    continuation.resume(returning: entry)
                    return
                case .step(.unavailable(let cause)):
                    continuation.resume(throwing: unavailableError(cause))
                    return
                case .step(.shutDown), .step(.wait):
                    continuation.resume(throwing: Self.shutDownError)
                    return
                case .queued(let openConnection):
                    let limit = openConnection ? max(timeout, connectTimeout) : timeout
                    // An event-loop timer, not a sleeping task: a cancelled timer is removed at
                    // once, where a cancelled `Task.sleep` on NIO's executor stays scheduled (and
                    // its task in memory) until its deadline.
                    let timer = eventLoops.next().scheduleTask(in: .nanoseconds(limit.nanoseconds)) { [weak self] in
                        guard let self else { return }
                        let (opened, outage) = self.state.withLock { ($0.open > 0, $0.outage?.lastError) }
                        self.fail(waiter: id, with: outage.map(self.unavailableError) ?? self.timeoutError(opened))
                    }
                    let stillWaiting = state.withLock { state -> Bool in
                        guard let index = state.waiters.firstIndex(where: { $0.id == id }) else { return false }
                        state.waiters[index].timer = timer
                        return true
                    }
                    if !stillWaiting { timer.cancel() }
                    if Task.isCancelled { fail(waiter: id, with: CancellationError()) }
                    if openConnection { self.openConnection() }
                }
            }
        } onCancel: {
            fail(waiter: id, with: CancellationError())
        }
    }

    /// Ends one waiter's wait with an error, if it is still waiting.
    private func fail(waiter id: Int, with error: any Error) {
        let waiter = state.withLock { state -> Waiter? in
            guard let index = state.waiters.firstIndex(where: { $0.id == id }) else { return nil }
            return state.waiters.remove(at: index)
        }
        waiter?.timer?.cancel()
        waiter?.continuation.resume(throwing: error)
    }

    // MARK: Connecting

    /// Opens one connection; the caller has counted it in `opening`.
    private func openConnection() {
        let configuration: PostgresConnection.Configuration
        switch connectionConfiguration {
        case .success(let value): configuration = value
        case .failure(let error):
            connectFailed(error)
            return
        }
        let id = state.withLock { state -> Int in
            state.nextConnectionID += 1
            return state.nextConnectionID
        }
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
        enum Outcome {
            case handOver(Waiter)
            case keep
            case close
        }
        let (outcome, recovered, counts) = state.withLock { state -> (Outcome, Outage?, Counts) in
            state.opening -= 1
            state.open += 1
            let recovered = state.outage
            state.outage = nil
            if state.shutDown { return (.close, recovered, state.counts) }
            if !state.waiters.isEmpty {
                state.leased += 1
                return (.handOver(state.waiters.removeFirst()), recovered, state.counts)
            }
            if state.idle.count >= keepIdle { return (.close, recovered, state.counts) }
            state.idle.append(entry)
            return (.keep, recovered, state.counts)
        }
        connection.closeFuture.whenComplete { [weak self] _ in
            guard let self else { return }
            let counts = self.state.withLock { state in
                state.open -= 1
                state.idle.removeAll { $0 === entry }
                return state.counts
            }
            self.onChange(counts)
            // A slot is free: a caller waiting on a full pool may have one opened now.
            self.openForWaiters()
        }
        if let recovered {
            recovered.probe?.cancel()
            logger.notice(
                "the database is reachable again; serving requests",
                metadata: ["strata.db.unavailable_ms": "\(recovered.since.duration(to: .now).milliseconds)"]
            )
            onAvailabilityChange(true)
        }
        switch outcome {
        case .handOver(let waiter):
            waiter.timer?.cancel()
            waiter.continuation.resume(returning: entry)
        case .keep:
            serveWaiters()
        case .close:
            connection.closeInBackground()
        }
        onChange(counts)
    }

    /// A connection could not be opened: the breaker opens (or stays open), waiters are turned
    /// away, and one probe is scheduled once no other attempt is under way.
    private func connectFailed(_ error: any Error) {
        let (started, waiters, probeDelay) = state.withLock { state -> (Bool, [Waiter], Duration?) in
            state.opening -= 1
            guard !state.shutDown else { return (false, [], nil) }
            let started = state.outage == nil
            if started {
                state.outage = Outage(since: .now, lastError: error, failedAttempts: 1)
            } else {
                state.outage!.lastError = error
                state.outage!.failedAttempts += 1
            }
            let waiters = state.waiters
            state.waiters = []
            guard state.opening == 0, state.outage!.probe == nil else { return (started, waiters, nil) }
            return (started, waiters, probeBackoff.delay(afterFailures: state.outage!.failedAttempts))
        }
        if started {
            logger.error(
                "the database cannot be reached; requests that need it answer 503 until a probe connection succeeds",
                metadata: ["strata.error": "\(String(reflecting: error))"]
            )
            onAvailabilityChange(false)
        } else {
            logger.debug("probe connection failed", metadata: ["strata.error": "\(String(reflecting: error))"])
        }
        let refusal = unavailableError(error)
        for waiter in waiters {
            waiter.timer?.cancel()
            waiter.continuation.resume(throwing: refusal)
        }
        if let probeDelay { scheduleProbe(after: probeDelay) }
    }

    private func scheduleProbe(after delay: Duration) {
        let probe = eventLoops.next().scheduleTask(in: .nanoseconds(delay.nanoseconds)) { [weak self] in
            guard let self else { return }
            let go = self.state.withLock { state -> Bool in
                guard !state.shutDown, state.outage != nil else { return false }
                state.outage!.probe = nil
                guard state.opening == 0 else { return false }
                state.opening += 1
                return true
            }
            if go { self.openConnection() }
        }
        let keep = state.withLock { state -> Bool in
            guard !state.shutDown, state.outage != nil, state.outage!.probe == nil else { return false }
            state.outage!.probe = probe
            return true
        }
        if !keep { probe.cancel() }
    }

    /// Opens connections for callers still waiting, within the limits.
    private func openForWaiters() {
        while state.withLock({ state in
            guard !state.waiters.isEmpty, state.opening < state.waiters.count else { return false }
            return state.reserveConnectionForWaiter(maximum: maximum)
        }) {
            openConnection()
        }
    }

    // MARK: Release

    /// Returns a connection: to a waiter, to the idle stack, or closes it.
    func release(_ entry: Entry) {
        let tooOld = recycleAfter.map { entry.bornAt.duration(to: .now) > $0 } ?? false
        if tooOld || entry.connection.isClosed {
            if tooOld && !entry.connection.isClosed {
                logger.debug("recycling database connection", metadata: ["strata.db.connection": "\(entry.connection.id)"])
                entry.connection.closeInBackground()
            }
            let counts = state.withLock { state in
                state.leased -= 1
                return state.counts
            }
            onChange(counts)
            return
        }
        enum Outcome {
            case handOver(Waiter)
            case keep
            case close
        }
        let (outcome, counts) = state.withLock { state -> (Outcome, Counts) in
            if !state.shutDown, !state.waiters.isEmpty {
                return (.handOver(state.waiters.removeFirst()), state.counts)
            }
            state.leased -= 1
            if state.shutDown || state.idle.count >= keepIdle { return (.close, state.counts) }
            state.idle.append(entry)
            return (.keep, state.counts)
        }
        switch outcome {
        case .handOver(let waiter):
            waiter.timer?.cancel()
            waiter.continuation.resume(returning: entry)
        case .keep:
            break
        case .close:
            entry.connection.closeInBackground()
        }
        onChange(counts)
    }

    /// Hands idle connections to waiters (after a waiter joined the queue, or a connection the
    /// waiters did not take joined the stack).
    private func serveWaiters() {
        while true {
            let pair = state.withLock { state -> (Waiter, Entry)? in
                guard !state.waiters.isEmpty else { return nil }
                while let entry = state.idle.popLast() {
                    if entry.connection.isClosed { continue }
                    state.leased += 1
                    return (state.waiters.removeFirst(), entry)
                }
                return nil
            }
            guard let (waiter, entry) = pair else { return }
            waiter.timer?.cancel()
            waiter.continuation.resume(returning: entry)
        }
    }

    // MARK: Shutdown

    /// Closes every idle connection and fails every waiter; later releases close too. Returns
    /// when the idle connections are closed.
    func shutDown() async {
        let (idle, waiters, probe) = state.withLock { state -> ([Entry], [Waiter], Scheduled<Void>?) in
            state.shutDown = true
            defer {
                state.idle = []
                state.waiters = []
            }
            return (state.idle, state.waiters, state.outage?.probe)
        }
        probe?.cancel()
        for waiter in waiters {
            waiter.timer?.cancel()
            waiter.continuation.resume(throwing: Self.shutDownError)
        }
        for entry in idle {
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
