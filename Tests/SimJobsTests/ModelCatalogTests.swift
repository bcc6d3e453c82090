import Foundation
import PostgresNIO
import StrataCore
import StrataPostgres
import StrataTestSupport
import Testing

@testable import SimJobs

@Suite struct ModelCatalogTests {
    @Test(.timeLimit(.minutes(1)))
    func aCustomModelRunsOnlyOnceValidatedAndCanBeDeletedOnlyWhileUnused() async throws {
        try await withTestDatabase(lines: [try SimJobsModule().migrationLine()]) { database in
            let pool = database.pool
            let catalog = ModelCatalog(pool: pool)
            let tasks = TaskService(pool: pool)
            let builtin = try await catalog.model("mace-mp-0-medium")
            #expect(builtin.isBuiltin && builtin.withD3 && builtin.isValidated)

            let model = try await catalog.register(
                .init(name: "my-mace-ft", framework: "mace", description: "fine-tuned on MOFs", config: .object(["cutoff": .number(6)])),
                by: .job("tester")
            )
            #expect(model.isCustom && !model.isValidated && model.withD3, "D3 is on unless asked otherwise")
            #expect(model.config["cutoff"]?.numberValue == 6)
            await #expect(throws: StrataError(.conflict, "")) {
                try await catalog.register(.init(name: "my-mace-ft", framework: "mace"), by: .job("tester"))
            }
            let submission = TaskService.Submission(modelName: "my-mace-ft", structureName: "MOF-5")
            await #expect(throws: StrataError(.modelNotValidated, "")) {
                try await tasks.submit([submission], type: .optimization, by: .job("tester"))
            }
            // A failed validation keeps it out too, with the reason kept.
            let failed = try await catalog.recordValidation(
                "my-mace-ft",
                .init(valid: false, message: "checkpoint does not load"),
                by: .job("tester")
            )
            #expect(!failed.isValidated && failed.validationMessage == "checkpoint does not load" && failed.validatedAt != nil)
            _ = try await catalog.recordValidation("my-mace-ft", .init(valid: true), by: .job("tester"))
            let task = try await tasks.submit([submission], type: .optimization, by: .job("tester"))[0]
            #expect(task.modelName == "my-mace-ft")

            let disabled = try await catalog.update("my-mace-ft", .init(isEnabled: false, withD3: false), by: .job("tester"))
            #expect(!disabled.isEnabled && !disabled.withD3)
            await #expect(throws: StrataError(.invalidReference, "")) {
                try await tasks.submit([submission], type: .optimization, by: .job("tester"))
            }
            await #expect(throws: StrataError(.modelInUse, "")) { try await catalog.delete("my-mace-ft", by: .job("tester")) }
            await #expect(throws: StrataError(.modelInUse, "")) { try await catalog.delete("orb-v2", by: .job("tester")) }
            await #expect(throws: StrataError(.notFound, "")) { try await catalog.delete("nothing", by: .job("tester")) }

            let unused = try await catalog.register(.init(name: "scratch", framework: "orb"), by: .job("tester"))
            try await catalog.delete(unused.name, by: .job("tester"))
            await #expect(throws: StrataError(.notFound, "")) { try await catalog.model("scratch") }

            let kinds = try await pool.query("SELECT kind FROM strata.outbox WHERE aggregate_type = 'model' ORDER BY id").map {
                try $0.decode(String.self)
            }
            #expect(kinds == ["model.registered", "model.validated", "model.validated", "model.updated", "model.registered", "model.deleted"])
        }
    }

    @Test func registrationsAreCheckedFieldByField() async throws {
        let bad = ModelCatalog.Registration(name: "../etc", framework: "MACE!", description: String(repeating: "x", count: 2001), config: .array([]))
        do {
            try bad.validate()
            Issue.record("accepted a bad registration")
        } catch let error as StrataError {
            #expect(Set(error.fieldErrors.map(\.field)) == ["name", "framework", "description", "config"])
        }
    }
}
