import Foundation
import Logging
import PostgresNIO
public import ServiceLifecycle
import StrataCore
import StrataPostgres

/// A worker's row in `simjobs.workers`: written at start, refreshed every heartbeat interval
/// with the GPUs busy now and, when the worker has a ``GPUProbe``, their readings (memory,
/// temperature, utilisation); marked stopped on a clean shutdown. `GET /api/simjobs/workers`
/// reads it; a worker not seen for three intervals is offline.
public struct WorkerPresence: Service {
    let pool: PostgresPool
    let name: String
    let slots: GPUSlots
    let probe: GPUProbe?
    let interval: Duration
    let logger: Logger

    init(pool: PostgresPool, name: String, slots: GPUSlots, probe: GPUProbe?, interval: Duration, logger: Logger) {
        self.pool = pool
        self.name = name
        self.slots = slots
        self.probe = probe
        self.interval = interval
        self.logger = logger
    }

    /// The probe's readings as JSON, or nil without a probe or when it failed (logged once per
    /// run of failures).
    private func readGPUs(failing: inout Bool) async -> String? {
        guard let probe else { return nil }
        do {
            let readings = try await probe.read(gpus: slots.all)
            if failing { logger.notice("the GPU probe works again") }
            failing = false
            return String(decoding: try JSONEncoder.api().encode(readings), as: UTF8.self)
        } catch {
            if !failing { logger.warning("the GPU probe failed; GPU readings are not updated", metadata: ["strata.error": "\(error)"]) }
            failing = true
            return nil
        }
    }

    public func run() async {
        let started = Date()
        let gpus = slots.all.map(Int16.init)
        let seconds = Int32(max(1, interval.milliseconds / 1000))
        let host = ProcessInfo.processInfo.hostName
        let pid = Int32(ProcessInfo.processInfo.processIdentifier)
        var probeFailing = false
        var announced = false
        let systemLog = SystemLog(pool: pool)
        await repeatUntilShutdown(every: interval) { _ in
            let busy = await slots.busy.map(Int16.init)
            let readings = await readGPUs(failing: &probeFailing)
            do {
                // Without a reading this beat, the last ones stay (with their time) within the
                // same run of the worker; a new run starts with none.
                try await pool.query(
                    """
                    INSERT INTO simjobs.workers (name, hostname, pid, gpus, busy_gpus, heartbeat_seconds, started_at, gpu_readings, gpu_readings_at)
                    VALUES (\(name), \(host), \(pid), \(gpus), \(busy), \(seconds), \(started),
                            coalesce(\(readings)::jsonb, '[]'), CASE WHEN \(readings)::jsonb IS NOT NULL THEN now() END)
                    ON CONFLICT (name) DO UPDATE
                    SET hostname = EXCLUDED.hostname, pid = EXCLUDED.pid, gpus = EXCLUDED.gpus, busy_gpus = EXCLUDED.busy_gpus,
                        heartbeat_seconds = EXCLUDED.heartbeat_seconds, started_at = EXCLUDED.started_at,
                        last_seen_at = now(), stopped_at = NULL,
                        gpu_readings = CASE WHEN EXCLUDED.gpu_readings_at IS NOT NULL OR workers.started_at <> EXCLUDED.started_at
                                            THEN EXCLUDED.gpu_readings ELSE workers.gpu_readings END,
                        gpu_readings_at = CASE WHEN EXCLUDED.gpu_readings_at IS NOT NULL OR workers.started_at <> EXCLUDED.started_at
                                               THEN EXCLUDED.gpu_readings_at ELSE workers.gpu_readings_at END
                    """
                )
                if !announced {
                    announced = true
                    await systemLog.record(
                        "INFO",
                        .worker,
                        "Worker \(name) started on \(host) (pid \(pid)) with GPUs \(slots.all.map(String.init).joined(separator: ",")).",
                        loggerName: "simjobs.workers"
                    )
                }
            } catch {
                logger.debug("worker presence not written; retrying", metadata: ["strata.error": "\(error)"])
            }
        }
        _ = try? await pool.query("UPDATE simjobs.workers SET stopped_at = now(), busy_gpus = '{}' WHERE name = \(name)")
        await systemLog.record("INFO", .worker, "Worker \(name) stopped.", loggerName: "simjobs.workers")
    }
}
