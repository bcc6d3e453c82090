public import Hummingbird
public import Logging
public import ServiceLifecycle
public import StrataPostgres
public import StrataRedis

/// What a module (the platform itself, or an app such as `helpdesk`) contributes to the
/// server: one migration line, its routes and its background services.
///
/// The server is a list of modules, not a list of wires:
///
/// ```swift
/// struct HelpdeskModule: StrataModule {
///     let name = "helpdesk"
///     func migrationLine() throws -> MigrationLine { try MigrationLine(module: name, directory: …) }
///     func addRoutes(to router: Router<StrataRequestContext>, environment: ModuleEnvironment) { … }
/// }
/// ```
public protocol StrataModule: Sendable {
    /// The module's name: its PostgreSQL schema and its migration line.
    var name: String { get }
    /// The module's migrations.
    func migrationLine() throws -> MigrationLine
    /// Adds the module's routes (under `/api/<name>/`).
    func addRoutes(to router: Router<StrataRequestContext>, environment: ModuleEnvironment)
    /// Long-running services the module needs (workers, sweepers), started after the database.
    func services(environment: ModuleEnvironment) -> [any Service]
}

extension StrataModule {
    public func addRoutes(to router: Router<StrataRequestContext>, environment: ModuleEnvironment) {}
    public func services(environment: ModuleEnvironment) -> [any Service] { [] }
}

/// What modules get from the server.
public struct ModuleEnvironment: Sendable {
    /// The database pool.
    public var pool: PostgresPool
    /// The hot layer, or `nil` when no Redis could be had (the module must work without it).
    public var redis: RedisClient?
    /// The module's logger.
    public var logger: Logger

    public init(pool: PostgresPool, redis: RedisClient? = nil, logger: Logger) {
        self.pool = pool
        self.redis = redis
        self.logger = logger
    }
}

/// The platform's own module: the `strata` schema (ledger, and later outbox, audit, jobs).
public struct PlatformModule: StrataModule {
    public let name = "strata"
    public init() {}
    public func migrationLine() throws -> MigrationLine { try .platform() }
}
