public import StrataPostgres
public import StrataRedis

/// Reads one app's events in order from a position on: first from the outbox (catch-up, and
/// anything a trimmed stream no longer holds), then from the Redis stream.
///
/// ```swift
/// var feed = EventFeed(app: "workorders", aggregateID: nil, after: lastEventID, store: store, redis: redis, streams: streams)
/// while true {
///     for event in try await feed.next() { send(event) }
///     await subscription.doorbell.wait(timeout: heartbeat)
/// }
/// ```
public struct EventFeed: Sendable {
    /// The app read.
    public let app: String
    /// Only this aggregate's events, when set.
    public let aggregateID: String?
    /// The position of the last event returned (or skipped by the filter).
    public private(set) var position: Int64
    let store: OutboxStore
    let redis: RedisClient?
    let streams: EventStreams
    let batchSize: Int
    private var caughtUp = false

    /// Creates a feed.
    /// - Parameters:
    ///   - after: The position to read after (a client's `Last-Event-ID`); `nil` starts with
    ///     what is published from now on.
    public init(
        app: String,
        aggregateID: String? = nil,
        after: Int64?,
        store: OutboxStore,
        redis: RedisClient?,
        streams: EventStreams,
        batchSize: Int = 500
    ) async throws {
        self.app = app
        self.aggregateID = aggregateID
        self.store = store
        self.redis = redis
        self.streams = streams
        self.batchSize = batchSize
        if let after {
            self.position = after
        } else {
            self.position = try await store.publishedSequence()
        }
    }

    /// The next events after ``position``, oldest first; empty when there are none yet.
    public mutating func next() async throws -> [LiveEvent] {
        if !caughtUp || redis == nil {
            let records = try await store.published(app: app, after: position, aggregateID: aggregateID, limit: batchSize)
            if let last = records.last?.sequence { position = last }
            if records.count == batchSize { return records.compactMap(LiveEvent.init(record:)) }
            caughtUp = true
            if !records.isEmpty || redis == nil { return records.compactMap(LiveEvent.init(record:)) }
        }
        guard let redis else { return [] }
        do {
            let entries = try await redis.streamRange(
                streams.key(for: app),
                from: "(" + EventStreams.entryID(of: position),
                to: "+",
                count: batchSize
            )
            var events: [LiveEvent] = []
            for entry in entries {
                guard let live = LiveEvent(entry: entry, app: app) else { continue }
                position = max(position, live.sequence)
                if aggregateID == nil || live.event.aggregateID == aggregateID { events.append(live) }
            }
            return events
        } catch {
            // Redis unavailable: serve what PostgreSQL has (the relay marks nothing published
            // while Redis is down, so this is only a slower path, never a gap).
            caughtUp = false
            let records = try await store.published(app: app, after: position, aggregateID: aggregateID, limit: batchSize)
            if let last = records.last?.sequence { position = last }
            return records.compactMap(LiveEvent.init(record:))
        }
    }
}
