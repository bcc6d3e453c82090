import StrataCore
import Synchronization

/// Decides whether an append should `NOTIFY` the relay: at most once per ``window`` per
/// process.
///
/// A `NOTIFY` per transaction is expensive: PostgreSQL serialises committing transactions that
/// notify (one queue lock), which cost a third of the append throughput with 8 writers. One
/// notification wakes the relay, and a relay that found events keeps polling every
/// `OutboxRelay.Configuration.activePollInterval` for `activePeriod` (both far shorter than,
/// and far longer than, this window), so appends in between are picked up without one.
enum RelayWakeUp {
    /// The shortest time between two notifying appends of this process.
    static let window: Duration = .milliseconds(50)
    private static let start = ContinuousClock.now
    private static let lastNotification = Atomic<Int64>(Int64.min / 2)

    /// Whether this append should notify (and, if so, records that it does).
    static func claim() -> Bool {
        let now = start.duration(to: .now).nanoseconds
        let previous = lastNotification.load(ordering: .relaxed)
        guard now - previous >= window.nanoseconds else { return false }
        return lastNotification.compareExchange(expected: previous, desired: now, ordering: .relaxed).exchanged
    }
}
