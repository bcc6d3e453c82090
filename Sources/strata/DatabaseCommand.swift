import ArgumentParser
import Foundation
import StrataCore
import StrataPostgres

/// `strata db …`: database figures.
struct Database: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "db",
        abstract: "Database operations.",
        subcommands: [Stats.self]
    )

    struct Stats: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Connections, transactions and per-table writes (pg_stat_database, pg_stat_user_tables)."
        )
        @OptionGroup var options: GlobalOptions

        @Flag(help: "Print JSON instead of a table.")
        var json = false

        func run() async throws {
            try await Strata.guarded {
                let (configuration, logger) = try options.configuration(defaultLogLevel: "warning")
                let statistics = try await withDatabase(configuration, logger: logger) { pool, _ in
                    try await DatabaseStatistics.collect(from: pool)
                }
                if json {
                    print(String(decoding: try JSONEncoder.api(pretty: true).encode(statistics), as: UTF8.self))
                    return
                }
                print("database     \(statistics.database)")
                print("connections  \(statistics.connections)")
                print("committed    \(statistics.committed)")
                print("rolled back  \(statistics.rolledBack)")
                print("")
                printColumns(
                    header: ["SCHEMA", "TABLE", "INSERTS", "UPDATES", "DELETES", "LIVE ROWS"],
                    rows: statistics.tables.map { [$0.schema, $0.table, "\($0.inserts)", "\($0.updates)", "\($0.deletes)", "\($0.liveRows)"] }
                )
            }
        }
    }
}
