import Metrics
import StrataCore

/// The pool's Prometheus series.
///
/// - `strata_db_pool_connections{state="leased"|"idle"}`: connections by state (gauge)
/// - `strata_db_pool_connections_max`: the configured maximum (gauge)
/// - `strata_db_pool_acquire_wait_seconds`: time from asking to holding a connection (histogram)
/// - `strata_db_pool_acquire_timeouts_total`: callers that gave up with `database_busy` (counter)
struct PoolMetrics: Sendable {
    let leased = Gauge(label: "strata_db_pool_connections", dimensions: [("state", "leased")])
    let idle = Gauge(label: "strata_db_pool_connections", dimensions: [("state", "idle")])
    let maximum = Gauge(label: "strata_db_pool_connections_max")
    let acquireWait = Metrics.Timer(label: "strata_db_pool_acquire_wait_seconds", preferredDisplayUnit: .seconds)
    let acquireTimeouts = Counter(label: "strata_db_pool_acquire_timeouts_total")

    init(maximum: Int) {
        self.maximum.record(maximum)
        leased.record(0)
        idle.record(0)
    }

    func recordAcquired(after wait: Duration) {
        acquireWait.recordNanoseconds(wait.nanoseconds)
    }

    func record(leased: Int, open: Int) {
        self.leased.record(leased)
        idle.record(max(0, open - leased))
    }
}
