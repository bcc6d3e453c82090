import Factory
import Foundation
public import Hummingbird
public import Logging
import PostgresNIO
import SimJobs
import StrataCore
public import StrataHTTP
public import StrataPostgres
public import StrataRedis
import StrataTelemetry
import WorkOrders
import Workflows

/// Builds the Strata HTTP application from its modules.
public enum StrataApplication {
    /// The modules of the server, in migration order (the platform first). Adding an app to
    /// the server is one line here; the module reads its own settings
    /// (``ConfigurableModule/init(settings:)``).
    public static let moduleTypes: [any ConfigurableModule.Type] = [
        PlatformModule.self,
        SimJobsModule.self,
        WorkOrdersModule.self,
        WorkflowsModule.self,
        FactoryModule.self,
    ]

    /// Every module of the server with default settings.
    public static let modules: [any StrataModule] = {
        do {
            return try moduleTypes.map { try $0.init(settings: ModuleSettings(environment: EnvironmentReader([:]))) }
        } catch {
            preconditionFailure("a module's default settings are invalid: \(error)")
        }
    }()

    /// Every module of the server, set up from the server's configuration (the defaults
    /// without one).
    public static func modules(configuration: ServerConfiguration?) -> [any StrataModule] {
        configuration?.modules ?? modules
    }

    /// The partitioned tables of every module.
    public static func partitionedTables(of modules: [any StrataModule] = modules) -> [PartitionedTable] {
        modules.flatMap(\.partitionedTables)
    }

    /// The migration lines of `modules`, in order.
    public static func migrationLines(of modules: [any StrataModule] = modules) throws -> [MigrationLine] {
        try modules.map { try $0.migrationLine() }
    }

    /// The readiness checks of a server: the database answers, and every migration line is current.
    public static func readinessChecks(pool: PostgresPool, migrator: Migrator) -> [ReadinessCheck] {
        [
            ReadinessCheck(name: "database") {
                _ = try await pool.query("SELECT 1")
                return "ok"
            },
            ReadinessCheck(name: "migrations") {
                let analysis = try await migrator.status()
                guard analysis.isCurrent else {
                    let waiting = analysis.entries.filter { $0.state != .applied && $0.state != .unknown }
                    throw StrataError(.notReady, "\(waiting.count) migration(s) not applied: \(waiting.map(\.fileName).joined(separator: ", "))")
                }
                return "current"
            },
        ]
    }

    /// The Prometheus text of the process plus the database statistics and where backups stand
    /// (when reachable).
    public static func metricsText(pool: PostgresPool) async -> String {
        var text = StrataMetrics.render()
        if let statistics = try? await DatabaseStatistics.collect(from: pool) {
            text += statistics.prometheusText
        }
        if let backups = try? await BackupStatus.collect(from: pool) {
            text += backups.prometheusText()
        }
        return text
    }

    /// The server's router: ``StrataRouter``'s stack (request id → observation → problems → body
    /// limit → authentication → audit → idempotency, then `/health`, `/ready`, `/metrics`) with
    /// `/openapi.json` (the modules' fragments merged) and every module's routes.
    /// - Parameters:
    ///   - modules: The modules to serve; by default every module, set up from `configuration`.
    ///   - readiness: Whether the process still accepts traffic (drained at shutdown); a fresh one accepts.
    ///   - checks: What `/ready` checks besides.
    ///   - routes: Where the registered endpoints are recorded (the OpenAPI test reads it).
    public static func buildRouter(
        configuration: ServerConfiguration,
        pool: PostgresPool,
        modules: [any StrataModule]? = nil,
        readiness: Readiness = Readiness(),
        checks: [ReadinessCheck] = [],
        redis: RedisClient? = nil,
        environment: ModuleEnvironment? = nil,
        routes: RouteTable = RouteTable(),
        logger: Logger
    ) -> Router<StrataRequestContext> {
        StrataMetrics.bootstrap()
        let modules = modules ?? Self.modules(configuration: configuration)
        let environment = environment ?? ModuleEnvironment(pool: pool, redis: redis, logger: logger)
        let openAPI: Data
        do {
            openAPI = try OpenAPIDocument.data(of: modules)
        } catch {
            // The parts ship with the modules and a test merges them on every run: a conflict
            // is a defect in a module, reported here rather than served as half a document.
            preconditionFailure("\(error)")
        }
        return StrataRouter.build(
            modules: modules,
            environment: environment,
            limits: .init(
                maxBodySize: configuration.maxBodySize,
                anonymousPerMinute: configuration.anonymousRateLimit,
                userPerMinute: configuration.userRateLimit
            ),
            readiness: readiness,
            checks: checks,
            routes: routes,
            metrics: { await metricsText(pool: pool) },
            addRoutes: { OpenAPIDocument.addRoute(to: $0, document: openAPI) }
        )
    }
}
