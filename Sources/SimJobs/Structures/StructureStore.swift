import Foundation
import Logging
import PostgresNIO
import StrataCore
import StrataObjects
import StrataPostgres

/// The SQL of `simjobs.structures`: plain reads on the pool, changes on the connection of the
/// service's transaction; rows decoded by column name.
struct StructureStore: Sendable {
    let pool: PostgresPool

    static let columns =
        "id, name, format, checksum, file_size, object_key, n_atoms, formula, space_group, is_builtin, expires_at, created_at"

    static func structure(from row: PostgresRow) throws -> Structure {
        let columns = row.makeRandomAccess()
        return Structure(
            id: try columns["id"].decode(UUID.self),
            name: try columns["name"].decode(String.self),
            format: StructureFormat(rawValue: try columns["format"].decode(String.self)) ?? .cif,
            checksum: try columns["checksum"].decode(String.self),
            fileSize: try columns["file_size"].decode(Int64.self),
            atomCount: try columns["n_atoms"].decode(Int32?.self).map(Int.init),
            formula: try columns["formula"].decode(String?.self),
            spaceGroup: try columns["space_group"].decode(String?.self),
            isBuiltin: try columns["is_builtin"].decode(Bool.self),
            expiresAt: try columns["expires_at"].decode(Date?.self),
            createdAt: try columns["created_at"].decode(Date.self),
            objectKey: try columns["object_key"].decode(String.self)
        )
    }

    /// One structure, or `nil`.
    func find(_ id: UUID) async throws -> Structure? {
        try await pool.query("SELECT \(unescaped: Self.columns) FROM simjobs.structures WHERE id = \(id)").first.map(Self.structure(from:))
    }

    /// Structures, newest first, a keyset page at a time.
    func list(_ filter: StructureService.Filter, limit: Int, cursor: Cursor?) async throws -> Page<Structure> {
        let position = try NewestFirst<UUID>(after: cursor)
        let rows = try await pool.query(
            """
            SELECT \(unescaped: Self.columns), \(unescaped: NewestFirst<UUID>.positionColumn) FROM simjobs.structures
            WHERE (\(filter.builtin)::boolean IS NULL OR is_builtin = \(filter.builtin))
              AND (\(filter.format?.rawValue)::text IS NULL OR format = \(filter.format?.rawValue))
              AND \(after: position)
            ORDER BY created_at DESC, id DESC
            LIMIT \(limit + 1)
            """
        )
        return try position.page(rows, limit: limit, item: Self.structure(from:), id: \.id)
    }

    /// Inserts an upload's row; `nil` when a row with the same checksum exists (it wins).
    func insert(
        id: UUID,
        name: String,
        format: StructureFormat,
        checksum: String,
        size: Int64,
        key: ObjectKey,
        parsed: StructureFile,
        builtin: Bool,
        on connection: PostgresConnection,
        logger: Logger
    ) async throws -> Structure? {
        try await connection.run(
            """
            INSERT INTO simjobs.structures (id, name, format, checksum, file_size, object_key, n_atoms, formula, space_group, is_builtin, expires_at)
            VALUES (\(id), \(name), \(format.rawValue), \(checksum), \(size), \(key.rawValue), \(parsed.atomCount),
                    \(parsed.formula.map { String($0.prefix(500)) }), \(parsed.spaceGroup), \(builtin),
                    CASE WHEN \(builtin) THEN NULL ELSE now() + \(StructureService.lifetimeDays) * interval '1 day' END)
            ON CONFLICT (checksum) DO NOTHING
            RETURNING \(unescaped: Self.columns)
            """,
            logger: logger
        ).collect().first.map(Self.structure(from:))
    }

    /// The row with `checksum`, its expiry pushed out to `lifetimeDays` from now (built-in ones
    /// never expire), or `nil`.
    func refresh(checksum: String, lifetimeDays: Int) async throws -> Structure? {
        try await pool.query(
            """
            UPDATE simjobs.structures
            SET expires_at = CASE WHEN is_builtin THEN NULL
                                  ELSE greatest(expires_at, now() + \(lifetimeDays) * interval '1 day') END
            WHERE checksum = \(checksum)
            RETURNING \(unescaped: Self.columns)
            """
        ).first.map(Self.structure(from:))
    }

    /// Deletes an uploaded (not built-in) structure; `nil` when there is none such.
    func deleteUploaded(_ id: UUID, on connection: PostgresConnection, logger: Logger) async throws -> Structure? {
        try await connection.run(
            "DELETE FROM simjobs.structures WHERE id = \(id) AND NOT is_builtin RETURNING \(unescaped: Self.columns)",
            logger: logger
        ).collect().first.map(Self.structure(from:))
    }

    /// Whether a structure exists.
    func exists(_ id: UUID, on connection: PostgresConnection, logger: Logger) async throws -> Bool {
        try await !connection.run("SELECT 1 FROM simjobs.structures WHERE id = \(id)", logger: logger).collect().isEmpty
    }

    /// Deletes up to `limit` uploaded structures past their expiry.
    /// - Returns: Their object keys, for the objects to go too.
    func deleteExpired(limit: Int) async throws -> [String] {
        try await pool.query(
            """
            WITH old AS (
                SELECT id FROM simjobs.structures WHERE NOT is_builtin AND expires_at < now()
                LIMIT \(limit) FOR UPDATE SKIP LOCKED
            )
            DELETE FROM simjobs.structures AS s USING old WHERE s.id = old.id RETURNING s.object_key
            """
        ).map { try $0.makeRandomAccess()["object_key"].decode(String.self) }
    }
}
