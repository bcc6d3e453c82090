import Foundation
public import Hummingbird
import StrataCore
public import StrataHTTP
public import StrataPostgres

/// `GET /api/workflows/admin/db-metrics`: the seed's `DatabaseMetrics` for this app — the
/// database's connections and transactions, and the writes and live rows of each table of the
/// `workflows` schema, named as `pg_stat_user_tables` names them (`relname`, not the seed's
/// `tablename`). Needs `workflows.admin`.
public struct DatabaseMetricsController: Sendable {
    let pool: PostgresPool

    public init(pool: PostgresPool) {
        self.pool = pool
    }

    struct Metrics: Encodable {
        struct Table: Encodable {
            var schemaname: String
            var relname: String
            var nTupIns: Int64
            var nTupUpd: Int64
            var nTupDel: Int64
            var nLiveTup: Int64

            enum CodingKeys: String, CodingKey {
                case schemaname, relname
                case nTupIns = "n_tup_ins"
                case nTupUpd = "n_tup_upd"
                case nTupDel = "n_tup_del"
                case nLiveTup = "n_live_tup"
            }
        }

        var database: String
        var numbackends: Int
        var xactCommit: Int64
        var xactRollback: Int64
        var tables: [Table]

        enum CodingKeys: String, CodingKey {
            case database, numbackends, tables
            case xactCommit = "xact_commit"
            case xactRollback = "xact_rollback"
        }
    }

    public func addRoutes(to router: any RouterMethods<StrataRequestContext>) {
        router.get("/api/workflows/admin/db-metrics") { _, context in
            try context.requirePermission("workflows.admin")
            let statistics = try await DatabaseStatistics.collect(from: pool, schema: "workflows")
            return try Response.json(
                Metrics(
                    database: statistics.database,
                    numbackends: statistics.connections,
                    xactCommit: statistics.committed,
                    xactRollback: statistics.rolledBack,
                    tables: statistics.tables.map {
                        .init(
                            schemaname: $0.schema,
                            relname: $0.table,
                            nTupIns: $0.inserts,
                            nTupUpd: $0.updates,
                            nTupDel: $0.deletes,
                            nLiveTup: $0.liveRows
                        )
                    }
                )
            )
        }
    }
}
