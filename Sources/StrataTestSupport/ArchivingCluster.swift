import Crypto
public import Foundation
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

extension ArchivingCluster {
    /// Moves backups back in time in the repository's catalogue (`backup.info` and its copy):
    /// each label's stop becomes the date `stops` gives it (and its start that less its original
    /// duration), and the file's checksum is computed anew as pgBackRest does — a SHA-1 of the
    /// sections as one JSON object, the checksum left out — so that pgBackRest reads it as its
    /// own. What a retention test ages its backups with.
    public func relabel(_ stops: [String: Date]) throws {
        let folder = "\(settings.repositoryPath)/backup/\(PgBackRest.stanza)"
        var text = try String(contentsOfFile: folder + "/backup.info", encoding: .utf8)
        var lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        for (index, line) in lines.enumerated() {
            guard let equals = line.firstIndex(of: "="), let stop = stops[String(line[..<equals])] else { continue }
            // The entry is pgBackRest's one-line JSON; only its two timestamps change.
            func timestamp(_ key: String) -> (range: Range<String.Index>, value: Int)? {
                guard let keyRange = line.range(of: "\"\(key)\":") else { return nil }
                let digits = line[keyRange.upperBound...].prefix { $0.isNumber }
                return Int(digits).map { (keyRange.upperBound..<digits.endIndex, $0) }
            }
            guard let start = timestamp("backup-timestamp-start"), let end = timestamp("backup-timestamp-stop") else { continue }
            let newStop = Int(stop.timeIntervalSince1970)
            var rewritten = line
            // The later range first, so that the earlier one's indices stay valid.
            for (range, value) in [(start.range, newStop - (end.value - start.value)), (end.range, newStop)].sorted(by: {
                $0.0.lowerBound > $1.0.lowerBound
            }) {
                rewritten.replaceSubrange(range, with: String(value))
            }
            lines[index] = rewritten
        }
        // The checksum: every section but the checksum key, in file order, as `{"section":{"key":value,…},…}`.
        var sections: [(name: String, pairs: [String])] = []
        for line in lines where !line.isEmpty {
            if line.hasPrefix("[") {
                sections.append((String(line.dropFirst().dropLast()), []))
            } else if let equals = line.firstIndex(of: "="), line[..<equals] != "backrest-checksum", !sections.isEmpty {
                sections[sections.count - 1].pairs.append("\"\(line[..<equals])\":\(line[line.index(after: equals)...])")
            }
        }
        let canonical =
            "{" + sections.filter { !$0.pairs.isEmpty }.map { "\"\($0.name)\":{\($0.pairs.joined(separator: ","))}" }.joined(separator: ",") + "}"
        let checksum = Insecure.SHA1.hash(data: Data(canonical.utf8)).map { String(format: "%02x", $0) }.joined()
        lines = lines.map { $0.hasPrefix("backrest-checksum=") ? "backrest-checksum=\"\(checksum)\"" : $0 }
        text = lines.joined(separator: "\n")
        for name in ["backup.info", "backup.info.copy"] {
            // Rewritten in place, so that the file keeps its owner (the user that runs PostgreSQL).
            let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: "\(folder)/\(name)"))
            try handle.truncate(atOffset: 0)
            try handle.write(contentsOf: Data(text.utf8))
            try handle.close()
        }
    }
}
