import ArgumentParser
import Foundation
import StrataCore
import StrataHTTP
import StrataPostgres
import StrataServer

/// `strata seed <app>`: an app's demo data, idempotently (``StrataModule/seedDemoData(environment:)``).
struct Seed: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Load an app's demo data (idempotent: what exists is left as it is), e.g. strata seed workorders."
    )
    @Argument(help: "The app whose demo data to load.") var app: String
    @OptionGroup var options: GlobalOptions

    func run() async throws {
        try await Strata.guarded {
            let (configuration, logger) = try options.configuration(defaultLogLevel: "warning")
            let modules = StrataApplication.modules(configuration: configuration)
            guard let module = modules.first(where: { $0.name == app }) else {
                throw StrataError(.invalidValue, "No app is named '\(app)'; the apps are \(modules.map(\.name).joined(separator: ", ")).")
            }
            let lines = try await withDatabase(configuration, logger: logger) { pool, _ in
                // The schema first, so that seeding a fresh database works.
                _ = try await Migrator(lines: try StrataApplication.migrationLines(of: modules), pool: pool, logger: logger).migrate()
                return try await module.seedDemoData(environment: ModuleEnvironment(pool: pool, logger: logger))
            }
            guard let lines else { throw StrataError(.invalidValue, "The \(app) app has no demo data.") }
            for line in lines { print(line) }
        }
    }
}
