import Foundation
public import Logging
public import StrataCore
public import StrataEvents
public import StrataHTTP
public import StrataObjects
public import StrataPostgres
public import StrataRedis

/// Everything `strata serve` needs, read from the environment (CLI flags are laid over it).
///
/// | variable | default | meaning |
/// |---|---|---|
/// | `DATABASE_URL` | unset: embedded cluster | `postgres://user:password@host:port/db?sslmode=…` |
/// | `REDIS_URL` | unset: embedded redis-server when installed | `redis://[user:password@]host:port/db` or `unix:///path.sock?db=N` |
/// | `REDIS_COMMAND_TIMEOUT` | `250ms` | longest wait for a Redis reply |
/// | `STRATA_HOME` | `./.strata` | state folder (embedded PostgreSQL under `postgres/`, Redis under `redis/`) |
/// | `HOST` | `127.0.0.1` | HTTP listen address |
/// | `PORT` | `8080` | HTTP port (0: any free port) |
/// | `LOG_LEVEL` | `info` | trace, debug, info, notice, warning, error, critical |
/// | `LOG_FORMAT` | `text` | text or json (one JSON object per line) |
/// | `HTTP_MAX_BODY_SIZE` | `1048576` | largest request body in bytes (413 above) |
/// | `SHUTDOWN_DRAIN_DELAY` | `1s` | time `/ready` answers 503 before the listener closes |
/// | `SHUTDOWN_GRACE_PERIOD` | `10s` | time in-flight requests get to finish |
/// | `OUTBOX_BATCH_SIZE` | `500` | events per relay round (1–10000) |
/// | `OUTBOX_REPLAY_WINDOW` | `72h` | how long relayed events stay for replay and catch-up (`0`: forever) |
/// | `EVENTS_HEARTBEAT` | `15s` | comment line interval on idle event streams |
/// | `PARTITION_MAINTENANCE_INTERVAL` | `1h` | time between partition maintenance passes |
/// | `JWT_SECRET` | generated in `$STRATA_HOME/jwt-secret` | HS256 key for app users' tokens (at least 32 bytes) |
/// | `JWT_TTL` | `1h` | how long a token is valid |
/// | `STRATA_SECRET_KEY` | generated in `$STRATA_HOME/secret-key` | seals secrets kept at rest, such as webhook secrets (at least 32 bytes) |
/// | `RATE_LIMIT_ANONYMOUS` | `600` | requests per minute per client IP without credentials |
/// | `RATE_LIMIT_USER` | `600` | requests per minute per signed-in user (API keys have their own limit) |
/// | `WEBHOOK_ALLOWED_NETWORKS` | none | networks webhooks may reach although not public (`10.0.0.0/8,127.0.0.1`) |
/// | `WEBHOOK_DENIED_NETWORKS` | none | networks webhooks may never reach, on top of the non-public ones |
/// | `SIMJOBS_ALERT_WEBHOOK_URL` | none | where alert rules with the `webhook` channel send alerts (Standard Webhooks, signed) |
/// | `SIMJOBS_ALERT_WEBHOOK_SECRET` | none | its signing secret (16–256 characters; required with the URL) |
/// | `SIMJOBS_UPLOAD_MAX_SIZE` | `104857600` | largest structure upload in bytes (413 above) |
/// | `AUDIT_RETENTION` | `keep` | `keep`, `detach:<months>` or `drop:<months>` for audit partitions |
///
/// plus the object store's (``ObjectStoreConfiguration``: `S3_BUCKET`, `S3_ENDPOINT`, …;
/// files under `$STRATA_HOME/objects` by default) and the pool's variables (``PostgresPool/Configuration``): `DB_POOL_SIZE`,
/// `DB_MAX_OVERFLOW`, `DB_POOL_TIMEOUT`, `DB_POOL_RECYCLE`, `DB_ECHO`, `DB_STATEMENT_TIMEOUT`,
/// `DB_CONNECT_TIMEOUT`.
public struct ServerConfiguration: Sendable {
    /// Log output formats.
    public enum LogFormat: String, Sendable, CaseIterable {
        case text, json
    }

    /// Log levels by their `LOG_LEVEL` names.
    public enum LogLevelName: String, Sendable, CaseIterable {
        case trace, debug, info, notice, warning, error, critical

        public var level: Logger.Level { Logger.Level(rawValue: rawValue) ?? .info }
    }

    public var databaseURL: DatabaseURL?
    public var redisURL: RedisURL?
    public var redisCommandTimeout: Duration
    public var home: String
    public var host: String
    public var port: Int
    public var logLevel: LogLevelName
    public var logFormat: LogFormat
    public var maxBodySize: Int
    public var drainDelay: Duration
    public var gracePeriod: Duration
    /// The HTTP server's timeouts and connection bound (`HTTP_HEADER_TIMEOUT`, …).
    public var http: HTTPConnectionPolicy
    public var pool: PostgresPool.Configuration
    public var partitionMaintenance: PartitionMaintainer.Configuration
    /// Where blobs go.
    public var objects: ObjectStoreConfiguration
    /// Which hosts webhooks and callbacks may reach.
    public var outbound: OutboundAddressPolicy
    /// Backups (`BACKUP_*`): with the embedded cluster, its WAL is archived into the pgBackRest
    /// repository when they are enabled and pgBackRest is installed.
    public var backups: BackupConfiguration
    /// The server's modules (the platform's first), each made from the environment by
    /// ``StrataApplication/moduleTypes``.
    public var modules: [any StrataModule]
    /// Requests per minute per client IP without credentials.
    public var anonymousRateLimit: Int
    /// Requests per minute per signed-in user.
    public var userRateLimit: Int
    /// `JWT_SECRET`, when given (else a generated one is kept in ``jwtSecretFile``).
    public var jwtSecret: String?
    /// How long app users' tokens are valid.
    public var jwtLifetime: Duration
    /// Where the generated JWT key is kept: `$STRATA_HOME/jwt-secret`.
    public var jwtSecretFile: String { "\(home)/jwt-secret" }
    /// `STRATA_SECRET_KEY`, when given (else a generated one is kept in ``secretKeyFile``).
    public var secretKey: String?
    /// Where the generated secret key is kept: `$STRATA_HOME/secret-key`.
    public var secretKeyFile: String { "\(home)/secret-key" }

    /// The embedded cluster's folder: `$STRATA_HOME/postgres`.
    public var embeddedPostgresDirectory: String { "\(home)/postgres" }
    /// The embedded Redis folder: `$STRATA_HOME/redis`.
    public var embeddedRedisDirectory: String { "\(home)/redis" }

    /// Reads and validates every variable.
    /// - Throws: `invalid_configuration` naming the first bad variable and what it allows.
    public init(environment: EnvironmentReader) throws {
        databaseURL = try environment.string("DATABASE_URL").map { try DatabaseURL(parsing: $0) }
        redisURL = try environment.string("REDIS_URL").map { try RedisURL(parsing: $0) }
        redisCommandTimeout = try environment.duration(
            "REDIS_COMMAND_TIMEOUT",
            default: .milliseconds(250),
            in: .milliseconds(1) ... .seconds(60)
        )
        let home = environment.string("STRATA_HOME", default: "./.strata")
        self.home =
            URL(fileURLWithPath: home, relativeTo: URL(fileURLWithPath: FileManager.default.currentDirectoryPath))
            .standardizedFileURL.path
        host = environment.string("HOST", default: "127.0.0.1")
        guard !host.isEmpty, host.allSatisfy({ $0.isLetter || $0.isNumber || ".-:".contains($0) }) else {
            throw environment.invalid("HOST", host, allowed: "a host name or IP address")
        }
        port = try environment.int("PORT", default: 8080, in: 0...65535)
        logLevel = try environment.choice("LOG_LEVEL", default: .info)
        logFormat = try environment.choice("LOG_FORMAT", default: .text)
        maxBodySize = try environment.int("HTTP_MAX_BODY_SIZE", default: 1 << 20, in: 1...(1 << 30))
        drainDelay = try environment.duration("SHUTDOWN_DRAIN_DELAY", default: .seconds(1), in: .zero ... .seconds(300))
        gracePeriod = try environment.duration("SHUTDOWN_GRACE_PERIOD", default: .seconds(10), in: .zero ... .seconds(600))
        http = try HTTPConnectionPolicy(environment: environment)
        pool = try PostgresPool.Configuration(environment: environment)
        anonymousRateLimit = try environment.int("RATE_LIMIT_ANONYMOUS", default: 600, in: 1...1_000_000)
        userRateLimit = try environment.int("RATE_LIMIT_USER", default: 600, in: 1...1_000_000)
        jwtSecret = environment.string("JWT_SECRET")
        if let jwtSecret, jwtSecret.utf8.count < 32 {
            throw environment.invalid("JWT_SECRET", jwtSecret, allowed: "a secret of at least 32 bytes")
        }
        secretKey = environment.string("STRATA_SECRET_KEY")
        if let secretKey, secretKey.utf8.count < 32 {
            throw environment.invalid("STRATA_SECRET_KEY", secretKey, allowed: "a secret of at least 32 bytes")
        }
        jwtLifetime = try environment.duration("JWT_TTL", default: .seconds(3600), in: .seconds(60) ... .seconds(30 * 86400))
        objects = try ObjectStoreConfiguration(environment: environment, home: self.home)
        outbound = try OutboundAddressPolicy(environment: environment)
        backups = try BackupConfiguration(environment: environment, home: self.home)
        let settings = ModuleSettings(environment: environment, home: self.home, outbound: outbound)
        modules = try StrataApplication.moduleTypes.map { try $0.init(settings: settings) }
        partitionMaintenance = .init(
            interval: try environment.duration("PARTITION_MAINTENANCE_INTERVAL", default: .seconds(3600), in: .seconds(1) ... .seconds(7 * 86400))
        )
    }
}
