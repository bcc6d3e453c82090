import Metrics
import StrataCore

/// The pool's Prometheus series.
///
/// - `strata_db_pool_connections{state="leased"|"idle"}`: connections by state (gauge)
/// - `strata_db_pool_connections_max`: the configured maximum (gauge)
/// - `strata_db_pool_acquire_wait_seconds`: time from asking to holding a connection (histogram)
/// - `strata_db_pool_acquire_timeouts_total`: callers turned away with `database_busy` or
///   `database_unavailable` (counter)
/// - `strata_db_available`: 1 while connections can be opened, 0 during an outage (gauge)
struct PoolMetrics: Sendable {
    let leased = Gauge(label: "strata_db_pool_connections", dimensions: [("state", "leased")])
    let idle = Gauge(label: "strata_db_pool_connections", dimensions: [("state", "idle")])
    let maximum = Gauge(label: "strata_db_pool_connections_max")
    let acquireWait = Metrics.Timer(label: "strata_db_pool_acquire_wait_seconds", preferredDisplayUnit: .seconds)
    let acquireTimeouts = Counter(label: "strata_db_pool_acquire_timeouts_total")
    let available = Gauge(label: "strata_db_available")

    init(maximum: Int) {
        self.maximum.record(maximum)
        leased.record(0)
        idle.record(0)
        available.record(1)
    }

    func recordAvailability(_ isAvailable: Bool) {
        available.record(isAvailable ? 1 : 0)
    }

    func recordAcquired(after wait: Duration) {
        acquireWait.recordNanoseconds(wait.nanoseconds)
    }

    func record(leased: Int, open: Int) {
        self.leased.record(leased)
        idle.record(max(0, open - leased))
    }
}
