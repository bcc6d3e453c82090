import Logging
import NIOCore
import PostgresNIO
import StrataCore
import Synchronization

/// Keeps connections leased from postgres-nio's `PostgresClient` for reuse, so that taking
/// and returning a connection is a lock and an array operation, not a suspension.
///
/// postgres-nio's lease suspends the caller on a continuation and runs its pool state machine
/// twice per use; measured with the CRUD benchmark that is nearly half the client's cost of a
/// primary-key read (28k reads/s per-use leases against 50k with held connections). The cache
/// sits in front of it:
///
/// - A **holder task** leases a connection from `PostgresClient` and parks inside its
///   `withConnection` until the cache gives the connection back; `PostgresClient` keeps owning
///   connection creation, re-connection and its own limits.
/// - **Acquire**: take an idle connection, one on the caller's event loop if there is one
///   (skipping closed ones); otherwise join a FIFO queue,
///   and start a holder while fewer than `maximum` are held. The wait ends with a connection,
///   with `database_busy` (or `database_unavailable` when none could be opened) after the
///   timeout — the acquire timeout for a full pool, the connect timeout (if longer) for a
///   caller that had a connection opened — or with cancellation.
/// - **Release**: hand the connection to the oldest waiter, or keep it idle; give it back to
///   `PostgresClient` when it is closed, older than the recycle age, or beyond `keepIdle` idle
///   connections (the overflow rule of SQLAlchemy's `QueuePool`).
/// - **Shutdown**: every idle connection goes back, waiters fail, later releases go back.
final class LeaseCache: Sendable {
    /// A connection held from `PostgresClient`. A class: it moves between the idle stack, waiters
    /// and callers on every lease, and a copy is then one reference, not four.
    final class Entry: Sendable {
        let connection: PostgresConnection
        /// Runs the holder's jobs on the connection's event loop.
        let executor: ConnectionExecutor
        /// Resuming it ends the holder's `withConnection`, returning the lease.
        let giveBack: CheckedContinuation<Void, Never>
        let bornAt: ContinuousClock.Instant

        init(
            connection: PostgresConnection,
            executor: ConnectionExecutor,
            giveBack: CheckedContinuation<Void, Never>,
            bornAt: ContinuousClock.Instant
        ) {
            self.connection = connection
            self.executor = executor
            self.giveBack = giveBack
            self.bornAt = bornAt
        }
    }

    private struct Waiter {
        let id: Int
        let continuation: CheckedContinuation<Entry, any Error>
        /// Ends the wait when it runs out; cancelled when the waiter is served.
        let timer: Scheduled<Void>?
    }

    private struct State {
        var idle: [Entry] = []
        /// Connections owned by holders: idle, leased, or being opened.
        var held = 0
        var leased = 0
        var opening = 0
        var waiters: [Waiter] = []
        var nextWaiterID = 0
        var shutDown = false
        /// When each open connection was first seen, forgotten when it closes.
        var firstSeen: [PostgresConnection.ID: ContinuousClock.Instant] = [:]

        var counts: Counts { Counts(leased: leased, open: firstSeen.count) }
    }

    private let state = Mutex(State())
    private let client: PostgresClient
    private let maximum: Int
    private let keepIdle: Int
    private let recycleAfter: Duration?
    private let logger: Logger
    /// Where waiters' timers run.
    private let timers: any EventLoopGroup
    /// The error for a caller whose wait ran out: `true` when connections are open (busy pool),
    /// `false` when none could be opened. Built only when a wait times out.
    private let timeoutError: @Sendable (_ connectionsOpen: Bool) -> StrataError

    init(
        client: PostgresClient,
        maximum: Int,
        keepIdle: Int,
        recycleAfter: Duration?,
        logger: Logger,
        timers: any EventLoopGroup = PostgresClient.defaultEventLoopGroup,
        timeoutError: @escaping @Sendable (_ connectionsOpen: Bool) -> StrataError,
        onChange: @escaping @Sendable (Int, Int) -> Void
    ) {
        self.timeoutError = timeoutError
        self.onChange = onChange
        self.client = client
        self.maximum = maximum
        self.keepIdle = keepIdle
        self.recycleAfter = recycleAfter
        self.logger = logger
        self.timers = timers
    }

    /// Connections currently leased to callers.
    var leasedCount: Int { state.withLock { $0.leased } }
    /// Callers waiting for a connection.
    var waitingCount: Int { state.withLock { $0.waiters.count } }
    /// Open connections the cache has seen.
    var openCount: Int { state.withLock { $0.firstSeen.count } }
    /// Called with (leased, open) whenever either changes.
    let onChange: @Sendable (Int, Int) -> Void

    // MARK: Acquire

    private enum Step {
        case ready(Entry, Counts)
        case wait(id: Int, openHolder: Bool)
        case shutDown
    }

    /// Takes a connection.
    /// - Parameters:
    ///   - timeout: The longest wait for a connection to come free when the pool is full.
    ///   - connectTimeout: The longest wait when this call had a new connection opened.
    /// - Throws: The `timeoutError` when the wait runs out; `CancellationError` when cancelled.
    func acquire(timeout: Duration, connectTimeout: Duration) async throws -> Entry {
        var closed: [Entry] = []
        let step = state.withLock { state -> Step in
            if state.shutDown { return .shutDown }
            // A connection on the caller's own event loop first: its statements are then written
            // without a hop to another thread, and its replies wake the caller where it runs.
            if let local = state.idle.lastIndex(where: { $0.connection.eventLoop.inEventLoop && !$0.connection.isClosed }) {
                state.leased += 1
                return .ready(state.idle.remove(at: local), state.counts)
            }
            while let entry = state.idle.popLast() {
                if entry.connection.isClosed {
                    state.held -= 1
                    closed.append(entry)
                    continue
                }
                state.leased += 1
                return .ready(entry, state.counts)
            }
            let id = state.nextWaiterID
            state.nextWaiterID += 1
            let openHolder = state.held < maximum
            if openHolder {
                state.held += 1
                state.opening += 1
            }
            return .wait(id: id, openHolder: openHolder)
        }
        for entry in closed { entry.giveBack.resume() }
        switch step {
        case .ready(let entry, let counts):
            report(counts)
            return entry
        case .shutDown:
            throw StrataError(.databaseUnavailable, "The database pool is shut down.")
        case .wait(let id, let openHolder):
            return try await withTaskCancellationHandler {
                try await withCheckedThrowingContinuation { continuation in
                    let limit = openHolder ? max(timeout, connectTimeout) : timeout
                    // An event-loop timer, not a sleeping task: a cancelled timer is removed at
                    // once, where a cancelled `Task.sleep` on NIO's executor stays scheduled (and
                    // its task in memory) until its deadline — under load, every busy moment's
                    // waiters for the whole acquire timeout.
                    let timer = timers.next().scheduleTask(in: .nanoseconds(limit.nanoseconds)) { [weak self] in
                        guard let self else { return }
                        let opened = self.state.withLock { $0.held - $0.opening > 0 }
                        self.fail(waiter: id, with: self.timeoutError(opened))
                    }
                    let enqueued = state.withLock { state -> Bool in
                        guard !state.shutDown else { return false }
                        state.waiters.append(Waiter(id: id, continuation: continuation, timer: timer))
                        return true
                    }
                    if !enqueued {
                        timer.cancel()
                        continuation.resume(throwing: StrataError(.databaseUnavailable, "The database pool is shut down."))
                        return
                    }
                    if Task.isCancelled { fail(waiter: id, with: CancellationError()) }
                    // A connection may have come back between the first look and the enqueue.
                    serveWaiters()
                    if openHolder { startHolder() }
                }
            } onCancel: {
                fail(waiter: id, with: CancellationError())
            }
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

    /// Leases one connection from `PostgresClient` and parks until the cache gives it back.
    private func startHolder() {
        Task {
            do {
                try await client.withConnection { connection in
                    await withCheckedContinuation { giveBack in
                        self.admit(connection, giveBack: giveBack)
                    }
                }
            } catch {
                // The client is shutting down or gave up; the slot is free again.
                state.withLock { state in
                    state.held -= 1
                    state.opening -= 1
                }
                logger.debug("could not open a database connection", metadata: ["strata.error": "\(error)"])
            }
        }
    }

    /// A connection a holder just leased joins the cache.
    private func admit(_ connection: PostgresConnection, giveBack: CheckedContinuation<Void, Never>) {
        let now = ContinuousClock.now
        let (bornAt, isNew) = state.withLock { state in
            state.opening -= 1
            state.leased += 1
            if let known = state.firstSeen[connection.id] { return (known, false) }
            state.firstSeen[connection.id] = now
            return (now, true)
        }
        if isNew {
            let id = connection.id
            connection.closeFuture.whenComplete { [weak self] _ in
                guard let self else { return }
                let counts = self.state.withLock { state in
                    state.firstSeen[id] = nil
                    return (state.leased, state.firstSeen.count)
                }
                self.onChange(counts.0, counts.1)
            }
        }
        release(Entry(connection: connection, executor: ConnectionExecutor(connection.eventLoop), giveBack: giveBack, bornAt: bornAt))
    }

    // MARK: Release

    /// Returns a connection: to a waiter, to the idle stack, or to `PostgresClient`.
    func release(_ entry: Entry) {
        let tooOld = recycleAfter.map { entry.bornAt.duration(to: .now) > $0 } ?? false
        if tooOld || entry.connection.isClosed {
            if tooOld && !entry.connection.isClosed {
                logger.debug("recycling database connection", metadata: ["strata.db.connection": "\(entry.connection.id)"])
                let closing: EventLoopFuture<Void> = entry.connection.close()
                _ = closing
            }
            let openHolder = state.withLock { state -> Bool in
                state.leased -= 1
                state.held -= 1
                guard !state.shutDown, !state.waiters.isEmpty, state.held < maximum else { return false }
                state.held += 1
                state.opening += 1
                return true
            }
            entry.giveBack.resume()
            if openHolder { startHolder() }
            return
        }
        enum Outcome {
            case handOver(Waiter)
            case keep
            case giveBack
        }
        let (outcome, counts) = state.withLock { state -> (Outcome, Counts) in
            if !state.shutDown, !state.waiters.isEmpty {
                return (.handOver(state.waiters.removeFirst()), state.counts)
            }
            state.leased -= 1
            if state.shutDown || state.idle.count >= keepIdle {
                state.held -= 1
                return (.giveBack, state.counts)
            }
            state.idle.append(entry)
            return (.keep, state.counts)
        }
        switch outcome {
        case .handOver(let waiter):
            waiter.timer?.cancel()
            waiter.continuation.resume(returning: entry)
        case .keep:
            break
        case .giveBack:
            entry.giveBack.resume()
        }
        report(counts)
    }

    /// Leased and open connections at one moment, read under the lock that changed them.
    private struct Counts {
        var leased: Int
        var open: Int
    }

    private func report(_ counts: Counts) {
        onChange(counts.leased, counts.open)
    }

    /// Hands idle connections to waiters (after a waiter joined the queue).
    private func serveWaiters() {
        while true {
            let pair = state.withLock { state -> (Waiter, Entry)? in
                guard !state.waiters.isEmpty, let entry = state.idle.popLast() else { return nil }
                state.leased += 1
                return (state.waiters.removeFirst(), entry)
            }
            guard let (waiter, entry) = pair else { return }
            waiter.timer?.cancel()
            waiter.continuation.resume(returning: entry)
        }
    }

    // MARK: Shutdown

    /// Gives every idle connection back and fails every waiter; later releases give back too.
    func shutDown() {
        let (idle, waiters) = state.withLock { state -> ([Entry], [Waiter]) in
            state.shutDown = true
            let idle = state.idle
            state.held -= idle.count
            state.idle = []
            let waiters = state.waiters
            state.waiters = []
            return (idle, waiters)
        }
        for entry in idle { entry.giveBack.resume() }
        for waiter in waiters {
            waiter.timer?.cancel()
            waiter.continuation.resume(throwing: StrataError(.databaseUnavailable, "The database pool is shutting down."))
        }
    }
}
