import StrataCore
import Testing

@testable import StrataPostgres

/// A connection as the rules see it.
final class FakeConnection: PooledConnection {
    let name: String
    var isClosed = false
    let bornAt: ContinuousClock.Instant

    init(_ name: String, bornAt: ContinuousClock.Instant) {
        self.name = name
        self.bornAt = bornAt
    }
}

/// ``PoolStateMachine`` with waiters named by strings and timers by numbers, and the steps
/// the pool takes around it.
struct PoolRulesHarness {
    typealias Rules = PoolStateMachine<FakeConnection, String, Int>

    let start = ContinuousClock.now
    var rules = Rules(
        limits: .init(
            maximum: 2,
            keepIdle: 1,
            recycleAfter: .seconds(60),
            probeBackoff: Backoff(initial: .milliseconds(100), maximum: .seconds(1), jitter: 1...1)
        )
    )

    static func none(_: FakeConnection) -> Bool { false }

    func connection(_ name: String, age: Duration = .zero) -> FakeConnection {
        FakeConnection(name, bornAt: start.advanced(by: .zero - age))
    }

    /// Acquires with nothing idle and queues `waiter`: its id, and whether a connection is to be
    /// opened for it.
    mutating func wait(_ waiter: String) -> (id: Int, openConnection: Bool) {
        guard case .wait(let id) = rules.acquire(preferring: Self.none) else {
            Issue.record("\(waiter) was expected to wait")
            return (0, false)
        }
        guard case .queued(let open) = rules.enqueue(waiter, id: id, preferring: Self.none) else {
            Issue.record("\(waiter) was expected to be queued")
            return (id, false)
        }
        return (id, open)
    }

    /// A connection the pool opened: who gets it (nil: kept idle or closed).
    mutating func opened(_ connection: FakeConnection) -> String? {
        guard case .handOver(let queued) = rules.connectionOpened(connection).action else { return nil }
        return queued.waiter
    }

    /// Gives a connection back: what the rules do with it.
    mutating func release(_ connection: FakeConnection) -> Rules.ReleaseAction {
        rules.release(connection, now: start).0
    }
}

/// The pool's rules with no database: every transition driven by hand.
@Suite struct PoolStateMachineTests {
    struct Refused: Error {}

    @Test func waitersHaveConnectionsOpenedUpToTheMaximumAndGetThemInOrder() {
        var pool = PoolRulesHarness()
        #expect(pool.wait("a").openConnection)
        #expect(pool.wait("b").openConnection)
        #expect(!pool.wait("c").openConnection, "two open or opening is the maximum")
        #expect(pool.rules.opening == 2 && pool.rules.queue.map(\.waiter) == ["a", "b", "c"])
        #expect(pool.opened(pool.connection("c1")) == "a")
        #expect(pool.opened(pool.connection("c2")) == "b")
        #expect(pool.rules.counts == .init(leased: 2, open: 2) && pool.rules.opening == 0)
        #expect(pool.rules.queue.map(\.waiter) == ["c"])
    }

    @Test func aReleasedConnectionGoesToTheOldestWaiterThenIdleThenCloses() {
        var pool = PoolRulesHarness()
        let (c1, c2) = (pool.connection("c1"), pool.connection("c2"))
        _ = pool.wait("a")
        _ = pool.opened(c1)
        _ = pool.wait("b")
        _ = pool.opened(c2)
        _ = pool.wait("c")
        guard case .handOver(let next) = pool.release(c1) else { return #expect(Bool(false)) }
        #expect(next.waiter == "c" && pool.rules.leased == 2, "handed over, still leased")
        guard case .keep = pool.release(c1) else { return #expect(Bool(false)) }
        #expect(pool.rules.idle.map(\.name) == ["c1"] && pool.rules.leased == 1)
        guard case .close = pool.release(c2) else { return #expect(Bool(false), "beyond keepIdle: closed") }
        #expect(pool.rules.leased == 0 && pool.rules.idle.count == 1)
    }

    @Test func acquireTakesAConnectionOnTheCallersLoopFirstAndSkipsClosedOnes() {
        var pool = PoolRulesHarness()
        pool.rules = .init(limits: .init(maximum: 4, keepIdle: 4, recycleAfter: nil))
        let (local, other, closed) = (pool.connection("local"), pool.connection("other"), pool.connection("closed"))
        for (index, connection) in [local, other, closed].enumerated() {
            _ = pool.wait("w\(index)")
            _ = pool.opened(connection)
        }
        for connection in [local, other, closed] { _ = pool.release(connection) }
        closed.isClosed = true
        guard case .lease(let preferred, _) = pool.rules.acquire(preferring: { $0 === local }) else { return #expect(Bool(false)) }
        #expect(preferred === local)
        guard case .lease(let next, let counts) = pool.rules.acquire(preferring: PoolRulesHarness.none) else {
            return #expect(Bool(false))
        }
        #expect(next === other, "the closed one on top of the stack is passed over")
        #expect(counts.leased == 2)
        guard case .wait = pool.rules.acquire(preferring: PoolRulesHarness.none) else { return #expect(Bool(false)) }
    }

    @Test func oldConnectionsAreRecycledAndClosedOnesDroppedOnRelease() {
        var pool = PoolRulesHarness()
        let old = pool.connection("old", age: .seconds(61))
        _ = pool.wait("a")
        _ = pool.opened(old)
        guard case .recycle = pool.release(old) else { return #expect(Bool(false)) }
        #expect(pool.rules.leased == 0 && pool.rules.idle.isEmpty)

        let dead = pool.connection("dead")
        _ = pool.wait("b")
        _ = pool.opened(dead)
        dead.isClosed = true
        guard case .drop = pool.release(dead) else { return #expect(Bool(false)) }
        #expect(pool.rules.leased == 0 && pool.rules.idle.isEmpty)
    }

    @Test func aWaitThatRunsOutSaysWhyAndACancelledOneLeavesWithItsTimer() {
        var pool = PoolRulesHarness()
        let a = pool.wait("a").id
        let timerKept = pool.rules.timerScheduled(7, forWaiter: a)
        #expect(timerKept)
        guard let (timedOut, reason) = pool.rules.waiterTimedOut(id: a) else { return #expect(Bool(false)) }
        #expect(timedOut.waiter == "a" && timedOut.timer == 7)
        guard case .noConnection = reason else { return #expect(Bool(false), "nothing open yet") }
        #expect(pool.rules.waiterTimedOut(id: a) == nil, "once")

        #expect(pool.opened(pool.connection("c1")) == nil, "nobody waits: kept idle")
        guard case .lease = pool.rules.acquire(preferring: PoolRulesHarness.none) else { return #expect(Bool(false)) }
        let d = pool.wait("d").id
        guard case .busy = pool.rules.waiterTimedOut(id: d)?.1 else { return #expect(Bool(false), "connections open, all leased") }

        let e = pool.wait("e").id
        let secondTimerKept = pool.rules.timerScheduled(9, forWaiter: e)
        #expect(secondTimerKept)
        #expect(pool.rules.waiterCancelled(id: e)?.timer == 9)
        #expect(pool.rules.waiterCancelled(id: e) == nil)
        let lateTimerKept = pool.rules.timerScheduled(10, forWaiter: e)
        #expect(!lateTimerKept, "a timer for a waiter gone is to be cancelled")
    }

    @Test func aFailedConnectOpensTheBreakerTurnsWaitersAwayAndOneProbeRecovers() {
        var pool = PoolRulesHarness()
        _ = pool.wait("a")
        _ = pool.wait("b")
        let first = pool.rules.connectFailed(Refused(), now: pool.start)
        #expect(first.outageStarted && first.turnedAway.map(\.waiter) == ["a", "b"])
        #expect(first.probeAfter == nil, "the other connect is still under way")
        let second = pool.rules.connectFailed(Refused(), now: pool.start)
        #expect(!second.outageStarted && second.turnedAway.isEmpty)
        #expect(second.probeAfter == .milliseconds(200), "the backoff doubles with each failure")
        guard case .unavailable = pool.rules.acquire(preferring: PoolRulesHarness.none) else {
            return #expect(Bool(false), "callers fail at once")
        }

        let probeKept = pool.rules.probeScheduled(1)
        #expect(probeKept)
        let secondProbeKept = pool.rules.probeScheduled(2)
        #expect(!secondProbeKept, "one probe at a time")
        #expect(pool.rules.probeFired() && pool.rules.opening == 1)
        #expect(pool.rules.connectFailed(Refused(), now: pool.start).probeAfter == .milliseconds(400))
        #expect(pool.rules.probeScheduled(3) && pool.rules.probeFired())

        let (action, recovered, counts) = pool.rules.connectionOpened(pool.connection("c1"))
        #expect(recovered?.failedAttempts == 3 && pool.rules.outage == nil)
        guard case .keep = action else { return #expect(Bool(false)) }
        #expect(counts == .init(leased: 0, open: 1))
        guard case .lease = pool.rules.acquire(preferring: PoolRulesHarness.none) else { return #expect(Bool(false)) }
    }

    @Test func aClosedConnectionFreesASlotForAWaiter() {
        var pool = PoolRulesHarness()
        let c1 = pool.connection("c1")
        _ = pool.wait("a")
        _ = pool.wait("b")
        #expect(pool.opened(c1) == "a")
        #expect(pool.opened(pool.connection("c2")) == "b")
        #expect(!pool.wait("c").openConnection, "full")
        let (counts, toOpen) = pool.rules.connectionClosed(c1)
        #expect(counts.open == 1 && toOpen == 1 && pool.rules.opening == 1)
    }

    @Test func shutDownHandsBackIdleConnectionsWaitersAndTheProbe() {
        var pool = PoolRulesHarness()
        let (c1, c2) = (pool.connection("c1"), pool.connection("c2"))
        _ = pool.wait("a")
        _ = pool.wait("b")
        _ = pool.opened(c1)
        _ = pool.opened(c2)
        _ = pool.wait("c")
        var idle = pool
        _ = idle.release(c1)  // to c
        _ = idle.release(c1)  // kept idle

        let withWaiters = pool.rules.shutDown()
        #expect(withWaiters.turnedAway.map(\.waiter) == ["c"] && withWaiters.idle.isEmpty)
        guard case .shutDown = pool.rules.acquire(preferring: PoolRulesHarness.none) else { return #expect(Bool(false)) }
        guard case .close = pool.release(c2) else { return #expect(Bool(false), "later releases close") }
        guard case .close = pool.rules.connectionOpened(pool.connection("late")).action else { return #expect(Bool(false)) }

        let withIdle = idle.rules.shutDown()
        #expect(withIdle.idle.map(\.name) == ["c1"] && withIdle.turnedAway.isEmpty)

        var probing = PoolRulesHarness()
        _ = probing.wait("a")
        #expect(probing.rules.connectFailed(Refused(), now: probing.start).probeAfter == .milliseconds(100))
        let probeKept = probing.rules.probeScheduled(5)
        #expect(probeKept)
        #expect(probing.rules.shutDown().probe == 5)
        let probeOpened = probing.rules.probeFired()
        #expect(!probeOpened, "no probe after shutdown")
    }
}
