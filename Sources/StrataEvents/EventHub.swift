public import Logging
public import ServiceLifecycle
public import StrataCore
public import StrataRedis
import Synchronization

/// Wakes the live readers of an app when its stream grows, so that thousands of open event
/// streams cost one blocking Redis read per process, not one poll each.
///
/// The hub reads every stream that has subscribers with one `XREAD BLOCK` on a connection of
/// its own and rings each subscriber's ``Doorbell`` when its app has new entries; subscribers
/// then read the entries themselves from their own position (``EventFeed``). The relay of the
/// same process also calls ``announce(apps:)`` after each round, which is all the waking there
/// is when the hot layer is disabled.
public final class EventHub: Service, Sendable {
    /// One subscriber's registration; ``EventHub/unsubscribe(_:)`` it when done.
    public struct Subscription: Sendable {
        let id: UInt64
        /// The app subscribed to.
        public let app: String
        /// Rings when the app has new events.
        public let doorbell: Doorbell
    }

    private struct State {
        var subscribers: [String: [UInt64: Doorbell]] = [:]
        var positions: [String: String] = [:]
        var nextID: UInt64 = 0
    }

    public let streams: EventStreams
    let reader: RedisClient?
    let block: Duration
    let logger: Logger
    private let state = Mutex(State())
    private let changed = Doorbell()

    /// Creates a hub.
    /// - Parameters:
    ///   - redis: The hot layer (the hub opens one connection of its own to the same server),
    ///     or `nil` when it is disabled.
    ///   - streams: Where events are published.
    ///   - block: The longest single blocking read; new subscriptions join after at most this.
    public init(redis: RedisClient?, streams: EventStreams = .init(), block: Duration = .milliseconds(500), logger: Logger) {
        self.streams = streams
        self.block = block
        self.logger = logger
        self.reader = redis.map { shared in
            var configuration = shared.configuration
            configuration.connections = 1
            configuration.clientName = shared.configuration.clientName + "-events"
            return RedisClient(configuration: configuration, logger: logger)
        }
    }

    /// Registers a subscriber of `app`.
    public func subscribe(app: String) -> Subscription {
        let doorbell = Doorbell()
        let (id, isNewApp) = state.withLock { state in
            state.nextID += 1
            let isNew = state.subscribers[app]?.isEmpty ?? true
            state.subscribers[app, default: [:]][state.nextID] = doorbell
            return (state.nextID, isNew)
        }
        if isNewApp { changed.ring() }
        return Subscription(id: id, app: app, doorbell: doorbell)
    }

    /// Removes a subscriber.
    public func unsubscribe(_ subscription: Subscription) {
        state.withLock { state in
            state.subscribers[subscription.app]?[subscription.id] = nil
            if state.subscribers[subscription.app]?.isEmpty == true {
                state.subscribers[subscription.app] = nil
                state.positions[subscription.app] = nil
            }
        }
    }

    /// Rings the subscribers of these apps (the local relay calls it after publishing).
    public func announce(apps: some Sequence<String>) {
        let doorbells = state.withLock { state in apps.flatMap { state.subscribers[$0].map { Array($0.values) } ?? [] } }
        for doorbell in doorbells { doorbell.ring() }
    }

    /// The number of subscribers, for metrics and tests.
    public var subscriberCount: Int {
        state.withLock { state in state.subscribers.values.reduce(0) { $0 + $1.count } }
    }

    /// Watches the streams until shut down.
    public func run() async throws {
        guard let reader else {
            try? await gracefulShutdown()
            return
        }
        await cancelWhenGracefulShutdown {
            await self.watch(with: reader)
        }
        await reader.close()
    }

    private func watch(with reader: RedisClient) async {
        while !Task.isCancelled {
            let apps = state.withLock { state in Array(state.subscribers.keys) }
            if apps.isEmpty {
                await changed.wait(timeout: .seconds(5))
                continue
            }
            do {
                var positions: [(stream: String, id: String)] = []
                var joined: [String] = []
                for app in apps {
                    let known = state.withLock { $0.positions[app] }
                    let id: String
                    if let known {
                        id = known
                    } else {
                        id = try await reader.streamLastEntryID(streams.key(for: app))
                        state.withLock { $0.positions[app] = id }
                        joined.append(app)
                    }
                    positions.append((streams.key(for: app), id))
                }
                // An app's first subscriber may have subscribed while the previous read was
                // blocked: what was published since then lies before the position just taken, so
                // its subscribers are rung once to read from their own positions.
                announce(apps: joined)
                let results = try await reader.streamRead(after: positions, count: 1000, block: block)
                var grown: [String] = []
                state.withLock { state in
                    for (stream, entries) in results {
                        guard let last = entries.last, stream.hasPrefix(streams.prefix) else { continue }
                        let app = String(stream.dropFirst(streams.prefix.count))
                        if state.subscribers[app] != nil { state.positions[app] = last.id }
                        grown.append(app)
                    }
                }
                announce(apps: grown)
            } catch {
                if Task.isCancelled { return }
                logger.debug("the event hub cannot read the streams; retrying", metadata: ["strata.error": "\(error)"])
                try? await Task.sleep(for: .seconds(1))
            }
        }
    }
}
