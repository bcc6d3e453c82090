import Foundation
public import HTTPTypes
public import Hummingbird
import Logging
import NIOCore
import ServiceLifecycle
import StrataCore
public import StrataEvents
public import StrataPostgres
public import StrataRedis

/// `GET /api/events?app=A[&aggregate=ID]`: an app's events as Server-Sent Events (permission
/// `A.read`, or `events.read` for every app's).
///
/// - Each message is `id: <position>`, `event: <kind>`, `data: <JSON>` (``LiveEvent``).
/// - A client that reconnects with `Last-Event-ID` (or `?after=`) gets every event after that
///   position: from the outbox first, so a gap older than the stream's trim point is filled
///   from PostgreSQL within the replay window, then from the Redis stream.
/// - Without either, the stream starts with the next event.
/// - A comment line is sent every ``heartbeat`` so that proxies keep the connection open and
///   dead clients are noticed.
public struct EventsController: Sendable {
    let store: OutboxStore
    let redis: RedisClient?
    let hub: EventHub
    let streams: EventStreams
    let heartbeat: Duration

    public init(pool: PostgresPool, redis: RedisClient?, hub: EventHub, streams: EventStreams, heartbeat: Duration = .seconds(15)) {
        self.store = OutboxStore(pool: pool)
        self.redis = redis
        self.hub = hub
        self.streams = streams
        self.heartbeat = heartbeat
    }

    public func addRoutes(to router: any RouterMethods<StrataRequestContext>) {
        router.get("/api/events") { request, context in try await self.stream(request, context: context) }
        router.post("/api/strata/events/replay") { request, context in try await self.replay(request, context: context) }
    }

    struct ReplayRequest: Decodable {
        var app: String
        var from: Int64
    }

    struct ReplayResult: ResponseEncodable {
        var app: String
        var from: Int64
        var queued: Int
    }

    /// `POST /api/strata/events/replay {"app": A, "from": ID}` (permission `admin`): publishes an
    /// app's events again from an outbox id on, like `strata events replay`.
    func replay(_ request: Request, context: StrataRequestContext) async throws -> EditedResponse<ReplayResult> {
        try context.requirePermission("admin")
        let body = try await request.decodeJSON(as: ReplayRequest.self, context: context)
        guard body.from >= 1 else {
            throw StrataError(.invalidValue, "'from' must be an outbox id (1 or more).", details: ["field": "from"])
        }
        let queued = try await store.replay(app: body.app, fromID: body.from)
        return EditedResponse(status: .accepted, response: ReplayResult(app: body.app, from: body.from, queued: queued))
    }

    func stream(_ request: Request, context: StrataRequestContext) async throws -> Response {
        guard let app = request.uri.queryParameters["app"].map(String.init), OutboxEvent.isAppName(app) else {
            throw StrataError(.invalidValue, "Query parameter 'app' must name an app (lowercase letters, digits, _).", details: ["field": "app"])
        }
        // An app's events are its data: its read permission, or `events.read` for every app.
        if context.principal?.has("events.read") != true { try context.requirePermission("\(app).read") }
        // A caller limited to some rows reads its events where the app can tell them apart.
        if let principal = context.principal, !principal.permissions.contains("admin"), !principal.scopes.isEmpty {
            throw StrataError(
                .forbidden,
                "Your credential is limited to some rows; read their events from the app's own stream (such as /api/factory/events).",
                details: ["scope": principal.scopes.keys.sorted().joined(separator: ",")]
            )
        }
        let aggregateID = request.uri.queryParameters["aggregate"].map(String.init)
        if let aggregateID, !(1...200).contains(aggregateID.textLength) {
            throw StrataError(.invalidValue, "Query parameter 'aggregate' must be 1 to 200 characters.", details: ["field": "aggregate"])
        }
        return try await stream(app: app, aggregateID: aggregateID, request: request, context: context)
    }

    /// An app's events (of one aggregate, when given) as Server-Sent Events, resumable with
    /// `Last-Event-ID` or `?after=`, for an app route of its own (the caller checks permissions).
    /// - Parameter including: Which events the caller may see (an app's scope rule); all by default.
    public func stream(
        app: String,
        aggregateID: String?,
        request: Request,
        context: StrataRequestContext,
        including: (@Sendable (OutboxEvent) -> Bool)? = nil
    ) async throws -> Response {
        let resumeText = request.headers[.lastEventID] ?? request.uri.queryParameters["after"].map(String.init)
        var after: Int64?
        if let resumeText {
            guard let position = Int64(resumeText.trimmingCharacters(in: .whitespaces)), position >= 0 else {
                throw StrataError(.invalidValue, "Last-Event-ID must be an event position (a whole number).", details: ["field": "Last-Event-ID"])
            }
            after = position
        }
        // Subscribe before the first read, so that nothing published in between is missed.
        let subscription = hub.subscribe(app: app)
        let feed: EventFeed
        do {
            feed = try await EventFeed(app: app, aggregateID: aggregateID, after: after, store: store, redis: redis, streams: streams)
        } catch {
            hub.unsubscribe(subscription)
            throw error
        }
        let heartbeat = heartbeat
        let hub = hub
        let logger = context.logger
        var headers = HTTPFields()
        headers[.contentType] = "text/event-stream"
        headers[.cacheControl] = "no-cache"
        headers[.init("X-Accel-Buffering")!] = "no"
        return Response(
            status: .ok,
            headers: headers,
            body: ResponseBody { writer in
                defer { hub.unsubscribe(subscription) }
                var feed = feed
                try await writer.write(ByteBuffer(string: "retry: 2000\n: position \(feed.position)\n\n"))
                var lastWrite = ContinuousClock.now
                let stopping = Latch()
                try await withGracefulShutdownHandler {
                    while !Task.isCancelled && !stopping.isSet {
                        var events: [LiveEvent]
                        do {
                            events = try await feed.next()
                        } catch {
                            logger.debug("event stream read failed; retrying", metadata: ["strata.error": "\(error)"])
                            events = []
                        }
                        let read = events.count
                        if let including { events = events.filter { including($0.event) } }
                        if !events.isEmpty {
                            try await writer.write(ByteBuffer(string: events.map(\.serverSentEvent).joined()))
                            lastWrite = .now
                            continue
                        }
                        if read > 0 { continue }  // only events the caller may not see: read on at once
                        if lastWrite.duration(to: .now) >= heartbeat {
                            try await writer.write(ByteBuffer(string: ": heartbeat\n\n"))
                            lastWrite = .now
                        }
                        await subscription.doorbell.wait(timeout: min(heartbeat, .seconds(5)))
                    }
                } onGracefulShutdown: {
                    // The server is stopping: end the stream; clients reconnect with Last-Event-ID.
                    stopping.set()
                    subscription.doorbell.ring()
                }
                try await writer.finish(nil)
            }
        )
    }
}

extension HTTPField.Name {
    /// `Last-Event-ID`, sent by reconnecting Server-Sent Events clients.
    public static let lastEventID = Self("Last-Event-ID")!
}
