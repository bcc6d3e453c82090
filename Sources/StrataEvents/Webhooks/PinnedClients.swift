import AsyncHTTPClient
import Synchronization

/// The deliverer's HTTP clients, one per ``OutboundTarget``: a client connects its target's
/// name to the address the policy checked (async-http-client's `dnsOverride`; the name still
/// goes in `Host` and in TLS's server name and certificate check), and never resolves the name
/// itself. Deliveries to the same receiver share its client and so its open connections; a name
/// that answers a new address gets a new client. No client follows redirects (a redirect could
/// lead past the policy; a 3xx answer counts as a refusal and is retried).
///
/// Bounded: past ``capacity`` clients, the least recently used idle ones are shut down.
final class PinnedClients: Sendable {
    private struct Entry {
        let client: HTTPClient
        var users: Int
        var lastUsed: ContinuousClock.Instant
    }

    private let entries = Mutex<[OutboundTarget: Entry]>([:])
    /// The most clients kept while idle.
    let capacity: Int

    init(capacity: Int = 32) {
        self.capacity = max(1, capacity)
    }

    /// Runs `body` with the client for `target`, made on first use.
    func withClient<Result: Sendable>(for target: OutboundTarget, _ body: (HTTPClient) async throws -> Result) async throws -> Result {
        let client = entries.withLock { entries -> HTTPClient in
            if var entry = entries[target] {
                entry.users += 1
                entries[target] = entry
                return entry.client
            }
            var configuration = HTTPClient.Configuration(redirectConfiguration: .disallow)
            if let address = target.address { configuration.dnsOverride = [target.host: address] }
            let client = HTTPClient(eventLoopGroup: HTTPClient.defaultEventLoopGroup, configuration: configuration)
            entries[target] = Entry(client: client, users: 1, lastUsed: .now)
            return client
        }
        let result: Swift.Result<Result, any Error>
        do {
            result = .success(try await body(client))
        } catch {
            result = .failure(error)
        }
        for evicted in release(target) { try? await evicted.shutdown() }
        return try result.get()
    }

    /// Ends one use of `target`'s client. - Returns: the idle clients to shut down, oldest
    /// first, while more than ``capacity`` are kept.
    private func release(_ target: OutboundTarget) -> [HTTPClient] {
        entries.withLock { entries in
            entries[target]?.users -= 1
            entries[target]?.lastUsed = .now
            guard entries.count > capacity else { return [] }
            let idle = entries.filter { $0.value.users == 0 }.sorted { $0.value.lastUsed < $1.value.lastUsed }
            return idle.prefix(entries.count - capacity).map { key, entry in
                entries[key] = nil
                return entry.client
            }
        }
    }

    /// Shuts every client down and forgets it. The shared deliverer's clients live as long as
    /// the process; any other instance must be shut down before it goes (async-http-client
    /// traps on a client released unshut in debug builds).
    func shutdown() async {
        let all = entries.withLock { entries in
            defer { entries.removeAll() }
            return entries.values.map(\.client)
        }
        for client in all { try? await client.shutdown() }
    }

    /// Clients kept now (in use or idle).
    var count: Int { entries.withLock { $0.count } }
}
