import Foundation
public import Logging
import PostgresNIO
public import StrataCore
public import StrataPostgres
import StrataTelemetry

#if canImport(Glibc)
import Glibc
#endif

/// A database of its own for one test, cloned from the migrated template.
public struct TestDatabase: Sendable {
    /// The database's name.
    public let name: String
    /// How to connect to it.
    public let url: DatabaseURL
    /// A running pool on it (`search_path` empty: unqualified names fail).
    public let pool: PostgresPool
}

/// Gives each test a fresh database.
///
/// One PostgreSQL per test process: the embedded cluster manager starts a throw-away cluster
/// in a temporary folder (deleted when the process ends), or `TEST_DATABASE_URL` names a
/// server to use instead. A template database is migrated once per set of migration lines —
/// the platform's, plus the app lines a test asks for (an app's tests pass the server's lines,
/// exactly what `strata serve` applies) — and each test gets `CREATE DATABASE … TEMPLATE` of it;
/// the database is dropped afterwards. When no server can be had the test fails with
/// the reason (for instance the package to install); it never skips.
///
/// ```swift
/// @Test func insertsATicket() async throws {
///     try await withTestDatabase { database in
///         try await database.pool.query("INSERT INTO …")
///     }
/// }
/// ```
/// - Parameters:
///   - migrated: Clone a migrated template (default) or start from an empty database.
///   - lines: The migration lines besides the platform's (an app's, or the server's).
///   - poolConfiguration: The test pool's configuration.
@discardableResult
public func withTestDatabase<Result: Sendable>(
    migrated: Bool = true,
    lines: [MigrationLine] = [],
    poolConfiguration: PostgresPool.Configuration = TestPostgres.defaultPoolConfiguration,
    _ body: (TestDatabase) async throws -> Result
) async throws -> Result {
    // As in the server: metrics first, so that the pool's instruments report to Prometheus.
    StrataMetrics.bootstrap()
    let name = try await TestPostgres.shared.createDatabase(template: migrated ? lines : nil)
    let url = try await TestPostgres.shared.serverURL.with(database: name)
    let pool = PostgresPool(url: url, configuration: poolConfiguration, logger: TestPostgres.logger)
    do {
        let result = try await pool.withRunning { try await body(TestDatabase(name: name, url: url, pool: pool)) }
        try await TestPostgres.shared.dropDatabase(name)
        return result
    } catch {
        try? await TestPostgres.shared.dropDatabase(name)
        throw error
    }
}

/// The PostgreSQL server of the test process.
public actor TestPostgres {
    /// The one instance.
    public static let shared = TestPostgres()

    /// Test logs: warnings and above unless `TEST_LOG_LEVEL` says otherwise.
    public static let logger: Logger = {
        var logger = Logger(label: "strata.test")
        logger.logLevel = ProcessInfo.processInfo.environment["TEST_LOG_LEVEL"].flatMap(Logger.Level.init(rawValue:)) ?? .warning
        return logger
    }()

    /// Small pools with `search_path` empty.
    public static let defaultPoolConfiguration = PostgresPool.Configuration(
        poolSize: 1,
        maxOverflow: 7,
        acquireTimeout: .seconds(30),
        statementTimeout: .seconds(60),
        searchPath: ""
    )

    private struct Server: Sendable {
        var url: DatabaseURL
        var templateName: String
        var cluster: EmbeddedCluster?
    }

    private var server: Task<Server, any Error>?
    /// Templates migrated with the platform's line and more, by the other lines' modules.
    private var templates: [[String]: Task<String, any Error>] = [:]
    private var counter = 0

    /// The server's address (database `postgres`), starting the server on first use.
    public var serverURL: DatabaseURL {
        get async throws { try await start().url.with(database: "postgres") }
    }

    /// The embedded cluster, when the harness started one.
    public var cluster: EmbeddedCluster? {
        get async throws { try await start().cluster }
    }

    private func start() async throws -> Server {
        if let server { return try await server.value }
        let task = Task { try await Self.bootServer() }
        server = task
        return try await task.value
    }

    private static func bootServer() async throws -> Server {
        let environment = ProcessInfo.processInfo.environment
        let templateName = "strata_template_\(getpid())"
        var server: Server
        if let external = environment["TEST_DATABASE_URL"], !external.isEmpty {
            let url = try DatabaseURL(parsing: external, variable: "TEST_DATABASE_URL")
            server = Server(url: url.with(database: "postgres"), templateName: templateName, cluster: nil)
            try await maintenance(server.url) { connection in
                try await connection.run(
                    PostgresQuery(unsafeSQL: "DROP DATABASE IF EXISTS \(quoteIdentifier(templateName)) WITH (FORCE)"),
                    logger: logger
                )
                try await connection.run(PostgresQuery(unsafeSQL: "CREATE DATABASE \(quoteIdentifier(templateName))"), logger: logger)
            }
        } else {
            removeAbandonedClusters()
            let directory = NSTemporaryDirectory() + "strata-test-\(getpid())"
            let cluster: EmbeddedCluster
            do {
                cluster = try await EmbeddedCluster.start(
                    .init(
                        directory: directory,
                        durable: false,
                        database: templateName,
                        settings: ["max_connections": "400", "shared_buffers": "64MB"],
                        removeWhenStopped: true
                    ),
                    logger: logger
                )
            } catch {
                // Fail loudly: the message names the package to install or the server's complaint.
                throw StrataError(.serverStartFailed, "The test PostgreSQL could not start: \(error)", underlying: error)
            }
            server = Server(url: cluster.url.with(database: "postgres"), templateName: templateName, cluster: cluster)
        }
        try await migrateTemplate(server.url.with(database: templateName))
        return server
    }

    /// Migrates a template with the platform's line and `lines`, then closes every connection
    /// to it (PostgreSQL refuses to copy a database that has sessions).
    private static func migrateTemplate(_ url: DatabaseURL, lines: [MigrationLine] = []) async throws {
        let pool = PostgresPool(url: url, configuration: .init(poolSize: 1, maxOverflow: 1, statementTimeout: nil), logger: logger)
        let migrator = Migrator(lines: [try .platform()] + lines.filter { $0.module != "strata" }, pool: pool, logger: logger)
        try await pool.withRunning { try await migrator.migrate() }
    }

    /// The template migrated with the platform's line and `lines`, made from the platform's
    /// template on first use.
    private func template(for lines: [MigrationLine]) async throws -> String {
        let server = try await start()
        let modules = lines.map(\.module).filter { $0 != "strata" }
        if modules.isEmpty { return server.templateName }
        if let made = templates[modules] { return try await made.value }
        let name = "\(server.templateName)_\(templates.count + 1)"
        let making = Task {
            try await Self.maintenance(server.url) { connection in
                try await connection.run(
                    PostgresQuery(unsafeSQL: "CREATE DATABASE \(quoteIdentifier(name)) TEMPLATE \(quoteIdentifier(server.templateName))"),
                    logger: Self.logger
                )
            }
            try await Self.migrateTemplate(server.url.with(database: name), lines: lines)
            return name
        }
        templates[modules] = making
        return try await making.value
    }

    /// Creates a database for one test: a copy of the template migrated with the platform's
    /// line and `lines`, or an empty one when `lines` is nil.
    func createDatabase(template lines: [MigrationLine]?) async throws -> String {
        let server = try await start()
        var template = "template0"
        if let lines { template = try await self.template(for: lines) }
        counter += 1
        let name = "strata_test_\(getpid())_\(counter)"
        // CREATE DATABASE takes a lock on the template; creating one at a time avoids
        // "source database is being accessed by other users".
        try await Self.maintenance(server.url) { connection in
            try await connection.run(
                PostgresQuery(unsafeSQL: "CREATE DATABASE \(quoteIdentifier(name)) TEMPLATE \(quoteIdentifier(template))"),
                logger: Self.logger
            )
        }
        return name
    }

    /// Drops a test database, disconnecting whatever still uses it.
    func dropDatabase(_ name: String) async throws {
        let server = try await start()
        try await Self.maintenance(server.url) { connection in
            try await connection.run(PostgresQuery(unsafeSQL: "DROP DATABASE IF EXISTS \(quoteIdentifier(name)) WITH (FORCE)"), logger: Self.logger)
        }
    }

    private static func maintenance(_ url: DatabaseURL, _ body: (PostgresConnection) async throws -> Void) async throws {
        try await EmbeddedCluster.withConnection(to: url, logger: logger, body)
    }

    /// Deletes the folders of test clusters whose process died without cleaning up.
    private static func removeAbandonedClusters() {
        let temporary = NSTemporaryDirectory()
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: temporary)) ?? []
        // Only `strata-test-<pid>`: other harnesses' folders share the temporary directory.
        for entry in entries where entry.hasPrefix("strata-test-") && entry.dropFirst("strata-test-".count).allSatisfy(\.isNumber) {
            let directory = temporary + entry
            let descriptor = open(directory + "/manager.lock", O_RDWR | O_CLOEXEC)
            if descriptor >= 0 {
                defer { close(descriptor) }
                guard flock(descriptor, LOCK_EX | LOCK_NB) == 0 else { continue }
            }
            try? FileManager.default.removeItem(atPath: directory)
        }
    }
}
