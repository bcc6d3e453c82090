public import Hummingbird
public import HummingbirdTesting
public import Logging
public import StrataHTTP
public import StrataPostgres

/// One module's routes through the whole HTTP stack (``StrataRouter``: every middleware,
/// `/health`, `/ready`, `/metrics`) over a fresh test database migrated with the platform's
/// line and the module's own, driven through Hummingbird's test client. The one way an app's
/// route tests build their application; no other app and no server code is involved.
///
/// ```swift
/// try await withTestModule(WorkOrdersModule(store: .postgres)) { database, client, environment in
///     let key = try await APIKeyStore(pool: database.pool).create(.init(name: "w", permissions: ["workorders.*"])).secret
///     try await client.execute(uri: "/api/workorders/orders", method: .get, headers: [.xAPIKey: key]) { … }
/// }
/// ```
/// - Parameters:
///   - module: The module to serve.
///   - live: Serve on a real loopback socket (Hummingbird's `.live`) instead of the router test
///     client (streams, raw sockets).
///   - environment: The module's environment (default: the pool, a test token issuer, no Redis).
///   - limits: The stack's request limits.
public func withTestModule<Result: Sendable>(
    _ module: any StrataModule,
    live: Bool = false,
    environment: (@Sendable (TestDatabase) async throws -> ModuleEnvironment)? = nil,
    limits: StrataRouter.Limits = .init(),
    logger: Logger = TestPostgres.logger,
    _ body: @escaping @Sendable (TestDatabase, any TestClientProtocol, ModuleEnvironment) async throws -> Result
) async throws -> Result {
    try await withTestDatabase(lines: [try module.migrationLine()]) { database in
        let moduleEnvironment =
            try await environment?(database)
            ?? ModuleEnvironment(pool: database.pool, tokens: try TestModule.tokens(), logger: logger)
        let router = StrataRouter.build(modules: [module], environment: moduleEnvironment, limits: limits)
        // A live server listens on a free loopback port (its client knows which).
        let configuration: ApplicationConfiguration = live ? .init(address: .hostname("127.0.0.1", port: 0)) : .init()
        return try await Application(router: router, configuration: configuration, logger: logger).test(live ? .live : .router) { client in
            try await body(database, client, moduleEnvironment)
        }
    }
}

/// What ``withTestModule(_:live:environment:limits:logger:_:)`` gives modules by default.
public enum TestModule {
    /// A token issuer with a fixed test secret, so that the modules' sign-in routes are served.
    public static func tokens() throws -> TokenIssuer {
        try TokenIssuer(secret: Array("0123456789abcdef0123456789abcdef".utf8))
    }
}
