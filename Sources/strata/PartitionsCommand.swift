import ArgumentParser
import Foundation
import StrataPostgres
import StrataServer

/// `strata partitions status | maintain`.
struct Partitions: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Partitioned tables: their partitions, rows left in the default partition, and retention.",
        subcommands: [Status.self, Maintain.self]
    )

    struct Status: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract:
                "Show each partitioned table's partitions, default-partition rows (should be 0), missing months and what retention would remove."
        )
        @OptionGroup var options: GlobalOptions

        func run() async throws {
            try await Strata.guarded {
                let (configuration, logger) = try options.configuration(defaultLogLevel: "warning")
                let tables = StrataApplication.partitionedTables(of: StrataApplication.modules(configuration: configuration))
                let statuses = try await withDatabase(configuration, logger: logger) { pool, _ in
                    try await PartitionMaintainer(tables: tables, pool: pool, logger: logger).status()
                }
                for status in statuses {
                    let table = status.table
                    print(
                        "\(table.qualifiedName)  by \(table.interval.rawValue) on \(table.column), \(table.createAhead) ahead, retention: \(table.retention)"
                    )
                    printColumns(
                        header: ["PARTITION", "BOUNDS", "ROWS (EST.)"],
                        rows: status.partitions.map { [$0.name, $0.bound, $0.estimatedRows < 0 ? "-" : "\($0.estimatedRows)"] }
                    )
                    print("rows in default partition: \(status.defaultRows)\(status.defaultRows > 0 ? "  (run `strata partitions maintain`)" : "")")
                    print("missing: \(status.missing.isEmpty ? "none" : status.missing.joined(separator: ", "))")
                    let verb: String =
                        switch table.retention {
                        case .keep: "retention removes nothing (keep)"
                        case .detach: "retention would detach"
                        case .drop: "retention would drop"
                        }
                    print("\(verb): \(status.expired.isEmpty ? "none" : status.expired.joined(separator: ", "))\n")
                }
            }
        }
    }

    struct Maintain: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Create the partitions ahead, move default-partition rows into theirs, and apply the declared retention."
        )
        @OptionGroup var options: GlobalOptions

        func run() async throws {
            try await Strata.guarded {
                let (configuration, logger) = try options.configuration(defaultLogLevel: "warning")
                let tables = StrataApplication.partitionedTables(of: StrataApplication.modules(configuration: configuration))
                let reports = try await withDatabase(configuration, logger: logger) { pool, _ in
                    try await PartitionMaintainer(tables: tables, pool: pool, logger: logger).maintain()
                }
                for report in reports {
                    func list(_ names: [String]) -> String { names.isEmpty ? "none" : names.joined(separator: ", ") }
                    print(
                        "\(report.table): created \(list(report.created)); moved \(report.movedRows) row(s) from the default partition; "
                            + "detached \(list(report.detached)); dropped \(list(report.dropped))"
                    )
                }
            }
        }
    }
}
