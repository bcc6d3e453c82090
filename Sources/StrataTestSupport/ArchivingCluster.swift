import Foundation
public import PostgresNIO
public import StrataPostgres

/// A PostgreSQL cluster of its own archiving its WAL into a pgBackRest repository of its own,
/// migrated with the given lines: what physical backup tests back up, restore and drill.
public struct ArchivingCluster: Sendable {
    /// The temporary folder holding the cluster, the repository and the restored copies.
    public var folder: String
    public var settings: BackupConfiguration.Physical
    public var cluster: EmbeddedCluster
    public var pool: PostgresPool

    public var configuration: BackupConfiguration { BackupConfiguration(location: folder + "/logical", physical: settings) }

    public func backups() throws -> PhysicalBackup { try PhysicalBackup(pool: pool, configuration: configuration, logger: TestPostgres.logger) }
    public func restores() throws -> PhysicalRestore { try PhysicalRestore(configuration: configuration, logger: TestPostgres.logger) }
    public func tool() throws -> PgBackRest { try PgBackRest(settings: settings, url: cluster.url) }

    /// The embedded cluster's configuration with WAL archiving into the repository.
    public static func clusterConfiguration(_ settings: BackupConfiguration.Physical) -> EmbeddedCluster.Configuration {
        EmbeddedCluster.Configuration(directory: settings.clusterDirectory, durable: false, settings: PgBackRest.archiveSettings(settings))
    }
}

/// Runs `body` with an ``ArchivingCluster`` migrated with the platform's line and `lines`, then
/// stops every restored copy and the cluster and removes the folder.
/// - Throws: what `body` throws; `dependency_missing` when PostgreSQL or pgBackRest is not
///   installed (a test that needs them fails, it does not skip).
public func withArchivingCluster(
    archiveTimeout: Int = 60,
    lines: [MigrationLine] = [],
    _ body: (ArchivingCluster) async throws -> Void
) async throws {
    let folder = NSTemporaryDirectory() + "strata-physical-\(UUID().uuidString.prefix(8))"
    try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(atPath: folder) }
    let settings = BackupConfiguration.Physical(folder: folder, archiveTimeoutSeconds: archiveTimeout)
    let cluster = try await EmbeddedCluster.start(ArchivingCluster.clusterConfiguration(settings), logger: TestPostgres.logger)
    let pool = PostgresPool(url: cluster.url, configuration: .init(poolSize: 4, statementTimeout: nil), logger: TestPostgres.logger)
    let archiving = ArchivingCluster(folder: folder, settings: settings, cluster: cluster, pool: pool)
    func stopCopies() async {
        guard let restores = try? archiving.restores() else { return }
        for copy in restores.copies() { try? await restores.stop(id: copy.id) }
    }
    do {
        try await archiving.tool().prepareStanza()
        try await pool.withRunning {
            let all = [try MigrationLine.platform()] + lines.filter { $0.module != "strata" }
            _ = try await Migrator(lines: all, pool: pool, logger: TestPostgres.logger).migrate()
            try await body(archiving)
        }
    } catch {
        await stopCopies()
        await cluster.stop()
        throw error
    }
    await stopCopies()
    await cluster.stop()
}
