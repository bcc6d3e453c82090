import Foundation
public import Logging
public import ServiceLifecycle
import StrataCore
public import StrataHTTP
public import StrataRedis

/// The server's Redis: `REDIS_URL`, or a private `redis-server` under `$STRATA_HOME/redis`
/// when one is installed, or none at all — then the server still starts and serves (Redis is
/// the hot layer, never the only copy of anything) and says so once in the log and in `/ready`.
public struct HotLayer: Sendable {
    /// The client, or `nil` when the hot layer is disabled.
    public var client: RedisClient?
    /// The embedded server, when this process started it.
    public var embedded: EmbeddedRedis?
    /// Why the hot layer is disabled, when it is.
    public var disabledReason: String?

    /// Opens the configured hot layer. Never fails: a missing, busy or broken Redis disables
    /// the hot layer with one warning.
    public static func open(configuration: ServerConfiguration, logger: Logger) async -> HotLayer {
        func client(_ url: RedisURL) -> RedisClient {
            RedisClient(configuration: .init(url: url, commandTimeout: configuration.redisCommandTimeout), logger: logger)
        }
        if let url = configuration.redisURL {
            return HotLayer(client: client(url), embedded: nil, disabledReason: nil)
        }
        do {
            let embedded = try await EmbeddedRedis.start(.init(directory: configuration.embeddedRedisDirectory), logger: logger)
            return HotLayer(client: client(embedded.url), embedded: embedded, disabledReason: nil)
        } catch let error as StrataError {
            logger.warning("the Redis hot layer is disabled; serving from PostgreSQL only", metadata: ["strata.reason": "\(error.message)"])
            return HotLayer(client: nil, embedded: nil, disabledReason: error.message)
        } catch {
            logger.warning("the Redis hot layer is disabled; serving from PostgreSQL only")
            return HotLayer(client: nil, embedded: nil, disabledReason: "\(error)")
        }
    }

    /// A readiness check that reports the hot layer without ever failing readiness.
    public var readinessCheck: ReadinessCheck {
        let client = client
        let reason = disabledReason
        return ReadinessCheck(name: "redis") {
            guard let client else { return "disabled: \(reason ?? "not configured")" }
            do {
                try await client.ping()
                return "ok"
            } catch {
                return "unavailable (\(client.breakerState.rawValue)); serving from PostgreSQL"
            }
        }
    }

    /// The services that keep it: the embedded server (stopped after everything that uses it)
    /// and the client.
    public var keeperServices: [any Service] {
        var services: [any Service] = []
        if let embedded { services.append(ShutdownAction { await embedded.stop() }) }
        if let client { services.append(client) }
        return services
    }
}
