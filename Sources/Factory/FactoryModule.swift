public import Foundation
public import Hummingbird
import Logging
public import ServiceLifecycle
import StrataCore
public import StrataHTTP
public import StrataPostgres

/// The anomaly-disposal platform (`factory`, seed 000): production lines and stations, the
/// anomaly lifecycle (solutions, execution work orders, verification, the case library), and
/// the plant's users, who sign in and reach only their factories and lines — enforced by
/// PostgreSQL row-level security on every statement (``FactoryScope``).
public struct FactoryModule: ConfigurableModule {
    /// The app's settings.
    public struct Configuration: Sendable {
        /// How long raw production metrics are kept, in days (`FACTORY_METRICS_RETENTION`,
        /// default 90); their rollups stay. Whole monthly partitions are dropped once every day
        /// of them is past it.
        public var metricsRetentionDays: Int
        /// The most points one write may hold (`FACTORY_INGEST_MAX_POINTS`, default 50,000).
        public var maxBatchPoints: Int
        /// The largest defect image, in bytes (`FACTORY_IMAGE_MAX_SIZE`, default 10 MiB).
        public var imageMaxSize: Int

        public init(metricsRetentionDays: Int = 90, maxBatchPoints: Int = 50_000, imageMaxSize: Int = 10 << 20) {
            self.metricsRetentionDays = metricsRetentionDays
            self.maxBatchPoints = maxBatchPoints
            self.imageMaxSize = imageMaxSize
        }
    }

    public let name = "factory"
    public let configuration: Configuration

    public init(configuration: Configuration = .init()) {
        self.configuration = configuration
    }

    /// Reads `FACTORY_METRICS_RETENTION` (days, 1 to 36500: `90`, or a duration such as `90d`)
    /// `FACTORY_INGEST_MAX_POINTS` and `FACTORY_IMAGE_MAX_SIZE` (bytes).
    public init(settings: ModuleSettings) throws {
        let environment = settings.environment
        let key = "FACTORY_METRICS_RETENTION"
        var days = 90
        if let raw = environment.string(key) {
            let seconds =
                Int(raw.trimmingCharacters(in: .whitespaces)).map { $0 * 86_400 }
                ?? EnvironmentReader.parseDuration(raw).map { Int($0.components.seconds) }
            guard let seconds, (86_400...(36_500 * 86_400)).contains(seconds) else {
                throw environment.invalid(key, raw, allowed: "a number of days from 1 to 36500, or a duration such as 90d")
            }
            days = seconds / 86_400
        }
        self.init(
            configuration: Configuration(
                metricsRetentionDays: days,
                maxBatchPoints: try environment.int("FACTORY_INGEST_MAX_POINTS", default: 50_000, in: 1...1_000_000),
                imageMaxSize: try environment.int("FACTORY_IMAGE_MAX_SIZE", default: 10 << 20, in: 1024...(1 << 30))
            )
        )
    }

    public func openAPIFragment() throws -> Data? { try openAPIFragment(in: .module) }

    /// `strata seed factory`: a small plant with a month of metrics, anomalies in every state, a
    /// cause graph, images and users (``FactoryDemo``).
    public func seedDemoData(environment: ModuleEnvironment) async throws -> [String]? {
        let lines = try await FactoryDemo.seed(pool: environment.pool, objects: environment.objects, logger: environment.logger)
        return lines + [
            "Seeded factory: \(lines.filter { $0.hasPrefix("created") || $0.hasPrefix("wrote") }.count) created, \(lines.filter { $0.hasPrefix("exists") }.count) already there."
        ]
    }

    public func migrationLine() throws -> MigrationLine {
        guard let directory = Bundle.module.url(forResource: "Migrations", withExtension: nil)?.appendingPathComponent("factory") else {
            throw StrataError(.migrationInvalid, "The factory migration files are missing from the Factory resources")
        }
        return try MigrationLine(module: name, directory: directory)
    }

    /// Production metrics are kept by month, dropped past the retention (a partition goes once
    /// its last day is older than the retention: `ceil(days / 31)` whole months after it ended).
    public var partitionedTables: [PartitionedTable] {
        let months = max(1, (configuration.metricsRetentionDays + 30) / 31)
        return [PartitionedTable(schema: "factory", table: "production_metrics", column: "time", retention: .drop(after: months))]
    }

    /// A write of the largest batch, at about 120 bytes a point.
    public var uploadLimits: [UploadLimit] {
        let limit = max(1 << 20, configuration.maxBatchPoints * 120)
        return [
            UploadLimit(path: "/api/v2/write", limit: limit),
            UploadLimit(path: "/write", limit: limit),
            UploadLimit(path: "/api/factory/metrics", limit: limit * 2),
            // The image and a multipart envelope; a larger body is 413 from the server itself.
            UploadLimit(path: "/api/factory/anomalies/{id}/images", limit: configuration.imageMaxSize + (64 << 10)),
        ]
    }

    public func addRoutes(to router: any RouterMethods<StrataRequestContext>, environment: ModuleEnvironment) {
        let users = UserService(pool: environment.pool, logger: environment.logger)
        let overviews = overviews(environment)
        PlantController(plant: PlantService(pool: environment.pool, overviews: overviews, logger: environment.logger), overviews: overviews)
            .addRoutes(to: router)
        AnomaliesController(anomalies: AnomalyService(pool: environment.pool, overviews: overviews, logger: environment.logger))
            .addRoutes(to: router)
        UsersController(users: users).addRoutes(to: router)
        MetricsController(metrics: metrics(environment, overviews: overviews)).addRoutes(to: router)
        GraphController(graph: GraphService(pool: environment.pool, logger: environment.logger)).addRoutes(to: router)
        FactoryEventsController(
            events: EventsController(pool: environment.pool, redis: environment.redis, hub: environment.hub, streams: environment.streams)
        ).addRoutes(to: router)
        ImagesController(
            images: ImageService(
                pool: environment.pool,
                objects: environment.objects,
                maxSize: configuration.imageMaxSize,
                logger: environment.logger
            )
        ).addRoutes(to: router)
        if let tokens = environment.tokens {
            LoginController(
                app: name,
                directory: FactoryUserDirectory(users: users),
                issuer: tokens,
                revocations: environment.revocations,
                limiter: environment.limiter
            ).addRoutes(to: router)
        }
    }

    func metrics(_ environment: ModuleEnvironment, overviews: OverviewCache? = nil) -> MetricsService {
        MetricsService(pool: environment.pool, maxBatchPoints: configuration.maxBatchPoints, overviews: overviews, logger: environment.logger)
    }

    /// The line overviews, cached in the hot layer for the seed's 300 s.
    func overviews(_ environment: ModuleEnvironment) -> OverviewCache {
        OverviewCache(pool: environment.pool, redis: environment.redis, logger: environment.logger)
    }

    /// The app's periodic work on the platform queue: the metric rollups every minute.
    public func services(environment: ModuleEnvironment) -> [any Service] {
        let metrics = metrics(environment, overviews: overviews(environment))
        return [
            JobWorker(
                pool: environment.pool,
                handlers: [MetricsService.rollupKind: metrics.rollupHandler],
                schedules: [metrics.rollupSchedule],
                configuration: .init(queues: [MetricsService.queue], concurrency: 1, pollInterval: .seconds(2), name: "factory-maintenance"),
                logger: environment.logger
            )
        ]
    }
}
