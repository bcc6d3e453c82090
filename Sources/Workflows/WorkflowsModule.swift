public import Foundation
public import Hummingbird
import Logging
public import ServiceLifecycle
import StrataCore
public import StrataHTTP
public import StrataPostgres

/// The workflow automation store (`workflows`, seed 004): versioned workflows, executions run
/// by leased workers (external engines over the HTTP worker protocol), exact statistics. The
/// module's service rescues executions whose worker was lost (Crashed, or retried when the
/// workflow allows it), so none is left Running without a live worker.
public struct WorkflowsModule: ConfigurableModule {
    /// The app's settings.
    public struct Configuration: Sendable {
        /// Limits of a workflow's graph (`WORKFLOWS_MAX_NODES`, `WORKFLOWS_MAX_GRAPH_BYTES`).
        public var graphLimits: WorkflowGraph.Limits
        /// The largest execution input or result kept, in bytes (`WORKFLOWS_MAX_RESULT_BYTES`).
        public var resultLimit: Int
        /// Which ended executions are pruned (`WORKFLOWS_PRUNE_MAX_AGE`, `WORKFLOWS_PRUNE_MAX_COUNT`,
        /// `WORKFLOWS_PRUNE_HARD_DELETE_BUFFER`).
        public var pruning: ExecutionPruning.Policy

        public init(graphLimits: WorkflowGraph.Limits = .init(), resultLimit: Int = 16 << 20, pruning: ExecutionPruning.Policy = .init()) {
            self.graphLimits = graphLimits
            self.resultLimit = resultLimit
            self.pruning = pruning
        }
    }

    public let name = "workflows"
    public let configuration: Configuration

    public init(configuration: Configuration = .init()) {
        self.configuration = configuration
    }

    /// Reads `WORKFLOWS_MAX_NODES`, `WORKFLOWS_MAX_GRAPH_BYTES`, `WORKFLOWS_MAX_RESULT_BYTES` and
    /// the pruning policy (`WORKFLOWS_PRUNE_MAX_AGE`, `WORKFLOWS_PRUNE_MAX_COUNT` — 0 for no count
    /// limit — and `WORKFLOWS_PRUNE_HARD_DELETE_BUFFER`).
    public init(settings: ModuleSettings) throws {
        let environment = settings.environment
        self.init(
            configuration: Configuration(
                graphLimits: .init(
                    maxNodes: try environment.int("WORKFLOWS_MAX_NODES", default: 1000, in: 1...100_000),
                    maxBytes: try environment.int("WORKFLOWS_MAX_GRAPH_BYTES", default: 2 << 20, in: 1024...(256 << 20))
                ),
                resultLimit: try environment.int("WORKFLOWS_MAX_RESULT_BYTES", default: 16 << 20, in: 1024...(1 << 30)),
                pruning: .init(
                    maxAge: try environment.duration(
                        "WORKFLOWS_PRUNE_MAX_AGE",
                        default: .seconds(14 * 86_400),
                        in: .seconds(60) ... .seconds(86_400 * 3650)
                    ),
                    maxCount: try environment.int("WORKFLOWS_PRUNE_MAX_COUNT", default: 10_000, in: 0...1_000_000_000).nonZero,
                    hardDeleteBuffer: try environment.duration("WORKFLOWS_PRUNE_HARD_DELETE_BUFFER", default: .seconds(3_600))
                )
            )
        )
    }

    public var uploadLimits: [UploadLimit] {
        let graph = configuration.graphLimits.maxBytes * 2
        let data = configuration.resultLimit + (64 << 10)
        return [
            UploadLimit(path: "/api/workflows/workflows", limit: graph),
            UploadLimit(path: "/api/workflows/workflows/{id}", limit: graph),
            UploadLimit(path: "/api/workflows/workflows/{id}/executions", limit: data),
            UploadLimit(path: "/api/workflows/executions/{id}/finish", limit: data),
            // 1,000 lines of up to 10,000 characters (4 bytes each at most).
            UploadLimit(path: "/api/workflows/executions/{id}/progress", limit: 48 << 20),
        ]
    }

    public func openAPIFragment() throws -> Data? { try openAPIFragment(in: .module) }

    /// `strata seed workflows`: three demo workflows with a history of executions (``WorkflowsDemo``).
    public func seedDemoData(environment: ModuleEnvironment) async throws -> [String]? {
        let lines = try await WorkflowsDemo.seed(pool: environment.pool, logger: environment.logger)
        return lines + [
            "Seeded workflows: \(lines.filter { $0.hasPrefix("created") }.count) created, \(lines.filter { $0.hasPrefix("exists") }.count) already there."
        ]
    }

    public func migrationLine() throws -> MigrationLine {
        guard let directory = Bundle.module.url(forResource: "Migrations", withExtension: nil)?.appendingPathComponent("workflows") else {
            throw StrataError(.migrationInvalid, "The workflows migration files are missing from the Workflows resources")
        }
        return try MigrationLine(module: name, directory: directory)
    }

    /// Raw insight points are kept a year by month.
    public var partitionedTables: [PartitionedTable] {
        [PartitionedTable(schema: "workflows", table: "insight_raw", column: "created_at", retention: .drop(after: 12))]
    }

    public func addRoutes(to router: any RouterMethods<StrataRequestContext>, environment: ModuleEnvironment) {
        let workflows = WorkflowService(pool: environment.pool, limits: configuration.graphLimits, logger: environment.logger)
        let executions = ExecutionService(pool: environment.pool, resultLimit: configuration.resultLimit, logger: environment.logger)
        WorkflowsController(workflows: workflows, executions: executions).addRoutes(to: router)
        ExecutionsController(executions: executions).addRoutes(to: router)
        DatabaseMetricsController(pool: environment.pool).addRoutes(to: router)
    }

    /// The supervisor: rescues executions whose worker was lost, and prunes executions hourly.
    public func services(environment: ModuleEnvironment) -> [any Service] {
        let pruning = ExecutionPruning(pool: environment.pool, policy: configuration.pruning)
        return [
            JobWorker(
                pool: environment.pool,
                handlers: [ExecutionPruning.kind: pruning.handler],
                schedules: [pruning.schedule],
                rescueHandlers: [ExecutionService.queue: ExecutionService.rescueHandler(pool: environment.pool)],
                configuration: .init(queues: [ExecutionPruning.queue], concurrency: 1, pollInterval: .seconds(2), name: "workflows-supervisor"),
                logger: environment.logger
            )
        ]
    }
}

extension Int {
    /// The number, or `nil` when it is 0 (a setting's "no limit").
    fileprivate var nonZero: Int? { self == 0 ? nil : self }
}
