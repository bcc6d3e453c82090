/// Polls `condition` every 20 ms until it holds or `timeout` has passed, for tests that wait on
/// background work (workers, relays, heartbeats).
/// - Returns: Whether it held in time.
public func eventually(within timeout: Duration = .seconds(5), _ condition: () async throws -> Bool) async throws -> Bool {
    let deadline = ContinuousClock.now + timeout
    while true {
        if try await condition() { return true }
        guard ContinuousClock.now < deadline else { return false }
        try await Task.sleep(for: .milliseconds(20))
    }
}
