public import Foundation
public import Hummingbird
import Logging
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
        public init() {}
    }

    public let name = "factory"
    public let configuration: Configuration

    public init(configuration: Configuration = .init()) {
        self.configuration = configuration
    }

    public init(settings: ModuleSettings) throws {
        self.init(configuration: Configuration())
    }

    public func openAPIFragment() throws -> Data? { try openAPIFragment(in: .module) }

    public func migrationLine() throws -> MigrationLine {
        guard let directory = Bundle.module.url(forResource: "Migrations", withExtension: nil)?.appendingPathComponent("factory") else {
            throw StrataError(.migrationInvalid, "The factory migration files are missing from the Factory resources")
        }
        return try MigrationLine(module: name, directory: directory)
    }

    /// Production metrics are kept by month.
    public var partitionedTables: [PartitionedTable] {
        [PartitionedTable(schema: "factory", table: "production_metrics", column: "time", retention: .drop(after: 3))]
    }

    public func addRoutes(to router: any RouterMethods<StrataRequestContext>, environment: ModuleEnvironment) {
        let users = UserService(pool: environment.pool, logger: environment.logger)
        PlantController(plant: PlantService(pool: environment.pool, logger: environment.logger)).addRoutes(to: router)
        AnomaliesController(anomalies: AnomalyService(pool: environment.pool, logger: environment.logger)).addRoutes(to: router)
        UsersController(users: users).addRoutes(to: router)
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
}
