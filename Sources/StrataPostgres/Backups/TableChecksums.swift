public import Logging
public import PostgresNIO
import StrataCore

/// Every user table's row count and a checksum of its rows: what a restored copy is compared
/// by, table by table.
///
/// The checksum is a multiset hash: the exact sum of every row's 64-bit hash, so that it does
/// not depend on the order rows are read in — a restored copy lays them out anew — while a row
/// added, lost, changed or duplicated changes it (a random change goes unnoticed with a
/// probability of about 2⁻⁶⁴, and the row count is compared besides). Rows are hashed
/// with `hash_record_extended` (each column by its type's own hash function, no text
/// conversion or sort: about eight times cheaper than an ordered `md5` of every row's text),
/// or by their text form with `hashtextextended` when a column's type has no hash function
/// (`json`, `xml`, composite and range types) or the server is older than PostgreSQL 14.
/// Manifests taken before this scheme (`md5` of the rows' sorted `md5`s) are recognised by
/// their form and compared by recomputing that way (``Method/orderedMD5``); manifests that
/// carry a second sum (seed 1) after the first are compared by the first (``matches(_:)``).
public struct TableChecksum: Sendable, Hashable, Codable {
    /// `schema.table`.
    public var table: String
    public var rows: Int64
    /// `h:<sum>` (rows hashed by type), `t:<sum>` (by text form), or a plain `md5`
    /// (``Method/orderedMD5``).
    public var checksum: String

    public init(table: String, rows: Int64, checksum: String) {
        self.table = table
        self.rows = rows
        self.checksum = checksum
    }

    /// Whether `other` (taken now) shows the same rows as this entry of a manifest: the same
    /// table, row count and checksum, a manifest's second sum (taken with seed 1 by earlier
    /// versions) left aside.
    public func matches(_ other: TableChecksum) -> Bool {
        func firstSum(_ checksum: String) -> Substring {
            let parts = checksum.split(separator: ":", omittingEmptySubsequences: false)
            return parts.count == 3 ? checksum.prefix(parts[0].count + 1 + parts[1].count) : Substring(checksum)
        }
        return table == other.table && rows == other.rows && firstSum(checksum) == firstSum(other.checksum)
    }

    /// How the checksums are computed.
    public enum Method: Sendable {
        /// The sum of 64-bit row hashes (the default).
        case rowHashes
        /// `md5` of the rows' `md5`s in order (manifests taken before row hashes).
        case orderedMD5

        /// The method a manifest was taken with.
        public static func of(_ manifest: [TableChecksum]) -> Method {
            manifest.contains { !$0.checksum.isEmpty && !$0.checksum.contains(":") } ? .orderedMD5 : .rowHashes
        }
    }
}

extension TableChecksum {
    /// The checksums of every table (partitions included; partitioned parents, whose rows are
    /// their partitions', left out) outside PostgreSQL's own schemas, in name order, as the
    /// transaction on `connection` sees them.
    /// - Parameters:
    ///   - includingUnlogged: Count unlogged tables too (a physical copy has them empty).
    ///   - method: ``Method/rowHashes`` unless comparing with a manifest taken the old way.
    public static func all(
        on connection: PostgresConnection,
        includingUnlogged: Bool = true,
        method: Method = .rowHashes,
        logger: Logger
    ) async throws -> [TableChecksum] {
        // Whether every column's type (a domain's base type, an array's element type) has a
        // default hash operator class: then the whole row can be hashed by type.
        let tables = try await connection.run(
            """
            SELECT quote_ident(n.nspname) || '.' || quote_ident(c.relname),
                   current_setting('server_version_num')::int >= 140000 AND NOT EXISTS (
                       SELECT 1
                       FROM pg_attribute AS a
                       JOIN pg_type AS declared ON declared.oid = a.atttypid
                       JOIN pg_type AS base ON base.oid = CASE WHEN declared.typtype = 'd' THEN declared.typbasetype ELSE declared.oid END
                       JOIN pg_type AS element ON element.oid = CASE WHEN base.typcategory = 'A' THEN base.typelem ELSE base.oid END
                       WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
                         AND (element.typtype IN ('c', 'd', 'p', 'r', 'm') OR NOT EXISTS (
                             SELECT 1 FROM pg_opclass AS oc JOIN pg_am AS am ON am.oid = oc.opcmethod
                             WHERE am.amname = 'hash' AND oc.opcdefault
                               AND oc.opcintype = CASE WHEN element.typtype = 'e' THEN 'anyenum'::regtype::oid ELSE element.oid END
                         ))
                   )
            FROM pg_class AS c JOIN pg_namespace AS n ON n.oid = c.relnamespace
            WHERE c.relkind = 'r' AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_%'
              AND (\(includingUnlogged) OR c.relpersistence = 'p')
            ORDER BY 1
            """,
            logger: logger
        ).collect().map { try $0.decode((String, Bool).self) }
        var checksums: [TableChecksum] = []
        for (table, hashable) in tables {
            // The name comes from the catalogue, quoted there.
            let sql =
                switch method {
                case .orderedMD5:
                    "SELECT count(*), md5(coalesce(string_agg(md5(t::text), '' ORDER BY md5(t::text)), '')) FROM \(table) AS t"
                case .rowHashes where hashable:
                    "SELECT count(*), 'h:' || coalesce(sum(hash_record_extended(t, 0)), 0) FROM \(table) AS t"
                case .rowHashes:
                    "SELECT count(*), 't:' || coalesce(sum(hashtextextended(t::text, 0)), 0) FROM \(table) AS t"
                }
            let row = try await connection.run(PostgresQuery(unsafeSQL: sql), logger: logger).collect().first
            let (rows, checksum) = try row?.decode((Int64, String).self) ?? (Int64(0), "")
            checksums.append(TableChecksum(table: table, rows: rows, checksum: checksum))
        }
        return checksums
    }
}
