public import Logging
public import ServiceLifecycle
import StrataCore
public import StrataHTTP
public import StrataPostgres

/// Keeps the embedded cluster for the group's lifetime and stops it when the group ends.
/// First in the group, so it stops last.
public struct EmbeddedClusterService: Service {
    let cluster: EmbeddedCluster

    public init(cluster: EmbeddedCluster) {
        self.cluster = cluster
    }

    public func run() async throws {
        try? await gracefulShutdown()
        await cluster.stop()
    }
}

/// On shutdown, turns `/ready` to 503 and waits `delay` before the HTTP listener closes, so
/// that load balancers stop routing first. Last in the group, so it is told first.
public struct ReadinessDrainService: Service {
    let readiness: Readiness
    let delay: Duration
    let logger: Logger

    public init(readiness: Readiness, delay: Duration, logger: Logger) {
        self.readiness = readiness
        self.delay = delay
        self.logger = logger
    }

    public func run() async throws {
        do {
            try await gracefulShutdown()
        } catch {
            return
        }
        readiness.beginDraining()
        logger.notice("shutting down: /ready now answers 503", metadata: ["strata.drain_ms": "\(delay.milliseconds)"])
        try? await Task.sleep(for: delay)
    }
}
