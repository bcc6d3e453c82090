public import Foundation
public import Hummingbird
import Logging
public import ServiceLifecycle
public import StrataCore
public import StrataEvents
public import StrataHTTP
public import StrataPostgres
public import StrataSecurity

/// The GPU simulation task server (`simjobs`): its schema, its routes under `/api/simjobs/`,
/// and the server-side half of its queue — a ``JobWorker`` that rescues tasks whose worker died
/// (their job's lease expired), so a task is never left RUNNING without a live worker even when
/// no `strata worker` is running, and runs the app's daily retention (``SimJobsRetention``). The workers themselves are
/// `strata worker --gpus … --exec …` processes (``TaskRunner``).
public struct SimJobsModule: ConfigurableModule {
    /// The app's settings.
    public struct Configuration: Sendable {
        /// The largest structure upload in bytes (`SIMJOBS_UPLOAD_MAX_SIZE`, 100 MiB as the seed).
        public var uploadMaxSize: Int
        /// The folder whose file system the `disk_free_gb` alert rule watches (`$STRATA_HOME`).
        public var diskPath: String
        /// Where rules with the `webhook` channel send their alerts
        /// (`SIMJOBS_ALERT_WEBHOOK_URL`, `SIMJOBS_ALERT_WEBHOOK_SECRET`).
        public var alertWebhook: AlertWebhook?

        public init(uploadMaxSize: Int = 100 << 20, diskPath: String = ".", alertWebhook: AlertWebhook? = nil) {
            self.uploadMaxSize = uploadMaxSize
            self.diskPath = diskPath
            self.alertWebhook = alertWebhook
        }
    }

    /// The receiver of alert notifications and the secret its requests are signed with.
    public struct AlertWebhook: Sendable {
        public var url: String
        public var secret: String

        public init(url: String, secret: String) {
            self.url = url
            self.secret = secret
        }

        /// Reads `SIMJOBS_ALERT_WEBHOOK_URL` and `SIMJOBS_ALERT_WEBHOOK_SECRET` (both or neither).
        /// - Throws: `invalid_configuration` naming the variable.
        public init?(environment: EnvironmentReader, outbound: OutboundAddressPolicy) throws {
            let url = environment.string("SIMJOBS_ALERT_WEBHOOK_URL")
            let secret = environment.string("SIMJOBS_ALERT_WEBHOOK_SECRET")
            guard let url else {
                if let secret {
                    throw environment.invalid("SIMJOBS_ALERT_WEBHOOK_SECRET", secret, allowed: "only with SIMJOBS_ALERT_WEBHOOK_URL")
                }
                return nil
            }
            if let problem = outbound.problem(with: url) {
                throw environment.invalid(
                    "SIMJOBS_ALERT_WEBHOOK_URL",
                    url,
                    allowed: "a URL that \(problem.replacingOccurrences(of: "must", with: "does")) (WEBHOOK_ALLOWED_NETWORKS opens private networks)"
                )
            }
            guard let secret, (16...256).contains(secret.textLength) else {
                throw environment.invalid(
                    "SIMJOBS_ALERT_WEBHOOK_SECRET",
                    secret ?? "",
                    allowed: "a signing secret of 16 to 256 characters, required with SIMJOBS_ALERT_WEBHOOK_URL"
                )
            }
            self.init(url: url, secret: secret)
        }
    }

    public let name = "simjobs"
    public let configuration: Configuration

    public init(configuration: Configuration = .init()) {
        self.configuration = configuration
    }

    /// Reads `SIMJOBS_UPLOAD_MAX_SIZE`, `SIMJOBS_ALERT_WEBHOOK_URL` and
    /// `SIMJOBS_ALERT_WEBHOOK_SECRET`; the disk rule watches `$STRATA_HOME`.
    public init(settings: ModuleSettings) throws {
        let environment = settings.environment
        self.init(
            configuration: Configuration(
                uploadMaxSize: try environment.int("SIMJOBS_UPLOAD_MAX_SIZE", default: 100 << 20, in: 1024...(1 << 31)),
                diskPath: settings.home,
                alertWebhook: try AlertWebhook(environment: environment, outbound: settings.outbound)
            )
        )
    }

    public var uploadLimits: [UploadLimit] {
        [UploadLimit(path: "/api/simjobs/structures", limit: configuration.uploadMaxSize)]
    }

    public func openAPIFragment() throws -> Data? { try openAPIFragment(in: .module) }

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

    public func addRoutes(to parent: any RouterMethods<StrataRequestContext>, environment: ModuleEnvironment) {
        let router = parent.group().add(middleware: ServerErrorLog(systemLog: SystemLog(pool: environment.pool)))
        TasksController(pool: environment.pool, secrets: environment.secrets, outbound: environment.outbound).addRoutes(to: router)
        ModelsController(catalog: ModelCatalog(pool: environment.pool)).addRoutes(to: router)
        AlertsController(alerts: AlertService(pool: environment.pool, notifier: notifier(environment)), systemLog: SystemLog(pool: environment.pool))
            .addRoutes(to: router)
        StructuresController(service: StructureService(pool: environment.pool, objects: environment.objects)).addRoutes(to: router)
    }

    public func services(environment: ModuleEnvironment) -> [any Service] {
        [
            JobWorker(
                pool: environment.pool,
                handlers: SimJobsRetention.handlers(pool: environment.pool, objects: environment.objects).merging(
                    [
                        AlertEvaluator.kind: AlertEvaluator.handler(
                            pool: environment.pool,
                            diskPath: configuration.diskPath,
                            notifier: notifier(environment)
                        )
                    ]
                ) { first, _ in first },
                schedules: SimJobsRetention.schedules + [AlertEvaluator.schedule],
                rescueHandlers: [TaskService.queue: TaskService.rescueHandler(pool: environment.pool)],
                configuration: .init(queues: [SimJobsRetention.queue], concurrency: 1, pollInterval: .seconds(2), name: "simjobs-supervisor"),
                logger: environment.logger
            )
        ]
    }

    /// The alert notifier: the configured webhook, sealed with the server's secret box.
    func notifier(_ environment: ModuleEnvironment) -> AlertNotifier {
        do {
            return try AlertNotifier(
                webhook: configuration.alertWebhook.map { ($0.url, $0.secret) },
                secrets: environment.secrets,
                logger: environment.logger
            )
        } catch {
            environment.logger.error("alert webhook secret could not be sealed; alerts are only logged", metadata: ["strata.error": "\(error)"])
            return .logOnly(logger: environment.logger)
        }
    }
}
