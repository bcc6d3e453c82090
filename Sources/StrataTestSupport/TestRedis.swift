import Foundation
import StrataCore
public import StrataRedis

#if canImport(Glibc)
import Glibc
#endif

/// Gives a test a Redis client and a key prefix of its own.
///
/// One `redis-server` per test process: the embedded manager starts a throw-away server in a
/// temporary folder (deleted when the process ends), or `TEST_REDIS_URL` names one to use.
/// Tests share the server and keep apart by prefixing their keys with `prefix`. When no server
/// can be had the test fails with the reason; it never skips.
///
/// ```swift
/// try await withTestRedis { redis, prefix in
///     try await redis.set(prefix + "greeting", to: "hello")
/// }
/// ```
/// - Parameter connections: The client's number of shared connections.
public func withTestRedis<Result: Sendable>(
    connections: Int = 2,
    _ body: (RedisClient, String) async throws -> Result
) async throws -> Result {
    let url = try await TestRedis.shared.url
    let configuration = RedisClient.Configuration(
        url: url,
        connections: connections,
        commandTimeout: .seconds(10),  // a loaded test machine must not turn slowness into errors
        connectTimeout: .seconds(10)
    )
    let client = RedisClient(configuration: configuration, logger: TestPostgres.logger)
    let prefix = "test:\(UUID().uuidString.prefix(8)):"
    do {
        let result = try await body(client, prefix)
        await client.close()
        return result
    } catch {
        await client.close()
        throw error
    }
}

/// The Redis server of the test process.
public actor TestRedis {
    public static let shared = TestRedis()

    private var server: Task<(RedisURL, EmbeddedRedis?), any Error>?

    /// The server's address, starting it on first use.
    public var url: RedisURL {
        get async throws { try await start().0 }
    }

    private func start() async throws -> (RedisURL, EmbeddedRedis?) {
        if let server { return try await server.value }
        let task = Task { () throws -> (RedisURL, EmbeddedRedis?) in
            if let external = ProcessInfo.processInfo.environment["TEST_REDIS_URL"], !external.isEmpty {
                return (try RedisURL(parsing: external, variable: "TEST_REDIS_URL"), nil)
            }
            let directory = NSTemporaryDirectory() + "strata-test-redis-\(getpid())"
            do {
                let redis = try await EmbeddedRedis.start(
                    .init(directory: directory, appendOnly: false, removeWhenStopped: true),
                    logger: TestPostgres.logger
                )
                return (redis.url, redis)
            } catch {
                throw StrataError(.serverStartFailed, "The test Redis could not start: \(error)", underlying: error)
            }
        }
        server = task
        return try await task.value
    }
}
