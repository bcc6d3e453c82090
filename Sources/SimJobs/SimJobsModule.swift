import Foundation
public import Hummingbird
public import ServiceLifecycle
import StrataCore
public import StrataHTTP
public import StrataPostgres

/// The GPU simulation task server (`simjobs`): its schema, its routes under `/api/simjobs/`,
/// and the server-side half of its queue — a ``JobWorker`` that rescues tasks whose worker died
/// (their job's lease expired), so a task is never left RUNNING without a live worker even when
/// no `strata worker` is running, and runs the app's daily retention (``SimJobsRetention``). The workers themselves are
/// `strata worker --gpus … --exec …` processes (``TaskRunner``).
public struct SimJobsModule: StrataModule {
    /// The app's settings.
    public struct Configuration: Sendable {
        /// The largest structure upload in bytes (`SIMJOBS_UPLOAD_MAX_SIZE`, 100 MiB as the seed).
        public var uploadMaxSize: Int
        /// The folder whose file system the `disk_free_gb` alert rule watches (`$STRATA_HOME`).
        public var diskPath: String

        public init(uploadMaxSize: Int = 100 << 20, diskPath: String = ".") {
            self.uploadMaxSize = uploadMaxSize
            self.diskPath = diskPath
        }
    }

    public let name = "simjobs"
    public let configuration: Configuration

    public init(configuration: Configuration = .init()) {
        self.configuration = configuration
    }

    public var uploadLimits: [UploadLimit] {
        [UploadLimit(path: "/api/simjobs/structures", limit: configuration.uploadMaxSize)]
    }

    public func migrationLine() throws -> MigrationLine {
        guard let directory = Bundle.module.url(forResource: "Migrations", withExtension: nil)?.appendingPathComponent("simjobs") else {
            throw StrataError(.migrationInvalid, "The simjobs migration files are missing from the SimJobs resources")
        }
        return try MigrationLine(module: name, directory: directory)
    }

    /// Task logs and system logs are kept (monthly partitions); alerts for a year.
    public var partitionedTables: [PartitionedTable] {
        [
            PartitionedTable(schema: "simjobs", table: "task_logs", column: "created_at"),
            PartitionedTable(schema: "simjobs", table: "system_logs", column: "created_at"),
            PartitionedTable(schema: "simjobs", table: "alerts", column: "created_at", retention: .drop(after: 12)),
        ]
    }

    public func addRoutes(to router: any RouterMethods<StrataRequestContext>, environment: ModuleEnvironment) {
        TasksController(pool: environment.pool, secrets: environment.secrets, outbound: environment.outbound).addRoutes(to: router)
        ModelsController(catalog: ModelCatalog(pool: environment.pool)).addRoutes(to: router)
        AlertsController(alerts: AlertService(pool: environment.pool), systemLog: SystemLog(pool: environment.pool)).addRoutes(to: router)
        StructuresController(service: StructureService(pool: environment.pool, objects: environment.objects)).addRoutes(to: router)
    }

    public func services(environment: ModuleEnvironment) -> [any Service] {
        [
            JobWorker(
                pool: environment.pool,
                handlers: SimJobsRetention.handlers(pool: environment.pool, objects: environment.objects).merging(
                    [AlertEvaluator.kind: AlertEvaluator.handler(pool: environment.pool, diskPath: configuration.diskPath)]
                ) { first, _ in first },
                schedules: SimJobsRetention.schedules + [AlertEvaluator.schedule],
                rescueHandlers: [TaskService.queue: TaskService.rescueHandler(pool: environment.pool)],
                configuration: .init(queues: [SimJobsRetention.queue], concurrency: 1, pollInterval: .seconds(2), name: "simjobs-supervisor"),
                logger: environment.logger
            )
        ]
    }
}
