import ArgumentParser
import Foundation
import StrataCore
import StrataPostgres
import StrataServer

/// `strata migrate …`: the migration ledger.
struct Migrate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Apply and inspect schema migrations.",
        subcommands: [Status.self, Up.self, DryRun.self, Verify.self, Repair.self],
        defaultSubcommand: Status.self
    )

    struct Status: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List every migration and its state.")
        @OptionGroup var options: GlobalOptions

        func run() async throws {
            try await Strata.guarded {
                let analysis = try await options.withMigrator { try await $0.status() }
                printTable(analysis.entries)
                for problem in analysis.blockingErrors { print("problem: \(problem.message)") }
            }
        }
    }

    struct Up: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Apply every pending migration.")
        @OptionGroup var options: GlobalOptions

        @Flag(help: "Apply pending files numbered below applied ones instead of refusing.")
        var allowOutOfOrder = false

        @Option(help: "Longest wait for another migrator, e.g. 60s.")
        var lockTimeout: String = "60s"

        func run() async throws {
            try await Strata.guarded {
                guard let timeout = EnvironmentReader.parseDuration(lockTimeout) else {
                    throw StrataError(.invalidConfiguration, "--lock-timeout: '\(lockTimeout)' is not a duration such as 60s")
                }
                let migrateOptions = Migrator.Options(lockTimeout: timeout, allowOutOfOrder: allowOutOfOrder)
                let applied = try await options.withMigrator(migrateOptions) { try await $0.migrate { line in print(line) } }
                print(applied.isEmpty ? "Up to date: nothing to apply." : "Applied \(applied.count) migration(s); the database is current.")
            }
        }
    }

    struct DryRun: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "dry-run",
            abstract: "Print what `up` would apply, changing nothing (read-only, no lock)."
        )
        @OptionGroup var options: GlobalOptions

        func run() async throws {
            try await Strata.guarded {
                let analysis = try await options.withMigrator { try await $0.status() }
                if let problem = analysis.blockingErrors.first {
                    for problem in analysis.blockingErrors { print("problem: \(problem.message)") }
                    throw problem
                }
                if analysis.toApply.isEmpty {
                    print("Up to date: nothing to apply.")
                } else {
                    print("Plan: \(analysis.toApply.count) migration(s) would be applied, in this order:")
                    for migration in analysis.toApply {
                        let mode = migration.isTransactional ? "" : " (no transaction)"
                        print("  \(migration.fileName)\(mode)  sha256:\(migration.checksum.prefix(12))")
                    }
                }
            }
        }
    }

    struct Verify: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Exit 0 only when every migration is applied and unchanged."
        )
        @OptionGroup var options: GlobalOptions

        func run() async throws {
            try await Strata.guarded {
                let analysis = try await options.withMigrator { try await $0.status() }
                let problems = analysis.entries.filter { $0.state != .applied }
                for entry in problems { print("\(entry.fileName): \(entry.state.rawValue)") }
                guard analysis.isCurrent && analysis.blockingErrors.isEmpty else {
                    throw StrataError(.notReady, "The database is not current: \(problems.count) migration(s) need attention.")
                }
                print("Verified: \(analysis.entries.count) migration(s) applied and unchanged.")
            }
        }
    }

    struct Repair: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Accept edited applied files by recording their new checksums."
        )
        @OptionGroup var options: GlobalOptions

        func run() async throws {
            try await Strata.guarded {
                let repaired = try await options.withMigrator { try await $0.repair() }
                if repaired.isEmpty { print("Nothing to repair.") }
                for file in repaired { print("accepted the new checksum of \(file)") }
            }
        }
    }
}

extension GlobalOptions {
    /// Runs `body` with a migrator over every module's migration lines, on the configured
    /// database (embedded or `DATABASE_URL`), then closes everything.
    func withMigrator<Result: Sendable>(
        _ migratorOptions: Migrator.Options = .init(),
        _ body: @Sendable (Migrator) async throws -> Result
    ) async throws -> Result {
        let (configuration, logger) = try configuration(defaultLogLevel: "warning")
        return try await withDatabase(configuration, logger: logger) { pool, _ in
            try await body(Migrator(lines: try StrataApplication.migrationLines(), pool: pool, options: migratorOptions, logger: logger))
        }
    }
}

func printTable(_ entries: [MigrationStatus]) {
    let formatter = ISO8601DateFormatter()
    let rows = entries.map { entry in
        [
            entry.module, String(format: "%04d", entry.version), entry.name, entry.state.rawValue,
            entry.appliedAt.map { formatter.string(from: $0) } ?? "-", entry.durationMilliseconds.map { "\($0) ms" } ?? "-",
        ]
    }
    printColumns(header: ["MODULE", "VERSION", "NAME", "STATE", "APPLIED AT", "DURATION"], rows: rows)
}

/// Prints rows as left-aligned columns.
func printColumns(header: [String], rows: [[String]]) {
    var widths = header.map(\.count)
    for row in rows { for (index, cell) in row.enumerated() { widths[index] = max(widths[index], cell.count) } }
    func line(_ cells: [String]) -> String {
        cells.enumerated().map { index, cell in
            index == cells.count - 1 ? cell : cell.padding(toLength: widths[index], withPad: " ", startingAt: 0)
        }.joined(separator: "  ")
    }
    print(line(header))
    for row in rows { print(line(row)) }
}
