import ArgumentParser
import Foundation
import StrataCore
import StrataPostgres
import StrataServer

/// `strata db …`: database figures.
struct Database: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "db",
        abstract: "Database operations.",
        subcommands: [Stats.self, Checksums.self]
    )

    struct Checksums: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Page checksums of the embedded cluster.",
            subcommands: [Enable.self]
        )

        struct Enable: AsyncParsableCommand {
            static let configuration = CommandConfiguration(
                abstract:
                    "Turn page checksums on for the embedded cluster (offline: stop `strata serve` first; pg_checksums rewrites every page)."
            )
            @OptionGroup var options: GlobalOptions

            func run() async throws {
                try await Strata.guarded {
                    let (configuration, logger) = try options.configuration(defaultLogLevel: "warning")
                    guard configuration.databaseURL == nil else {
                        throw StrataError(
                            .invalidValue,
                            "DATABASE_URL names an external server: run pg_checksums --enable on it yourself, with the server stopped."
                        )
                    }
                    let directory = configuration.embeddedPostgresDirectory
                    let changed = try await EmbeddedCluster.enableChecksums(directory: directory, logger: logger)
                    print(changed ? "page checksums enabled in \(directory)" : "page checksums were already on in \(directory)")
                }
            }
        }
    }

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
