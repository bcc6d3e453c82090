public import Logging
public import PostgresNIO
import StrataCore

/// Every user table's row count and an ordered checksum of its rows: what a restored copy is
/// compared by, table by table.
public struct TableChecksum: Sendable, Hashable, Codable {
    /// `schema.table`.
    public var table: String
    public var rows: Int64
    /// `md5` of the rows' `md5`s (of their text forms), in order.
    public var checksum: String

    public init(table: String, rows: Int64, checksum: String) {
        self.table = table
        self.rows = rows
        self.checksum = checksum
    }
}

extension TableChecksum {
    /// The checksums of every table (partitions included; partitioned parents, whose rows are
    /// their partitions', left out) outside PostgreSQL's own schemas, in name order, as the
    /// transaction on `connection` sees them.
    /// - Parameter includingUnlogged: Count unlogged tables too (a physical copy has them empty).
    public static func all(on connection: PostgresConnection, includingUnlogged: Bool = true, logger: Logger) async throws -> [TableChecksum] {
        let tables = try await connection.run(
            """
            SELECT quote_ident(n.nspname) || '.' || quote_ident(c.relname)
            FROM pg_class AS c JOIN pg_namespace AS n ON n.oid = c.relnamespace
            WHERE c.relkind = 'r' AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_%'
              AND (\(includingUnlogged) OR c.relpersistence = 'p')
            ORDER BY 1
            """,
            logger: logger
        ).collect().map { try $0.decode(String.self) }
        var checksums: [TableChecksum] = []
        for table in tables {
            // The name comes from the catalogue, quoted there.
            let row = try await connection.run(
                // Each row's md5, in order: 32 bytes a row whatever the row's size.
                PostgresQuery(unsafeSQL: "SELECT count(*), md5(coalesce(string_agg(md5(t::text), '' ORDER BY md5(t::text)), '')) FROM \(table) AS t"),
                logger: logger
            ).collect().first
            let (rows, checksum) = try row?.decode((Int64, String).self) ?? (Int64(0), "")
            checksums.append(TableChecksum(table: table, rows: rows, checksum: checksum))
        }
        return checksums
    }
}
