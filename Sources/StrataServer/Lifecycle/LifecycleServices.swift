public import Logging
public import ServiceLifecycle
import StrataCore
public import StrataHTTP

/// Runs an action when the group shuts down (gracefully or by cancellation): stopping an
/// embedded server. Put it before the services that use the server, so that it runs after them.
public struct ShutdownAction: Service {
    let action: @Sendable () async -> Void

    public init(_ action: @escaping @Sendable () async -> Void) {
        self.action = action
    }

    public func run() async throws {
        try? await gracefulShutdown()
        await action()
    }
}

/// On shutdown, turns `/ready` to 503 and waits `delay` before the HTTP listener closes, so
/// that load balancers stop routing first; then stops new connections on `listener` and lets
/// the ones already accepted by the kernel reach the server (``HTTPListener``). Last in the
/// group, so it is told first.
public struct ReadinessDrainService: Service {
    let readiness: Readiness
    let delay: Duration
    let listener: HTTPListener?
    let logger: Logger

    public init(readiness: Readiness, delay: Duration, listener: HTTPListener? = nil, logger: Logger) {
        self.readiness = readiness
        self.delay = delay
        self.listener = listener
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
        await listener?.refuseNewConnections(logger: logger)
    }
}
