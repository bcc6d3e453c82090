public import Logging
public import ServiceLifecycle

// The platform's services (pools, job workers, relays) live from StrataPostgres up, so the
// helper that runs some of them around a piece of work lives here too.

/// Runs `services` in a service group while `body` runs, then shuts them down gracefully and
/// waits for them. An error of `body` wins over one of the services' shutdown.
///
/// ```swift
/// let figures = try await withRunningServices([worker], logger: logger) { try await measure() }
/// ```
public func withRunningServices<Result: Sendable>(
    _ services: [any Service],
    logger: Logger,
    _ body: () async throws -> Result
) async throws -> Result {
    let group = ServiceGroup(services: services, logger: logger)
    let running = Task { try await group.run() }
    let result: Result
    do {
        result = try await body()
    } catch {
        await group.triggerGracefulShutdown()
        _ = try? await running.value
        throw error
    }
    await group.triggerGracefulShutdown()
    try await running.value
    return result
}
