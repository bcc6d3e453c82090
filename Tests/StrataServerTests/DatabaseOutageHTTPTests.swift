import Foundation
import Hummingbird
import HummingbirdTesting
import Logging
import StrataCore
import StrataHTTP
import StrataPostgres
import StrataServer
import StrataTestSupport
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// The HTTP face of a database outage, on a cluster of its own that the test kills: problem+json
/// 503s with `Retry-After` at once, `/ready` says so, reads the hot layer holds go on, writes
/// succeed again soon after the database is back.
@Suite struct DatabaseOutageHTTPTests {
    let logger = TestPostgres.logger

    @Test(.timeLimit(.minutes(3)))
    func aDatabaseOutageIsAnsweredWith503AndHotReadsGoOn() async throws {
        let directory = NSTemporaryDirectory() + "strata-outage-http-\(UUID().uuidString.prefix(8))"
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let cluster = try await EmbeddedCluster.start(.init(directory: directory, durable: true), logger: logger)
        defer { Task { await cluster.stop() } }
        let pool = PostgresPool(url: cluster.url, configuration: .init(poolSize: 4, maxOverflow: 4), logger: logger)
        try await pool.withRunning {
            let migrator = Migrator(lines: try StrataApplication.migrationLines(), pool: pool, logger: logger)
            _ = try await migrator.migrate()
            let (_, key) = try await APIKeyStore(pool: pool).create(.init(name: "outage", permissions: ["workorders.read", "workorders.write"]))
            try await withTestRedis { redis, _ in
                let configuration = try ServerConfiguration(environment: EnvironmentReader([:]))
                let environment = ModuleEnvironment(pool: pool, redis: redis, logger: logger)
                let router = StrataApplication.buildRouter(
                    configuration: configuration,
                    pool: pool,
                    modules: StrataApplication.modules(configuration: configuration),
                    checks: StrataApplication.readinessChecks(pool: pool, migrator: migrator),
                    redis: redis,
                    environment: environment,
                    logger: logger
                )
                try await Application(router: router, logger: logger).test(.router) { client in
                    let auth: HTTPFields = [.init("X-API-Key")!: key]
                    var json = auth
                    json[.contentType] = "application/json"
                    func create(_ title: String) async throws -> (HTTPResponse.Status, String, HTTPFields) {
                        let body =
                            #"{"title":"\#(title)","owner_id":"m-1","owner_name":"Manager","steps":[{"step_code":"s1","step_name":"Assembly","expected_quantity":10}]}"#
                        return try await client.execute(uri: "/api/workorders/orders", method: .post, headers: json, body: ByteBuffer(string: body)) {
                            ($0.status, String(buffer: $0.body), $0.headers)
                        }
                    }
                    let (created, createdBody, _) = try await create("before the outage")
                    #expect(created == .created)
                    let id = try #require(
                        (try JSONSerialization.jsonObject(with: Data(createdBody.utf8)) as? [String: Any])?["id"] as? String
                    )
                    // Read twice: the second answer comes from Redis.
                    for _ in 0..<2 {
                        try await client.execute(uri: "/api/workorders/orders/\(id)", method: .get, headers: auth) { #expect($0.status == .ok) }
                    }
                    try await client.execute(uri: "/ready", method: .get) { #expect($0.status == .ok) }

                    kill(cluster.serverPID, SIGKILL)
                    // The first write after the kill finds its connection gone; then the breaker is open.
                    var refused: (HTTPResponse.Status, String, HTTPFields) = (.ok, "", [:])
                    let deadline = ContinuousClock.now + .seconds(10)
                    while ContinuousClock.now < deadline {
                        refused = try await create("during the outage")
                        if refused.0 == .serviceUnavailable && !pool.isAvailable { break }
                        try await Task.sleep(for: .milliseconds(20))
                    }
                    #expect(refused.0 == .serviceUnavailable)
                    #expect(refused.1.contains(#""code":"database_unavailable""#), "\(refused.1)")
                    #expect(refused.2[.contentType] == "application/problem+json")
                    #expect(refused.2[.retryAfter] != nil)
                    let started = ContinuousClock.now
                    let again = try await create("during the outage")
                    let latency = started.duration(to: .now)
                    #expect(again.0 == .serviceUnavailable)
                    #expect(latency < .seconds(1), "a 503 while the database is known to be down is immediate (\(latency))")

                    try await client.execute(uri: "/ready", method: .get) { response in
                        #expect(response.status == .serviceUnavailable)
                        let body = String(buffer: response.body)
                        #expect(body.contains("database") && !body.contains(#""database":"ok""#), "\(body)")
                    }
                    // Past the API key cache's TTL, the cached order is still served.
                    try await Task.sleep(for: .seconds(11))
                    try await client.execute(uri: "/api/workorders/orders/\(id)", method: .get, headers: auth) { response in
                        #expect(response.status == .ok, "a detail in the hot layer is served during the outage: \(String(buffer: response.body))")
                    }

                    try await cluster.restart()
                    let back = ContinuousClock.now
                    var status = HTTPResponse.Status.serviceUnavailable
                    while status != .created && back.duration(to: .now) < .seconds(5) {
                        status = try await create("after the outage").0
                        if status != .created { try await Task.sleep(for: .milliseconds(20)) }
                    }
                    #expect(status == .created, "writes succeed within 5 s of the database coming back")
                    try await client.execute(uri: "/ready", method: .get) { #expect($0.status == .ok) }
                }
            }
        }
    }
}
