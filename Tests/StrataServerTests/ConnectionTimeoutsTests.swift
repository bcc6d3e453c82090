import Foundation
import Testing

@testable import StrataServer

/// The connection timeouts' state machine on its own: every phase and its deadline.
@Suite struct ConnectionTimeoutsTests {
    let policy = HTTPConnectionPolicy(
        headerTimeout: .seconds(10),
        bodyTimeout: .seconds(5),
        keepAliveTimeout: .seconds(60),
        maxConnections: 10,
        drainAllowance: .seconds(2)
    )
    let start = ContinuousClock.now

    func at(_ seconds: Int) -> ContinuousClock.Instant { start.advanced(by: .seconds(seconds)) }

    /// A connection that answered one request, read and answered at second 1.
    func servedOnce() -> ConnectionTimeouts<ContinuousClock.Instant> {
        var state = ConnectionTimeouts(policy: policy, now: start)
        state.headReceived(now: at(1))
        state.endReceived(now: at(1))
        _ = state.responseHeadWritten()
        _ = state.responseEnded(now: at(1))
        return state
    }

    @Test func aSilentConnectionIsClosedAtTheHeaderTimeout() {
        var state = ConnectionTimeouts(policy: policy, now: start)
        #expect(state.deadline == at(10))
        #expect(state.timerFired(now: at(9)) == .wait)
        #expect(state.timerFired(now: at(10)) == .close(.headerTimeout))
    }

    @Test func aHeadThatStartsIsTimedFromItsFirstByteAndAnswered408() {
        var state = ConnectionTimeouts(policy: policy, now: start)
        state.headReceived(now: at(1))
        state.endReceived(now: at(1))
        #expect(state.deadline == nil, "answering: the handler's own time")
        #expect(state.responseHeadWritten() == .write)
        #expect(state.responseEnded(now: at(2)) == .write)
        #expect(state.deadline == at(62), "idle: the keep-alive timeout")
        state.bytesReceived(now: at(30))
        #expect(state.deadline == at(40), "a head under way: the header timeout from its first byte")
        state.bytesReceived(now: at(35))
        #expect(state.deadline == at(40), "more bytes of the same head do not extend it")
        #expect(state.timerFired(now: at(40)) == .answerTimeoutAndClose(.headerTimeout))
    }

    @Test func aBodyIsTimedBetweenItsParts() {
        var state = ConnectionTimeouts(policy: policy, now: start)
        state.headReceived(now: at(1))
        #expect(state.deadline == at(6))
        state.bodyReceived(now: at(4))
        #expect(state.deadline == at(9))
        #expect(state.timerFired(now: at(9)) == .answerTimeoutAndClose(.bodyTimeout))
    }

    @Test func aBodyTimeoutAfterTheAnswerStartedClosesWithoutA408() {
        var state = ConnectionTimeouts(policy: policy, now: start)
        state.headReceived(now: at(1))
        _ = state.responseHeadWritten()
        #expect(state.timerFired(now: at(6)) == .close(.bodyTimeout))
    }

    @Test func anIdleKeptAliveConnectionClosesAtItsTimeout() {
        var state = servedOnce()
        #expect(state.timerFired(now: at(60)) == .wait)
        #expect(state.timerFired(now: at(61)) == .close(.keepAliveTimeout))
    }

    @Test func aDrainClosesIdleConnectionsAndLetsRequestsFinishWithConnectionClose() {
        var idle = servedOnce()
        #expect(idle.drain(now: at(2)) == .close)

        var busy = ConnectionTimeouts(policy: policy, now: start)
        busy.headReceived(now: at(1))
        #expect(busy.drain(now: at(2)) == .finishRequest)
        busy.endReceived(now: at(3))
        #expect(busy.responseHeadWritten() == .writeClosing)
        #expect(busy.responseEnded(now: at(4)) == .writeAndClose)

        var fresh = ConnectionTimeouts(policy: policy, now: start)
        #expect(fresh.drain(now: at(1)) == .finishRequest, "accepted, its request may be on its way")
        #expect(fresh.deadline == at(3), "it gets the drain allowance")
        #expect(fresh.timerFired(now: at(3)) == .close(.shutdown))
    }
}
