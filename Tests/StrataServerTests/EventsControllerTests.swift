import Foundation
import Hummingbird
import HummingbirdTesting
import StrataCore
import StrataEvents
import StrataHTTP
import StrataPostgres
import StrataRedis
import StrataServer
import StrataTestSupport
import Testing

@Suite struct EventsControllerTests {
    func append(_ count: Int, pool: PostgresPool) async throws {
        try await pool.withTransaction { connection in
            for n in 0..<count {
                try await OutboxWriter().append(
                    OutboxEvent(app: "orders", aggregateType: "order", aggregateID: "o\(n)", kind: "order.created", actor: "ann"),
                    on: connection,
                    logger: pool.statementLogger
                )
            }
        }
    }

    /// What a client receives from the app's event stream within `seconds`, or until the line `until`.
    func listen(port: Int, query: String, lastEventID: String?, key: String, seconds: Double, until: String? = nil) async throws -> String {
        var headers = ["X-API-Key": key]
        if let lastEventID { headers["Last-Event-ID"] = lastEventID }
        return try await readEventStream(port: port, path: "/api/events?\(query)", headers: headers, seconds: seconds, until: until)
    }

    @Test(.timeLimit(.minutes(1)))
    func aClientResumingWithLastEventIDGetsEveryLaterEventInOrderWithHeartbeats() async throws {
        try await withTestDatabase(lines: try StrataApplication.migrationLines()) { database in
            try await withTestRedis { redis, prefix in
                let pool = database.pool
                let streams = EventStreams(prefix: prefix + "events:")
                let environment = ModuleEnvironment(pool: pool, redis: redis, streams: streams, logger: TestPostgres.logger)
                let platform = PlatformModule(configuration: .init(eventsHeartbeat: .milliseconds(300)))
                let configuration = try ServerConfiguration(environment: EnvironmentReader([:]))
                let router = StrataApplication.buildRouter(
                    configuration: configuration,
                    pool: pool,
                    modules: [platform],
                    redis: redis,
                    environment: environment,
                    logger: TestPostgres.logger
                )
                let relay = OutboxRelay(
                    pool: pool,
                    redis: redis,
                    configuration: .init(streams: streams),
                    hub: environment.hub,
                    logger: TestPostgres.logger
                )
                let (_, key) = try await APIKeyStore(pool: pool).create(.init(name: "listener", permissions: ["orders.read"]))
                try await append(4, pool: pool)
                try await relay.relayWaitingEvents()
                // The stream no longer holds the early events: they come from the outbox.
                try await redis.delete(streams.key(for: "orders"))

                let application = Application(
                    router: router,
                    configuration: .init(address: .hostname("127.0.0.1", port: 0)),
                    logger: TestPostgres.logger
                )
                try await application.test(.live) { client in
                    let port = try #require(client.port)
                    // Read until the last event (not for a fixed time: on a busy machine the two later
                    // events may take seconds to be committed and relayed).
                    async let received = listen(port: port, query: "app=orders", lastEventID: "2", key: key, seconds: 30, until: "id: 6")
                    try await Task.sleep(for: .milliseconds(500))
                    try await append(2, pool: pool)
                    try await relay.relayWaitingEvents()
                    let text = try await received
                    let ids = text.split(separator: "\n").filter { $0.hasPrefix("id: ") }.map { String($0.dropFirst(4)) }
                    #expect(ids == ["3", "4", "5", "6"], "got: \(text)")
                    #expect(text.contains("event: order.created\ndata: {\"id\":"))
                    // A client that has everything is kept alive with heartbeats (every 300 ms here).
                    let idle = try await listen(port: port, query: "app=orders", lastEventID: "6", key: key, seconds: 30, until: ": heartbeat")
                    #expect(idle.contains(": heartbeat") && !idle.contains("id: "), "got: \(idle)")

                    try await client.execute(uri: "/api/events?app=orders", method: .get) { response in
                        #expect(response.status == .unauthorized)
                    }
                    // Replay over HTTP is for admins.
                    let (_, admin) = try await APIKeyStore(pool: pool).create(.init(name: "admin", permissions: ["admin"]))
                    let replay = ByteBuffer(string: #"{"app":"orders","from":5}"#)
                    try await client.execute(
                        uri: "/api/strata/events/replay",
                        method: .post,
                        headers: [.xAPIKey: key, .contentType: "application/json"],
                        body: replay
                    ) { response in
                        #expect(response.status == .forbidden)
                    }
                    try await client.execute(
                        uri: "/api/strata/events/replay",
                        method: .post,
                        headers: [.xAPIKey: admin, .contentType: "application/json"],
                        body: replay
                    ) { response in
                        #expect(response.status == .accepted)
                        struct Result: Decodable, Equatable {
                            var app: String
                            var from: Int64
                            var queued: Int
                        }
                        let result = try JSONDecoder().decode(Result.self, from: Data(String(buffer: response.body).utf8))
                        #expect(result == Result(app: "orders", from: 5, queued: 2))
                    }
                    // A key limited to some rows cannot read the app's whole stream.
                    let (_, scoped) = try await APIKeyStore(pool: pool).create(
                        .init(name: "one-line", permissions: ["orders.read"], scopes: ["line_ids": ["L1"]])
                    )
                    try await client.execute(uri: "/api/events?app=orders", method: .get, headers: [.xAPIKey: scoped]) { response in
                        #expect(response.status == .forbidden)
                    }
                    try await client.execute(uri: "/api/events?app=Not%20An%20App", method: .get, headers: [.xAPIKey: key]) { response in
                        #expect(response.status == .unprocessableContent)
                        #expect(String(buffer: response.body).contains("invalid_value"))
                    }
                    try await client.execute(uri: "/api/events?app=orders", method: .get, headers: [.lastEventID: "yesterday", .xAPIKey: key]) {
                        response in
                        #expect(response.status == .unprocessableContent)
                    }
                }
            }
        }
    }
}
