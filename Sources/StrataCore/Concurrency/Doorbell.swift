import Dispatch
import Synchronization

/// Wakes one waiting loop early: a background service waits on it with a timeout (its polling
/// interval) and anything that knows there is work rings it.
///
/// A ring with nobody waiting is remembered (once), so a ring between two waits is not lost.
///
/// ```swift
/// while !Task.isCancelled {
///     try await relayWaitingEvents()
///     await doorbell.wait(timeout: .seconds(1))  // a NOTIFY rings it sooner
/// }
/// ```
public final class Doorbell: Sendable {
    private struct State {
        var rung = false
        var waiter: (id: UInt64, continuation: CheckedContinuation<Void, Never>)?
        var nextID: UInt64 = 0
    }

    private let state = Mutex(State())

    public init() {}

    /// Wakes the waiter, or makes the next ``wait(timeout:)`` return at once.
    public func ring() {
        let continuation = state.withLock { state -> CheckedContinuation<Void, Never>? in
            guard let waiter = state.waiter else {
                state.rung = true
                return nil
            }
            state.waiter = nil
            return waiter.continuation
        }
        continuation?.resume()
    }

    /// Returns when the bell rings, when `timeout` has passed, or soon after the task is
    /// cancelled. One waiter at a time.
    public func wait(timeout: Duration) async {
        let id = state.withLock { state -> UInt64? in
            if state.rung {
                state.rung = false
                return nil
            }
            state.nextID += 1
            return state.nextID
        }
        guard let id else { return }
        // A dispatch timer, not a sleeping task: cancelling it releases it at once, where a
        // cancelled `Task.sleep` keeps its task in memory until the deadline, one per early
        // ring (an SSE subscriber woken by every event would keep seconds' worth of them).
        let timer = DispatchSource.makeTimerSource(queue: Self.timers)
        timer.setEventHandler { [weak self] in self?.resume(id) }
        timer.schedule(deadline: .now() + .nanoseconds(Int(clamping: max(0, timeout.nanoseconds))))
        timer.activate()
        await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                let ringsNow = state.withLock { state -> Bool in
                    if state.rung {
                        state.rung = false
                        return true
                    }
                    state.waiter = (id, continuation)
                    return false
                }
                if ringsNow || Task.isCancelled { resume(id, orNow: ringsNow ? continuation : nil) }
            }
        } onCancel: {
            resume(id)
        }
        timer.cancel()
    }

    /// Where every doorbell's timers fire; their handlers only resume a continuation.
    private static let timers = DispatchQueue(label: "strata.doorbell.timers")

    private func resume(_ id: UInt64, orNow continuation: CheckedContinuation<Void, Never>? = nil) {
        if let continuation {
            continuation.resume()
            return
        }
        let waiting = state.withLock { state -> CheckedContinuation<Void, Never>? in
            guard let waiter = state.waiter, waiter.id == id else { return nil }
            state.waiter = nil
            return waiter.continuation
        }
        waiting?.resume()
    }
}
