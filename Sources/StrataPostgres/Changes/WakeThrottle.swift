import StrataCore
import Synchronization

/// Decides whether a write should `NOTIFY` the listeners it concerns: at most once per
/// ``window`` per process for each subject (the outbox relay; each job queue).
///
/// A `NOTIFY` per transaction is expensive: PostgreSQL serialises the commits of transactions
/// that notify (one queue lock, held through the commit's WAL flush), so writers that all notify
/// commit one at a time instead of together. One notification wakes an idle listener, and a
/// listener that found work keeps polling at a short interval for a while (the relay's
/// `activePollInterval` and `activePeriod`, the job worker's likewise: far shorter than, and far
/// longer than, this window), so writes in between are picked up without one. A listener that
/// is neither woken nor busy finds them at its regular poll.
final class WakeThrottle: Sendable {
    /// The outbox relay's wake-ups (``OutboxWriter/channel``).
    static let relay = WakeThrottle()
    /// The job queues' wake-ups (``JobQueue/channel``), one subject per queue.
    static let jobs = WakeThrottle()

    /// The shortest time between two notifying writes of one subject in this process.
    static let window: Duration = .milliseconds(50)
    private static let start = ContinuousClock.now

    /// When each subject was last notified (nanoseconds since ``start``).
    private let notified = Mutex<[String: Int64]>([:])

    private init() {}

    /// Whether a write concerning `subject` should notify (and, if so, records that it does).
    func claim(_ subject: String = "") -> Bool {
        let now = Self.start.duration(to: .now).nanoseconds
        return notified.withLock { notified in
            if let previous = notified[subject], now - previous < Self.window.nanoseconds { return false }
            notified[subject] = now
            return true
        }
    }
}
