public import Foundation
public import Hummingbird
import StrataCore
public import StrataHTTP
public import StrataPostgres

/// The work-order collaboration app (`workorders`, seed 003): its schema, its routes under
/// `/api/workorders/`, and the customer sign-in (`POST /api/workorders/login`).
public struct WorkOrdersModule: ConfigurableModule {
    /// Where the app keeps its data.
    public enum Store: String, Sendable, CaseIterable {
        /// PostgreSQL (the default).
        case postgres
        /// The process's memory: the demo mode, no database for this app (`WORKORDERS_STORE=memory`).
        case memory
    }

    /// The app's settings.
    public struct Configuration: Sendable {
        public var store: Store
        /// The largest attachment in bytes (`WORKORDERS_UPLOAD_MAX_SIZE`, 20 MiB).
        public var uploadMaxSize: Int

        public init(store: Store = .postgres, uploadMaxSize: Int = WorkOrdersService.defaultUploadMaxSize) {
            self.store = store
            self.uploadMaxSize = uploadMaxSize
        }
    }

    /// The principal scope that limits a signed-in customer to their order.
    public static let orderScope = "work_order_ids"

    public let name = "workorders"
    public let configuration: Configuration
    /// The memory store of this module, when it uses one (shared by its routes).
    let memory: InMemoryWorkOrdersRepository?

    public init(configuration: Configuration = .init()) {
        self.configuration = configuration
        self.memory = configuration.store == .memory ? InMemoryWorkOrdersRepository() : nil
    }

    /// Reads `WORKORDERS_STORE` (`postgres` or `memory`) and `WORKORDERS_UPLOAD_MAX_SIZE`.
    public init(settings: ModuleSettings) throws {
        let environment = settings.environment
        self.init(
            configuration: Configuration(
                store: try environment.choice("WORKORDERS_STORE", default: Store.postgres),
                uploadMaxSize: try environment.int(
                    "WORKORDERS_UPLOAD_MAX_SIZE",
                    default: WorkOrdersService.defaultUploadMaxSize,
                    in: 1024...(1 << 31)
                )
            )
        )
    }

    public var uploadLimits: [UploadLimit] {
        [UploadLimit(path: "/api/workorders/orders/{id}/attachments", limit: configuration.uploadMaxSize)]
    }

    /// Three demo work orders with steps, progress, messages and a customer account.
    public func seedDemoData(environment: ModuleEnvironment) async throws -> [String]? {
        let service = WorkOrdersService(repository: PostgresWorkOrdersRepository(pool: environment.pool), redis: nil, logger: environment.logger)
        let report = try await WorkOrdersDemo.seed(service)
        var lines = report.created.map { "created \($0.code) (\($0.id.uuidString))" }
        lines += report.skipped.map { "exists  \($0) (left as it is)" }
        lines += report.customers.map {
            "customer account for \($0.orderCode): login \($0.login), password \($0.password) (shown once)"
        }
        lines.append("Seeded workorders: \(report.created.count) created, \(report.skipped.count) already there.")
        return lines
    }

    public func openAPIFragment() throws -> Data? { try openAPIFragment(in: .module) }

    public func migrationLine() throws -> MigrationLine {
        guard let directory = Bundle.module.url(forResource: "Migrations", withExtension: nil)?.appendingPathComponent("workorders") else {
            throw StrataError(.migrationInvalid, "The workorders migration files are missing from the WorkOrders resources")
        }
        return try MigrationLine(module: name, directory: directory)
    }

    /// The store the module's routes use.
    public func repository(environment: ModuleEnvironment) -> any WorkOrdersRepository {
        memory ?? PostgresWorkOrdersRepository(pool: environment.pool)
    }

    public func addRoutes(to router: any RouterMethods<StrataRequestContext>, environment: ModuleEnvironment) {
        let repository = repository(environment: environment)
        let service = WorkOrdersService(
            repository: repository,
            redis: configuration.store == .memory ? nil : environment.redis,
            objects: environment.objects,
            logger: environment.logger
        )
        WorkOrdersController(service: service).addRoutes(to: router)
        let events = EventsController(pool: environment.pool, redis: environment.redis, hub: environment.hub, streams: environment.streams)
        router.get("/api/workorders/orders/{id}/events") { request, context in
            let scope = try WorkOrdersController.readScope(context)
            let id = try WorkOrdersController.orderID(context)
            _ = try await service.order(id, scope: scope)  // 404 before the stream starts
            return try await events.stream(app: name, aggregateID: id.uuidString, request: request, context: context)
        }
        if let tokens = environment.tokens {
            LoginController(
                app: name,
                directory: CustomerDirectory(repository: repository),
                issuer: tokens,
                revocations: environment.revocations,
                limiter: environment.limiter
            ).addRoutes(to: router)
        }
    }
}

/// Customers sign in with their temporary account: a principal that reads its one order and
/// may post messages on it.
struct CustomerDirectory: UserDirectory {
    let repository: any WorkOrdersRepository

    func credentials(forLogin login: String) async throws -> UserCredentials? {
        guard let credential = try await repository.customerCredential(login: login) else { return nil }
        let access = credential.access
        return UserCredentials(
            passwordHash: credential.passwordHash,
            principal: Principal(
                id: "customer:\(access.id.uuidString)",
                name: access.login,
                kind: .user,
                permissions: ["workorders.read", "workorders.chat"],
                scopes: [WorkOrdersModule.orderScope: [access.workOrderID.uuidString]]
            )
        )
    }
}
