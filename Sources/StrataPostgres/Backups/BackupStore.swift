public import Foundation
import PostgresNIO
import StrataCore

/// A backup as `strata.backups` records it, with its latest verification.
public struct BackupRecord: Sendable, Codable, Equatable {
    public var id: Int64
    /// `logical`, `full`, `diff` or `incr`.
    public var kind: String
    /// `running`, `succeeded`, `failed` or `expired`.
    public var status: String
    /// The dump file (logical) or the repository (physical).
    public var location: String
    public var databaseName: String
    public var serverVersion: String
    public var toolVersion: String
    public var startedAt: Date
    public var finishedAt: Date?
    public var sizeBytes: Int64?
    public var error: String?
    public var expiredAt: Date?
    /// When it was last verified, and whether that passed.
    public var lastVerifiedAt: Date?
    public var lastVerificationPassed: Bool?
    /// When it was last restored in a drill, and whether that passed.
    public var lastDrilledAt: Date?
    public var lastDrillPassed: Bool?
    /// Physical backups: pgBackRest's label.
    public var label: String?
}

/// The rows of `strata.backups` and `strata.backup_verifications`.
struct BackupStore: Sendable {
    let pool: PostgresPool

    private static let columns = """
        b.id, b.kind, b.status, b.location, b.database_name, b.server_version, b.tool_version, b.started_at, b.finished_at,
        b.size_bytes, b.error, b.expired_at, v.verified_at, v.passed, d.started_at, d.passed, b.label
        FROM strata.backups AS b
        LEFT JOIN LATERAL (
            SELECT verified_at, passed FROM strata.backup_verifications WHERE backup_id = b.id ORDER BY verified_at DESC, id DESC LIMIT 1
        ) AS v ON true
        LEFT JOIN LATERAL (
            SELECT started_at, passed FROM strata.backup_drills WHERE backup_id = b.id ORDER BY started_at DESC, id DESC LIMIT 1
        ) AS d ON true
        """

    func begin(kind: String, location: String, database: String, serverVersion: String, toolVersion: String) async throws -> Int64 {
        let rows = try await pool.query(
            """
            INSERT INTO strata.backups (kind, location, database_name, server_version, tool_version)
            VALUES (\(kind), \(location), \(database), \(serverVersion), \(toolVersion)) RETURNING id
            """
        )
        guard let id = try rows.first?.decode(Int64.self) else { throw StrataError(.internalError, "The backup row was not inserted.") }
        return id
    }

    func succeed(_ id: Int64, size: Int64, manifest: [TableChecksum]?) async throws {
        let json = try manifest.map { String(decoding: try JSONEncoder.api().encode($0), as: UTF8.self) }
        try await pool.query(
            """
            UPDATE strata.backups SET status = 'succeeded', finished_at = clock_timestamp(), size_bytes = \(size), manifest = \(json)::jsonb
            WHERE id = \(id) AND status = 'running'
            """
        )
    }

    /// Records a physical backup's label, LSN range, WAL segments and size as the repository's
    /// catalogue has them.
    func succeedPhysical(_ id: Int64, set: PgBackRest.Info.BackupSet) async throws {
        try await pool.query(
            """
            UPDATE strata.backups SET status = 'succeeded', finished_at = clock_timestamp(), kind = \(set.type),
                tool_version = \("pgBackRest " + (set.backrest?.version ?? "")),
                size_bytes = \(set.info.repository.delta), label = \(set.label), lsn_start = \(set.lsn?.start)::pg_lsn,
                lsn_stop = \(set.lsn?.stop)::pg_lsn, wal_start = \(set.archive?.start), wal_stop = \(set.archive?.stop), prior = \(set.prior)
            WHERE id = \(id) AND status = 'running'
            """
        )
    }

    /// The physical backups Strata recorded, by label.
    func physicalRecords() async throws -> [String: BackupRecord] {
        let records = try await pool.query("SELECT \(unescaped: Self.columns) WHERE b.label IS NOT NULL").map(Self.decode)
        return Dictionary(records.compactMap { record in record.label.map { ($0, record) } }) { first, _ in first }
    }

    /// A backup's manifest (nil when it has none).
    func manifest(_ id: Int64) async throws -> [TableChecksum]? {
        guard let text = try await pool.query("SELECT manifest::text FROM strata.backups WHERE id = \(id)").first?.decode(String?.self) else {
            return nil
        }
        return try JSONDecoder.api().decode([TableChecksum].self, from: Data(text.utf8))
    }

    func recordDrill(
        _ id: Int64,
        startedAt: Date,
        passed: Bool,
        compared: Int,
        differing: Int,
        restoreSeconds: Double?,
        details: JSONValue
    ) async throws -> Int64 {
        let rows = try await pool.query(
            """
            INSERT INTO strata.backup_drills (backup_id, started_at, finished_at, passed, tables_compared, tables_differing, restore_seconds, details)
            VALUES (\(id), \(startedAt), clock_timestamp(), \(passed), \(compared), \(differing), \(restoreSeconds), \(details.text)::jsonb)
            RETURNING id
            """
        )
        return try rows.first?.decode(Int64.self) ?? 0
    }

    func fail(_ id: Int64, error: String) async throws {
        try await pool.query(
            """
            UPDATE strata.backups SET status = 'failed', finished_at = clock_timestamp(), error = \(String(error.prefix(2000)))
            WHERE id = \(id) AND status = 'running'
            """
        )
    }

    func expire(_ id: Int64) async throws -> BackupRecord {
        try await pool.query("UPDATE strata.backups SET status = 'expired', expired_at = now() WHERE id = \(id) AND status = 'succeeded'")
        return try await record(id)
    }

    func record(_ id: Int64) async throws -> BackupRecord {
        guard let backup = try await pool.query("SELECT \(unescaped: Self.columns) WHERE b.id = \(id)").first.map(Self.decode) else {
            throw StrataError(.notFound, "No backup \(id).", details: ["field": "set"])
        }
        return backup
    }

    /// The newest successful backup of a kind.
    func newest(kind: String) async throws -> BackupRecord? {
        try await pool.query(
            "SELECT \(unescaped: Self.columns) WHERE b.kind = \(kind) AND b.status = 'succeeded' ORDER BY b.started_at DESC, b.id DESC LIMIT 1"
        ).first.map(Self.decode)
    }

    /// Backups, newest first.
    func list(limit: Int) async throws -> [BackupRecord] {
        try await pool.query("SELECT \(unescaped: Self.columns) ORDER BY b.started_at DESC, b.id DESC LIMIT \(limit)").map(Self.decode)
    }

    /// Successful backups of a kind started before `cutoff`, oldest first.
    func expirable(kind: String, startedBefore cutoff: Date) async throws -> [BackupRecord] {
        try await pool.query(
            "SELECT \(unescaped: Self.columns) WHERE b.kind = \(kind) AND b.status = 'succeeded' AND b.started_at < \(cutoff) ORDER BY b.started_at, b.id"
        ).map(Self.decode)
    }

    func recordVerification(_ id: Int64, method: String, passed: Bool, details: JSONValue) async throws {
        let json = details.text
        try await pool.query(
            "INSERT INTO strata.backup_verifications (backup_id, method, passed, details) VALUES (\(id), \(method), \(passed), \(json)::jsonb)"
        )
    }

    private static func decode(_ row: PostgresRow) throws -> BackupRecord {
        let (id, kind, status, location, database, server, tool, started, finished) =
            try row.decode((Int64, String, String, String, String, String, String, Date, Date?).self)
        let columns = row.makeRandomAccess()
        return BackupRecord(
            id: id,
            kind: kind,
            status: status,
            location: location,
            databaseName: database,
            serverVersion: server,
            toolVersion: tool,
            startedAt: started,
            finishedAt: finished,
            sizeBytes: try columns[9].decode(Int64?.self),
            error: try columns[10].decode(String?.self),
            expiredAt: try columns[11].decode(Date?.self),
            lastVerifiedAt: try columns[12].decode(Date?.self),
            lastVerificationPassed: try columns[13].decode(Bool?.self),
            lastDrilledAt: try columns[14].decode(Date?.self),
            lastDrillPassed: try columns[15].decode(Bool?.self),
            label: try columns[16].decode(String?.self)
        )
    }
}
