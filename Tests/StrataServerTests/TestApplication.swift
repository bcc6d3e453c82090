import Hummingbird
import HummingbirdTesting
import Logging
import StrataCore
import StrataHTTP
import StrataPostgres
import StrataServer
import StrataTestSupport

/// The server's router — every middleware, the platform module plus `modules` — over a fresh
/// test database, driven through Hummingbird's router test client. The one way HTTP tests build
/// the application.
/// - Parameters:
///   - variables: The server's environment (`ServerConfiguration`).
///   - migrated: Clone the migrated template (default) or start empty.
///   - routes: Where the registered endpoints are recorded.
///   - prepare: Runs on the database before the router is built (tables of test modules).
///   - checks: The readiness checks.
///   - environment: The modules' environment (default: the pool and `logger`, no Redis).
func withTestApplication<Result: Sendable>(
    modules: [any StrataModule] = [],
    variables: [String: String] = [:],
    migrated: Bool = true,
    readiness: Readiness = Readiness(),
    routes: RouteTable = RouteTable(),
    prepare: @Sendable (TestDatabase) async throws -> Void = { _ in },
    checks: @Sendable (TestDatabase) throws -> [ReadinessCheck] = { _ in [] },
    environment: (@Sendable (TestDatabase) throws -> ModuleEnvironment)? = nil,
    logger: Logger = TestPostgres.logger,
    _ body: @escaping @Sendable (TestDatabase, any TestClientProtocol, ModuleEnvironment) async throws -> Result
) async throws -> Result {
    try await withTestDatabase(migrated: migrated, lines: try StrataApplication.migrationLines()) { database in
        try await prepare(database)
        let configuration = try ServerConfiguration(environment: EnvironmentReader(variables))
        // Signed tokens as in the server, so that the apps' sign-in routes are registered.
        let moduleEnvironment =
            try environment?(database)
            ?? ModuleEnvironment(pool: database.pool, tokens: try TokenIssuer(secret: Array("0123456789abcdef0123456789abcdef".utf8)), logger: logger)
        let router = StrataApplication.buildRouter(
            configuration: configuration,
            pool: database.pool,
            modules: StrataApplication.modules + modules,
            readiness: readiness,
            checks: try checks(database),
            environment: moduleEnvironment,
            routes: routes,
            logger: logger
        )
        return try await Application(router: router, logger: logger).test(.router) { client in
            try await body(database, client, moduleEnvironment)
        }
    }
}
