public import Foundation
public import Hummingbird
public import Logging
public import ServiceLifecycle
public import StrataCore
public import StrataEvents
public import StrataObjects
public import StrataPostgres
public import StrataRedis
public import StrataSecurity

/// What a module (the platform itself, or an app such as `helpdesk`) contributes to the
/// server: one migration line, its routes and its background services.
///
/// The server is a list of modules, not a list of wires:
///
/// ```swift
/// struct HelpdeskModule: StrataModule {
///     let name = "helpdesk"
///     func migrationLine() throws -> MigrationLine { try MigrationLine(module: name, directory: …) }
///     func addRoutes(to router: any RouterMethods<StrataRequestContext>, environment: ModuleEnvironment) { … }
/// }
/// ```
public protocol StrataModule: Sendable {
    /// The module's name: its PostgreSQL schema and its migration line.
    var name: String { get }
    /// The module's migrations.
    func migrationLine() throws -> MigrationLine
    /// Adds the module's routes (under `/api/<name>/`).
    func addRoutes(to router: any RouterMethods<StrataRequestContext>, environment: ModuleEnvironment)
    /// Long-running services the module needs (workers, sweepers), started after the database.
    func services(environment: ModuleEnvironment) -> [any Service]
    /// The module's range-partitioned tables, kept by the server's ``PartitionMaintainer``.
    var partitionedTables: [PartitionedTable] { get }
    /// Routes that take bodies larger than the server's general limit (file uploads).
    var uploadLimits: [UploadLimit] { get }
    /// The module's part of the server's OpenAPI document, as JSON: its `paths`, its
    /// `components` (schemas named with the module's prefix) and its `tags`. The server merges
    /// every module's part into one document at start; a test keeps it equal to the routes.
    func openAPIFragment() throws -> Data?
    /// Loads the module's demo data, idempotently (`strata seed <name>`), on a migrated
    /// database: what it did, one line each; `nil` when the module has none.
    func seedDemoData(environment: ModuleEnvironment) async throws -> [String]?
}

extension StrataModule {
    public func addRoutes(to router: any RouterMethods<StrataRequestContext>, environment: ModuleEnvironment) {}
    public func services(environment: ModuleEnvironment) -> [any Service] { [] }
    public var partitionedTables: [PartitionedTable] { [] }
    public var uploadLimits: [UploadLimit] { [] }
    public func openAPIFragment() throws -> Data? { nil }
    public func seedDemoData(environment: ModuleEnvironment) async throws -> [String]? { nil }

    /// Reads a module's `openapi.json` resource (for ``openAPIFragment()``).
    /// - Throws: `internal_error` when the resource is missing.
    public func openAPIFragment(in bundle: Bundle) throws -> Data {
        guard let url = bundle.url(forResource: "openapi", withExtension: "json") else {
            throw StrataError(.internalError, "The \(name) module's openapi.json is missing from its resources")
        }
        return try Data(contentsOf: url)
    }
}

/// A module the server makes from its settings: the module reads its own variables, so that
/// adding an app to the server is one line in its list of module types.
public protocol ConfigurableModule: StrataModule {
    /// Makes the module, reading its variables (`<APP>_…`) from `settings.environment`.
    /// - Throws: `invalid_configuration` naming the first bad variable and what it allows.
    init(settings: ModuleSettings) throws
}

/// What a module may read when the server makes it.
public struct ModuleSettings: Sendable {
    /// The server's environment.
    public var environment: EnvironmentReader
    /// `$STRATA_HOME`, the server's folder.
    public var home: String
    /// Which hosts webhooks and callbacks may reach (`WEBHOOK_ALLOWED_NETWORKS`).
    public var outbound: OutboundAddressPolicy

    public init(environment: EnvironmentReader, home: String = ".", outbound: OutboundAddressPolicy = .publicOnly) {
        self.environment = environment
        self.home = home
        self.outbound = outbound
    }
}

/// What modules get from the server.
public struct ModuleEnvironment: Sendable {
    /// The database pool.
    public var pool: PostgresPool
    /// The hot layer, or `nil` when no Redis could be had (the module must work without it).
    public var redis: RedisClient?
    /// The module's logger.
    public var logger: Logger
    /// The process's live-event hub (one per server; it is a service of the platform module).
    public var hub: EventHub
    /// Where events are published.
    public var streams: EventStreams { hub.streams }
    /// API keys → principals (one per server: it caches keys and batches their use).
    public var keys: APIKeyAuthenticator
    /// Request budgets per key and per client IP.
    public var limiter: RequestLimiter
    /// Signs and checks app users' tokens; `nil` when the server has no JWT secret.
    public var tokens: TokenIssuer?
    /// Signed-out tokens.
    public var revocations: TokenRevocations
    /// Seals secrets kept at rest (webhook secrets).
    public var secrets: SecretBox
    /// Where blobs go (uploaded files, attachments); the database keeps their keys.
    public var objects: any ObjectStore
    /// Which hosts webhooks and callbacks may reach.
    public var outbound: OutboundAddressPolicy

    /// Creates an environment with a hub, an authenticator and a limiter of its own.
    public init(
        pool: PostgresPool,
        redis: RedisClient? = nil,
        streams: EventStreams = .init(),
        keys: APIKeyAuthenticator.Configuration = .init(),
        tokens: TokenIssuer? = nil,
        secrets: SecretBox = .ephemeral(),
        objects: (any ObjectStore)? = nil,
        outbound: OutboundAddressPolicy = .publicOnly,
        logger: Logger
    ) {
        self.outbound = outbound
        self.pool = pool
        self.objects = objects ?? FileSystemObjectStore.temporary()
        self.secrets = secrets
        self.redis = redis
        self.logger = logger
        self.hub = EventHub(redis: redis, streams: streams, logger: logger)
        self.keys = APIKeyAuthenticator(pool: pool, configuration: keys, logger: logger)
        self.limiter = RequestLimiter(redis: redis)
        self.tokens = tokens
        self.revocations = TokenRevocations(pool: pool)
    }
}

/// The platform's own module: the `strata` schema (ledger, outbox, audit log, keys, jobs), the
/// outbox relay, the live-event hub, the API-key usage writer, the platform's job worker
/// (queue `strata`: expiry sweeps and the scheduled logical backup), the webhook deliverer (queue `webhooks`), `GET /api/events`
/// and the key and replay endpoints.
public struct PlatformModule: ConfigurableModule {
    /// Platform settings.
    public struct Configuration: Sendable {
        /// The outbox relay.
        public var relay: OutboxRelay.Configuration
        /// Time between comment lines on idle event streams.
        public var eventsHeartbeat: Duration
        /// How long audit partitions are kept (default: all).
        public var auditRetention: PartitionedTable.Retention
        /// The first retry of a webhook that failed (then doubling).
        public var webhookFirstRetry: Duration
        /// Logical backups on the platform queue (`nil`: none scheduled).
        public var backups: BackupConfiguration?

        public init(
            relay: OutboxRelay.Configuration = .init(),
            eventsHeartbeat: Duration = .seconds(15),
            auditRetention: PartitionedTable.Retention = .keep,
            webhookFirstRetry: Duration = .seconds(5),
            backups: BackupConfiguration? = nil
        ) {
            self.backups = backups
            self.webhookFirstRetry = webhookFirstRetry
            self.relay = relay
            self.eventsHeartbeat = eventsHeartbeat
            self.auditRetention = auditRetention
        }
    }

    public let name = "strata"
    public let configuration: Configuration

    public init(configuration: Configuration = .init()) {
        self.configuration = configuration
    }

    /// Reads `OUTBOX_BATCH_SIZE`, `OUTBOX_REPLAY_WINDOW`, `EVENTS_HEARTBEAT`, `AUDIT_RETENTION`
    /// and the `BACKUP_*` variables (``BackupConfiguration``).
    public init(settings: ModuleSettings) throws {
        let environment = settings.environment
        var relay = OutboxRelay.Configuration()
        relay.batchSize = try environment.int("OUTBOX_BATCH_SIZE", default: 500, in: 1...10_000)
        let window = try environment.duration("OUTBOX_REPLAY_WINDOW", default: .seconds(72 * 3600), in: .zero ... .seconds(366 * 86400))
        relay.replayWindow = window == .zero ? nil : window
        self.init(
            configuration: Configuration(
                relay: relay,
                eventsHeartbeat: try environment.duration("EVENTS_HEARTBEAT", default: .seconds(15), in: .milliseconds(100) ... .seconds(3600)),
                auditRetention: try PartitionedTable.Retention(environment: environment, key: "AUDIT_RETENTION"),
                backups: try BackupConfiguration(environment: environment, home: settings.home)
            )
        )
    }

    public func migrationLine() throws -> MigrationLine { try .platform() }

    public var partitionedTables: [PartitionedTable] {
        [PartitionedTable(schema: "strata", table: "audit_log", column: "occurred_at", retention: configuration.auditRetention)]
    }

    public func addRoutes(to router: any RouterMethods<StrataRequestContext>, environment: ModuleEnvironment) {
        KeysController(keys: environment.keys).addRoutes(to: router)
        EventsController(
            pool: environment.pool,
            redis: environment.redis,
            hub: environment.hub,
            streams: environment.streams,
            heartbeat: configuration.eventsHeartbeat
        ).addRoutes(to: router)
    }

    public func services(environment: ModuleEnvironment) -> [any Service] {
        var relay = configuration.relay
        relay.streams = environment.streams
        return [
            OutboxRelay(pool: environment.pool, redis: environment.redis, configuration: relay, hub: environment.hub, logger: environment.logger),
            environment.hub,
            environment.keys,
            JobWorker(
                pool: environment.pool,
                handlers: PlatformJobs.handlers(pool: environment.pool, backups: configuration.backups, logger: environment.logger),
                schedules: PlatformJobs.schedules(backups: configuration.backups),
                configuration: .init(queues: [PlatformJobs.queue], concurrency: 2),
                logger: environment.logger
            ),
            WebhookDelivery.worker(
                pool: environment.pool,
                secrets: environment.secrets,
                policy: environment.outbound,
                firstRetry: configuration.webhookFirstRetry,
                logger: environment.logger
            ),
        ]
    }
}
