/// Polls `condition` every 20 ms until it holds or `timeout` has passed, for tests that wait on
/// background work (workers, relays, heartbeats). The default is generous because a shared,
/// loaded machine can stretch background work tenfold; a condition that holds returns at once.
/// - Returns: Whether it held in time.
public func eventually(within timeout: Duration = .seconds(30), _ condition: () async throws -> Bool) async throws -> Bool {
    let deadline = ContinuousClock.now + timeout
    while true {
        if try await condition() { return true }
        guard ContinuousClock.now < deadline else { return false }
        try await Task.sleep(for: .milliseconds(20))
    }
}
