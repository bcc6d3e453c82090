import ArgumentParser
import Foundation
import StrataCore
import StrataPostgres
import StrataServer
import WorkOrders

/// `strata seed workorders`: demo data, idempotently.
struct Seed: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Load demo data into an app (idempotent: what exists is left as it is).",
        subcommands: [WorkOrdersSeed.self]
    )

    struct WorkOrdersSeed: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "workorders",
            abstract: "A few work orders with steps, progress, messages and a customer account."
        )
        @OptionGroup var options: GlobalOptions

        func run() async throws {
            try await Strata.guarded {
                let (configuration, logger) = try options.configuration(defaultLogLevel: "warning")
                let report = try await withDatabase(configuration, logger: logger) { pool, _ in
                    // The schema first, so that seeding a fresh database works.
                    _ = try await Migrator(lines: try StrataApplication.migrationLines(), pool: pool, logger: logger).migrate()
                    let service = WorkOrdersService(repository: PostgresWorkOrdersRepository(pool: pool), redis: nil, logger: logger)
                    return try await WorkOrdersDemo.seed(service)
                }
                for (code, id) in report.created { print("created \(code) (\(id.uuidString))") }
                for code in report.skipped { print("exists  \(code) (left as it is)") }
                for customer in report.customers {
                    print("customer account for \(customer.orderCode): login \(customer.login), password \(customer.password) (shown once)")
                }
                print("Seeded workorders: \(report.created.count) created, \(report.skipped.count) already there.")
            }
        }
    }
}
