import Foundation
import Logging
import PostgresNIO
public import ServiceLifecycle
import StrataCore
import StrataPostgres

/// A worker's row in `simjobs.workers`: written at start, refreshed every heartbeat interval
/// with the GPUs busy now, marked stopped on a clean shutdown. `GET /api/simjobs/workers`
/// reads it; a worker not seen for three intervals is offline.
public struct WorkerPresence: Service {
    let pool: PostgresPool
    let name: String
    let slots: GPUSlots
    let interval: Duration
    let logger: Logger

    init(pool: PostgresPool, name: String, slots: GPUSlots, interval: Duration, logger: Logger) {
        self.pool = pool
        self.name = name
        self.slots = slots
        self.interval = interval
        self.logger = logger
    }

    public func run() async {
        let started = Date()
        let gpus = slots.all.map(Int16.init)
        let seconds = Int32(max(1, interval.milliseconds / 1000))
        let host = ProcessInfo.processInfo.hostName
        let pid = Int32(ProcessInfo.processInfo.processIdentifier)
        let stopping = Latch()
        let doorbell = Doorbell()
        await withGracefulShutdownHandler {
            while !Task.isCancelled && !stopping.isSet {
                let busy = await slots.busy.map(Int16.init)
                do {
                    try await pool.query(
                        """
                        INSERT INTO simjobs.workers (name, hostname, pid, gpus, busy_gpus, heartbeat_seconds, started_at)
                        VALUES (\(name), \(host), \(pid), \(gpus), \(busy), \(seconds), \(started))
                        ON CONFLICT (name) DO UPDATE
                        SET hostname = EXCLUDED.hostname, pid = EXCLUDED.pid, gpus = EXCLUDED.gpus, busy_gpus = EXCLUDED.busy_gpus,
                            heartbeat_seconds = EXCLUDED.heartbeat_seconds, started_at = EXCLUDED.started_at,
                            last_seen_at = now(), stopped_at = NULL
                        """
                    )
                } catch {
                    logger.debug("worker presence not written; retrying", metadata: ["strata.error": "\(error)"])
                }
                await doorbell.wait(timeout: interval)
            }
            _ = try? await pool.query("UPDATE simjobs.workers SET stopped_at = now(), busy_gpus = '{}' WHERE name = \(name)")
        } onGracefulShutdown: {
            stopping.set()
            doorbell.ring()
        }
    }
}
