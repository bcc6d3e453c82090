import Foundation
import PostgresNIO
import StrataCore

/// The database figures of seed 004: connections and transactions from `pg_stat_database`,
/// per-table writes and live rows from `pg_stat_user_tables` (whose name column is `relname`).
///
/// PostgreSQL publishes these counters with a short delay (sessions flush them about once a
/// second), so a write is visible here shortly after it commits, not at once.
public struct DatabaseStatistics: Sendable, Codable, Equatable {
    /// Counters of one user table.
    public struct Table: Sendable, Codable, Equatable {
        public var schema: String
        public var table: String
        public var inserts: Int64
        public var updates: Int64
        public var deletes: Int64
        public var liveRows: Int64

        enum CodingKeys: String, CodingKey {
            case schema, table, inserts, updates, deletes
            case liveRows = "live_rows"
        }
    }

    /// The current database's name.
    public var database: String
    /// Backends connected to it (`numbackends`).
    public var connections: Int
    /// Committed transactions (`xact_commit`).
    public var committed: Int64
    /// Rolled-back transactions (`xact_rollback`).
    public var rolledBack: Int64
    /// Every user table, by schema then name.
    public var tables: [Table]

    enum CodingKeys: String, CodingKey {
        case database, connections, committed, tables
        case rolledBack = "rolled_back"
    }

    /// Reads the figures of the pool's database.
    /// - Parameter schema: Only the tables of this schema (an app's); all when `nil`.
    /// - Throws: A mapped database error.
    public static func collect(from pool: PostgresPool, schema: String? = nil) async throws -> DatabaseStatistics {
        try await pool.withConnection { connection in
            let log = pool.statementLogger
            let databaseRows = try await connection.run(
                """
                SELECT datname::text, numbackends, xact_commit, xact_rollback
                FROM pg_catalog.pg_stat_database WHERE datname = current_database()
                """,
                logger: log
            ).collect()
            guard let row = databaseRows.first else {
                throw StrataError(.databaseError, "pg_stat_database has no row for the current database")
            }
            let (database, connections, committed, rolledBack) = try row.decode((String, Int32, Int64, Int64).self)
            var tables: [Table] = []
            let tableRows = try await connection.run(
                """
                SELECT schemaname::text, relname::text, n_tup_ins, n_tup_upd, n_tup_del, n_live_tup
                FROM pg_catalog.pg_stat_user_tables WHERE \(schema)::text IS NULL OR schemaname = \(schema)
                ORDER BY schemaname, relname
                """,
                logger: log
            )
            for try await (schema, table, inserts, updates, deletes, live) in tableRows.decode((String, String, Int64, Int64, Int64, Int64).self) {
                tables.append(Table(schema: schema, table: table, inserts: inserts, updates: updates, deletes: deletes, liveRows: live))
            }
            return DatabaseStatistics(
                database: database,
                connections: Int(connections),
                committed: committed,
                rolledBack: rolledBack,
                tables: tables
            )
        }
    }

    /// The figures in the Prometheus text format (`strata_pg_*` series), for `/metrics`.
    public var prometheusText: String {
        func escape(_ value: String) -> String {
            value.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"").replacingOccurrences(
                of: "\n",
                with: "\\n"
            )
        }
        let db = "database=\"\(escape(database))\""
        var text = """
            # HELP strata_pg_connections Backends connected to the database (pg_stat_database.numbackends).
            # TYPE strata_pg_connections gauge
            strata_pg_connections{\(db)} \(connections)
            # HELP strata_pg_transactions_committed_total Committed transactions (pg_stat_database.xact_commit).
            # TYPE strata_pg_transactions_committed_total counter
            strata_pg_transactions_committed_total{\(db)} \(committed)
            # HELP strata_pg_transactions_rolled_back_total Rolled-back transactions (pg_stat_database.xact_rollback).
            # TYPE strata_pg_transactions_rolled_back_total counter
            strata_pg_transactions_rolled_back_total{\(db)} \(rolledBack)

            """
        let series: [(String, String, String, KeyPath<Table, Int64>)] = [
            ("strata_pg_table_inserts_total", "counter", "Rows inserted (pg_stat_user_tables.n_tup_ins).", \.inserts),
            ("strata_pg_table_updates_total", "counter", "Rows updated (pg_stat_user_tables.n_tup_upd).", \.updates),
            ("strata_pg_table_deletes_total", "counter", "Rows deleted (pg_stat_user_tables.n_tup_del).", \.deletes),
            ("strata_pg_table_live_rows", "gauge", "Estimated live rows (pg_stat_user_tables.n_live_tup).", \.liveRows),
        ]
        for (name, type, help, path) in series {
            text += "# HELP \(name) \(help)\n# TYPE \(name) \(type)\n"
            for table in tables {
                text += "\(name){schema=\"\(escape(table.schema))\",table=\"\(escape(table.table))\"} \(table[keyPath: path])\n"
            }
        }
        return text
    }
}
