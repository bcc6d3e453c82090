import Foundation
import Hummingbird
public import Logging
import NIOCore
import ServiceLifecycle
public import StrataCore
import StrataHTTP
import StrataObjects
public import StrataPostgres
import StrataRedis
public import StrataSecurity
import StrataTelemetry
import UnixSignals

/// Runs the Strata server: the database (embedded unless `DATABASE_URL` is set), the
/// migrations, the HTTP application and every module's services, in one `ServiceGroup` that
/// shuts down gracefully on SIGTERM and SIGINT.
public enum StrataServer {
    /// Starts everything and returns when the server has shut down.
    /// - Throws: Start-up failures (cluster, migrations, port in use) as ``StrataError``.
    public static func serve(configuration: ServerConfiguration, logger: Logger) async throws {
        StrataMetrics.bootstrap()
        let database = try await DatabaseEndpoint.open(configuration: configuration, logger: logger)
        let hotLayer = await HotLayer.open(configuration: configuration, logger: logger)
        do {
            try await run(configuration: configuration, database: database, hotLayer: hotLayer, logger: logger)
        } catch {
            await hotLayer.embedded?.stop()
            await database.cluster?.stop()
            throw error
        }
    }

    /// Brings the database up to date before any service starts: the migrations, then one
    /// partition maintenance pass (so that the relay, the workers and the first requests find
    /// their tables and this month's partitions). Uses a short-lived pool of its own.
    static func prepareDatabase(url: DatabaseURL, modules: [any StrataModule], configuration: ServerConfiguration, logger: Logger) async throws {
        var poolConfiguration = configuration.pool
        poolConfiguration.poolSize = 1
        poolConfiguration.maxOverflow = 1
        let pool = PostgresPool(url: url, configuration: poolConfiguration, logger: logger)
        try await pool.withRunning {
            let migrator = Migrator(lines: try StrataApplication.migrationLines(of: modules), pool: pool, logger: logger)
            let applied = try await migrator.migrate { line in logger.info("\(line)") }
            logger.info("migrations current", metadata: ["strata.migrations.applied": "\(applied.count)"])
            let maintainer = PartitionMaintainer(tables: StrataApplication.partitionedTables(of: modules), pool: pool, logger: logger)
            for report in try await maintainer.maintain() where !report.created.isEmpty {
                logger.info(
                    "created partitions",
                    metadata: ["strata.partitions.table": "\(report.table)", "strata.partitions.created": "\(report.created)"]
                )
            }
        }
    }

    /// `JWT_SECRET`, or the key kept in `$STRATA_HOME/jwt-secret` (made on first start, mode 0600).
    static func jwtSecret(_ configuration: ServerConfiguration) throws -> [UInt8] {
        try configuredOrStoredSecret(configuration.jwtSecret, file: configuration.jwtSecretFile, home: configuration.home)
    }

    /// The box for secrets kept at rest: `STRATA_SECRET_KEY`, or the key kept in
    /// `$STRATA_HOME/secret-key` (made on first start, mode 0600). Every process that opens
    /// sealed secrets (the server) must use the same one.
    public static func secretBox(_ configuration: ServerConfiguration) throws -> SecretBox {
        try SecretBox(material: configuredOrStoredSecret(configuration.secretKey, file: configuration.secretKeyFile, home: configuration.home))
    }

    /// A configured secret, or one generated once and kept in `file` (mode 0600).
    private static func configuredOrStoredSecret(_ configured: String?, file path: String, home: String) throws -> [UInt8] {
        if let configured { return Array(configured.utf8) }
        if let stored = try? String(contentsOfFile: path, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines), stored.utf8.count >= 32 {
            return Array(stored.utf8)
        }
        let secret = Data(SecureRandom.bytes(48)).base64EncodedString()
        try FileManager.default.createDirectory(atPath: home, withIntermediateDirectories: true)
        try FileSystem.writeSecret(secret, to: path, owner: nil)
        return Array(secret.utf8)
    }

    private static func run(
        configuration: ServerConfiguration,
        database: DatabaseEndpoint,
        hotLayer: HotLayer,
        logger: Logger
    ) async throws {
        let modules = StrataApplication.modules(configuration: configuration)
        try await prepareDatabase(url: database.url, modules: modules, configuration: configuration, logger: logger)
        let pool = PostgresPool(url: database.url, configuration: configuration.pool, logger: logger)
        let tokens = try TokenIssuer(secret: try jwtSecret(configuration), lifetime: configuration.jwtLifetime)
        let environment = ModuleEnvironment(
            pool: pool,
            redis: hotLayer.client,
            tokens: tokens,
            secrets: try secretBox(configuration),
            objects: try configuration.objects.makeStore(),
            outbound: configuration.outbound,
            logger: logger
        )
        let migrator = Migrator(lines: try StrataApplication.migrationLines(of: modules), pool: pool, logger: logger)
        let readiness = Readiness()
        let router = StrataApplication.buildRouter(
            configuration: configuration,
            pool: pool,
            modules: modules,
            readiness: readiness,
            checks: StrataApplication.readinessChecks(pool: pool, migrator: migrator) + [hotLayer.readinessCheck],
            redis: hotLayer.client,
            environment: environment,
            logger: logger
        )
        let listener = HTTPListener()
        let application = Application(
            router: router,
            server: .guardedHTTP1(policy: configuration.http, metrics: ConnectionMetrics()),
            configuration: .init(address: .hostname(configuration.host, port: configuration.port), serverName: "strata"),
            onServerRunning: { channel in
                listener.opened(channel)
                let port = channel.localAddress?.port ?? configuration.port
                let base = "http://\(configuration.host):\(port)"
                logger.notice("Strata is serving", metadata: ["strata.url": "\(base)"])
                let banner = """
                    Strata is running at \(base)  (health \(base)/health, ready \(base)/ready, metrics \(base)/metrics)
                    Database: \(database.url)\(database.cluster == nil ? "" : " (embedded, \(configuration.embeddedPostgresDirectory))")
                    Objects:  \(configuration.objects.summary)
                    Redis:    \(hotLayer.client.map { "\($0.configuration.url)\(hotLayer.embedded == nil ? "" : " (embedded)")" } ?? "disabled (\(hotLayer.disabledReason ?? "not configured"))")

                    """
                FileHandle.standardOutput.write(Data(banner.utf8))
            },
            logger: logger
        )
        let partitions = PartitionMaintainer(
            tables: StrataApplication.partitionedTables(of: modules),
            pool: pool,
            configuration: configuration.partitionMaintenance,
            logger: logger
        )
        var services: [ServiceGroupConfiguration.ServiceConfiguration] = []
        let shutDownOnExit = ServiceGroupConfiguration.ServiceConfiguration.TerminationBehavior.gracefullyShutdownGroup
        if let cluster = database.cluster {
            // Restarts a PostgreSQL that died; ends the server if it cannot.
            let keeper = EmbeddedClusterKeeper(cluster: cluster, logger: logger)
            services.append(.init(service: keeper, successTerminationBehavior: shutDownOnExit, failureTerminationBehavior: shutDownOnExit))
        }
        services.append(.init(service: pool, successTerminationBehavior: shutDownOnExit, failureTerminationBehavior: shutDownOnExit))
        for service in hotLayer.keeperServices {
            services.append(.init(service: service, successTerminationBehavior: shutDownOnExit, failureTerminationBehavior: shutDownOnExit))
        }
        services.append(.init(service: partitions, successTerminationBehavior: shutDownOnExit, failureTerminationBehavior: shutDownOnExit))
        for module in modules {
            for service in module.services(environment: environment) {
                services.append(.init(service: service, successTerminationBehavior: shutDownOnExit, failureTerminationBehavior: shutDownOnExit))
            }
        }
        services.append(.init(service: application, successTerminationBehavior: shutDownOnExit, failureTerminationBehavior: shutDownOnExit))
        services.append(
            .init(service: ReadinessDrainService(readiness: readiness, delay: configuration.drainDelay, listener: listener, logger: logger))
        )

        var groupConfiguration = ServiceGroupConfiguration(
            services: services,
            gracefulShutdownSignals: [.sigterm, .sigint],
            logger: logger
        )
        groupConfiguration.maximumGracefulShutdownDuration = configuration.drainDelay + configuration.gracePeriod + .seconds(60)
        try await ServiceGroup(configuration: groupConfiguration).run()
    }
}

/// The database a command talks to: `DATABASE_URL`, or the embedded cluster under `STRATA_HOME`.
public struct DatabaseEndpoint: Sendable {
    /// Where to connect.
    public var url: DatabaseURL
    /// The embedded cluster, when this process started it.
    public var cluster: EmbeddedCluster?

    /// Opens the configured database: the URL as given, or the embedded cluster (started here,
    /// or the one a running `strata serve` owns on the same `STRATA_HOME`).
    ///
    /// When backups are enabled and pgBackRest is installed, the embedded cluster archives its
    /// WAL into the backup repository (`archive_mode`, `archive_command`, `archive_timeout`),
    /// whose stanza is made here if it is new.
    /// - Parameter startTimeout: The longest wait for the cluster to accept connections (a
    ///   cluster recovering from a restore waits until it is promoted).
    public static func open(
        configuration: ServerConfiguration,
        logger: Logger,
        startTimeout: Duration = .seconds(60)
    ) async throws -> DatabaseEndpoint {
        if let url = configuration.databaseURL { return DatabaseEndpoint(url: url, cluster: nil) }
        var clusterConfiguration = EmbeddedCluster.Configuration(directory: configuration.embeddedPostgresDirectory, startTimeout: startTimeout)
        if let running = try EmbeddedCluster.runningInstance(clusterConfiguration) {
            logger.info("using the embedded PostgreSQL of the running Strata server")
            return DatabaseEndpoint(url: running, cluster: nil)
        }
        let archiving = configuration.backups.enabled ? configuration.backups.physical.flatMap { PgBackRest.isInstalled ? $0 : nil } : nil
        if let archiving { clusterConfiguration.settings = PgBackRest.archiveSettings(archiving) }
        let cluster = try await EmbeddedCluster.start(clusterConfiguration, logger: logger)
        if let archiving {
            do {
                try await PgBackRest(settings: archiving, url: cluster.url).prepareStanza()
            } catch {
                logger.error(
                    "WAL archiving into the backup repository does not work; physical backups and point-in-time restore will fail until it does",
                    metadata: ["error": "\(error)"]
                )
            }
        } else if configuration.backups.enabled, configuration.backups.physical != nil {
            logger.warning("pgBackRest is not installed: WAL is not archived and physical backups cannot be taken (apt-get install -y pgbackrest)")
        }
        return DatabaseEndpoint(url: cluster.url, cluster: cluster)
    }
}
