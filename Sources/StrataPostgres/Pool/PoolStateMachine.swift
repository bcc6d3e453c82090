import StrataCore

/// What the pool's rules need to know of a connection.
protocol PooledConnection: AnyObject {
    /// Whether the connection has closed (the server or the network ended it).
    var isClosed: Bool { get }
    /// When it was opened, for the recycle age.
    var bornAt: ContinuousClock.Instant { get }
}

/// The rules of ``ConnectionPool`` with no I/O: every event (an acquire, a release, a
/// connection opened, closed or refused, a timer) changes the state and returns what the pool
/// must do — lease, hand over, close, open, fail a waiter, schedule or cancel a timer. The pool
/// holds it under one lock and carries the actions out after the lock is released; tests drive
/// it directly.
///
/// Generic over the connection, the waiter (what resumes a caller: a continuation in the pool,
/// a name in tests) and the timer handle (a scheduled task in the pool), which it only stores.
struct PoolStateMachine<Connection: PooledConnection, Waiter, Timer> {
    /// The pool's limits.
    struct Limits {
        /// Connections open or opening at most.
        var maximum: Int
        /// Idle connections kept at most; more are closed when released.
        var keepIdle: Int
        /// Connections older than this are closed when released.
        var recycleAfter: Duration?
        /// The wait before each probe connection while the database cannot be reached.
        var probeBackoff: Backoff = Backoff(initial: .milliseconds(100), maximum: .seconds(1))
    }

    /// Leased and open connections at one moment.
    struct Counts: Equatable {
        var leased: Int
        var open: Int
    }

    /// A caller waiting for a connection, with the timer that ends its wait.
    struct Queued {
        let id: Int
        let waiter: Waiter
        var timer: Timer?
    }

    /// Why connections cannot be opened, since when, and the probe scheduled.
    struct Outage {
        let since: ContinuousClock.Instant
        var lastError: any Error
        var failedAttempts: Int
        var probe: Timer?
    }

    let limits: Limits
    private(set) var idle: [Connection] = []
    /// Connections opened and not yet closed (idle, leased, or closing).
    private(set) var open = 0
    private(set) var opening = 0
    private(set) var leased = 0
    private(set) var queue: [Queued] = []
    private var lastWaiterID = 0
    private(set) var outage: Outage?
    private(set) var isShutDown = false

    init(limits: Limits) {
        self.limits = limits
    }

    var counts: Counts { Counts(leased: leased, open: open) }

    // MARK: Acquire

    /// What an acquire gets at once.
    enum AcquireStep {
        /// An idle connection, now leased.
        case lease(Connection, Counts)
        /// Nothing idle: wait, under this id (``enqueue(_:id:preferring:)`` queues the waiter).
        case wait(id: Int)
        /// Nothing idle and the database cannot be reached.
        case unavailable(any Error)
        case shutDown
    }

    /// Leases an idle connection — one for which `preferred` is true first (the caller's event
    /// loop) — or says why not.
    mutating func acquire(preferring preferred: (Connection) -> Bool) -> AcquireStep {
        switch takeIdle(preferring: preferred) {
        case .some(.success(let connection)): return .lease(connection, counts)
        case .some(.failure(let refusal)): return refusal == .shutDown ? .shutDown : .unavailable(outage!.lastError)
        case .none:
            lastWaiterID += 1
            return .wait(id: lastWaiterID)
        }
    }

    /// What became of a waiter being queued.
    enum EnqueueStep {
        /// A connection came free since ``acquire(preferring:)``: it is leased instead.
        case lease(Connection, Counts)
        /// Queued; open one connection for it when `openConnection`.
        case queued(openConnection: Bool)
        case unavailable(any Error)
        case shutDown
    }

    /// Queues a waiter, looking at the idle connections again first: one may have come back
    /// since ``acquire(preferring:)``, and the decision to open a connection counts every waiter.
    mutating func enqueue(_ waiter: Waiter, id: Int, preferring preferred: (Connection) -> Bool) -> EnqueueStep {
        switch takeIdle(preferring: preferred) {
        case .some(.success(let connection)): return .lease(connection, counts)
        case .some(.failure(let refusal)): return refusal == .shutDown ? .shutDown : .unavailable(outage!.lastError)
        case .none:
            queue.append(Queued(id: id, waiter: waiter))
            return .queued(openConnection: reserveConnectionForWaiter())
        }
    }

    /// Keeps the timer of a queued waiter; false when the waiter is gone already (the caller
    /// cancels the timer).
    mutating func timerScheduled(_ timer: Timer, forWaiter id: Int) -> Bool {
        guard let index = queue.firstIndex(where: { $0.id == id }) else { return false }
        queue[index].timer = timer
        return true
    }

    /// Why a wait ran out.
    enum TimeoutReason {
        /// Connections are open and all leased.
        case busy
        /// No connection could be opened; nothing is open.
        case noConnection
        /// The database cannot be reached.
        case unavailable(any Error)
    }

    /// A waiter's timer fired: the waiter leaves the queue, with the reason to give it.
    mutating func waiterTimedOut(id: Int) -> (Queued, TimeoutReason)? {
        guard let index = queue.firstIndex(where: { $0.id == id }) else { return nil }
        let reason: TimeoutReason = outage.map { .unavailable($0.lastError) } ?? (open > 0 ? .busy : .noConnection)
        return (queue.remove(at: index), reason)
    }

    /// A waiter's task was cancelled: it leaves the queue (its timer is to be cancelled).
    mutating func waiterCancelled(id: Int) -> Queued? {
        guard let index = queue.firstIndex(where: { $0.id == id }) else { return nil }
        return queue.remove(at: index)
    }

    // MARK: Connecting

    /// What to do with a connection just opened.
    enum OpenedAction {
        /// Give it to this waiter (leased).
        case handOver(Queued)
        /// It is idle now.
        case keep
        /// Close it: shut down, or more idle connections than kept.
        case close
    }

    /// A connection opened: it goes to the oldest waiter, the idle stack, or is closed. A
    /// connection ends any outage; `recovered` is the outage it ended (its probe to cancel).
    mutating func connectionOpened(_ connection: Connection) -> (action: OpenedAction, recovered: Outage?, counts: Counts) {
        opening -= 1
        open += 1
        let recovered = outage
        outage = nil
        if isShutDown { return (.close, recovered, counts) }
        if !queue.isEmpty {
            leased += 1
            return (.handOver(queue.removeFirst()), recovered, counts)
        }
        if idle.count >= limits.keepIdle { return (.close, recovered, counts) }
        idle.append(connection)
        return (.keep, recovered, counts)
    }

    /// A connection closed (wherever it was): a slot is free, so waiters may have connections
    /// opened. Returns how many to open.
    mutating func connectionClosed(_ connection: Connection) -> (counts: Counts, openConnections: Int) {
        open -= 1
        idle.removeAll { $0 === connection }
        var toOpen = 0
        while !queue.isEmpty, reserveConnectionForWaiter() { toOpen += 1 }
        return (counts, toOpen)
    }

    /// What follows a connection that could not be opened.
    struct ConnectFailure {
        /// The outage begins with this failure (log it once).
        var outageStarted: Bool
        /// Every waiter, to be turned away with the database's error.
        var turnedAway: [Queued]
        /// Schedule the next probe after this delay.
        var probeAfter: Duration?
    }

    /// A connection could not be opened: the breaker opens (or stays open), waiters are turned
    /// away, and one probe is scheduled once no other attempt is under way.
    mutating func connectFailed(_ error: any Error, now: ContinuousClock.Instant) -> ConnectFailure {
        opening -= 1
        guard !isShutDown else { return ConnectFailure(outageStarted: false, turnedAway: [], probeAfter: nil) }
        let started = outage == nil
        if started {
            outage = Outage(since: now, lastError: error, failedAttempts: 1)
        } else {
            outage!.lastError = error
            outage!.failedAttempts += 1
        }
        let turnedAway = queue
        queue = []
        guard opening == 0, outage!.probe == nil else { return ConnectFailure(outageStarted: started, turnedAway: turnedAway, probeAfter: nil) }
        return ConnectFailure(
            outageStarted: started,
            turnedAway: turnedAway,
            probeAfter: limits.probeBackoff.delay(afterFailures: outage!.failedAttempts)
        )
    }

    /// Keeps the probe's timer; false when it is not wanted any more (the caller cancels it).
    mutating func probeScheduled(_ timer: Timer) -> Bool {
        guard !isShutDown, outage != nil, outage!.probe == nil else { return false }
        outage!.probe = timer
        return true
    }

    /// The probe's timer fired: whether to open the probe connection now.
    mutating func probeFired() -> Bool {
        guard !isShutDown, outage != nil else { return false }
        outage!.probe = nil
        guard opening == 0 else { return false }
        opening += 1
        return true
    }

    // MARK: Release

    /// What to do with a connection given back.
    enum ReleaseAction {
        /// Give it to this waiter (it stays leased).
        case handOver(Queued)
        /// It is idle now.
        case keep
        /// Close it (shut down, or more idle connections than kept).
        case close
        /// Close it: older than the recycle age.
        case recycle
        /// It closed already: nothing to do but count it.
        case drop
    }

    /// A connection given back: to the oldest waiter, to the idle stack, or closed.
    mutating func release(_ connection: Connection, now: ContinuousClock.Instant) -> (ReleaseAction, Counts) {
        let tooOld = limits.recycleAfter.map { connection.bornAt.duration(to: now) > $0 } ?? false
        if connection.isClosed || tooOld {
            leased -= 1
            return (connection.isClosed ? .drop : .recycle, counts)
        }
        if !isShutDown, !queue.isEmpty { return (.handOver(queue.removeFirst()), counts) }
        leased -= 1
        if isShutDown || idle.count >= limits.keepIdle { return (.close, counts) }
        idle.append(connection)
        return (.keep, counts)
    }

    // MARK: Shutdown

    /// The pool shuts down: idle connections to close, waiters to fail, the probe to cancel.
    /// Later acquires fail and later releases close.
    mutating func shutDown() -> (idle: [Connection], turnedAway: [Queued], probe: Timer?) {
        isShutDown = true
        defer {
            idle = []
            queue = []
        }
        return (idle, queue, outage?.probe)
    }

    // MARK: Rules

    private enum Refusal: Error {
        case shutDown
        case unavailable
    }

    /// An idle connection (skipping closed ones, which their close counted out already), or
    /// why none can be had; nil to wait.
    private mutating func takeIdle(preferring preferred: (Connection) -> Bool) -> Result<Connection, Refusal>? {
        if isShutDown { return .failure(.shutDown) }
        if let local = idle.lastIndex(where: { preferred($0) && !$0.isClosed }) {
            leased += 1
            return .success(idle.remove(at: local))
        }
        while let connection = idle.popLast() {
            if connection.isClosed { continue }
            leased += 1
            return .success(connection)
        }
        if outage != nil { return .failure(.unavailable) }
        return nil
    }

    /// Whether a waiter should have a connection opened for it: not during an outage, within
    /// the maximum, and fewer opening than waiting.
    private mutating func reserveConnectionForWaiter() -> Bool {
        guard outage == nil, open + opening < limits.maximum, opening < queue.count else { return false }
        opening += 1
        return true
    }
}

extension PoolStateMachine.Queued: Sendable where Waiter: Sendable, Timer: Sendable {}
extension PoolStateMachine.Outage: Sendable where Timer: Sendable {}
extension PoolStateMachine.ConnectFailure: Sendable where Waiter: Sendable, Timer: Sendable {}
