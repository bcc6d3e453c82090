import Foundation
import StrataCore
import StrataPostgres
import StrataRedis
import StrataTestSupport

@testable import WorkOrders

/// Runs `body` against one of the two stores (a fresh one).
func withRepository(_ store: WorkOrdersModule.Store, _ body: (any WorkOrdersRepository) async throws -> Void) async throws {
    switch store {
    case .memory:
        try await body(InMemoryWorkOrdersRepository())
    case .postgres:
        try await withTestDatabase(lines: [try WorkOrdersModule().migrationLine()]) { database in
            try await body(PostgresWorkOrdersRepository(pool: database.pool))
        }
    }
}

/// A service over `repository`, without Redis unless given.
func service(_ repository: any WorkOrdersRepository, redis: RedisClient? = nil, now: @escaping @Sendable () -> Date = { Date() }) -> WorkOrdersService
{
    WorkOrdersService(repository: repository, redis: redis, logger: TestPostgres.logger, now: now)
}

let manager = Caller(actor: "user:manager-001", name: "manager-001")

/// An order of two steps (10 and 5 units expected).
func weldingDraft(code: String? = nil) -> WorkOrderDraft {
    WorkOrderDraft(
        code: code,
        title: "2304 electronics welding",
        description: "Batch 2304, 100 units",
        priority: .high,
        ownerID: "manager-001",
        ownerName: "Wang Qiang",
        watchers: ["Li Na", "Wang Qiang", " ", "Zhao Peng", "Li Na"],
        startAt: Date(timeIntervalSince1970: 1_800_000_000),
        endAt: Date(timeIntervalSince1970: 1_800_100_000),
        targetQuantity: 10,
        procurement: .init(autoNotify: true, targetFactoryID: "factory-001", targetFactoryName: "Dongguan Qiming"),
        steps: [
            StepDraft(
                stepCode: "step-1",
                stepName: "Welding",
                assigneeID: "worker-001",
                assigneeName: "Li Na",
                expectedQuantity: 10,
                estimatedCompletionAt: Date(timeIntervalSince1970: 1_800_050_000.25)
            ),
            StepDraft(stepCode: "step-2", stepName: "Inspection", assigneeID: "qa-001", assigneeName: "Zhao Peng", expectedQuantity: 5),
        ]
    )
}

func report(_ completed: Int, defective: Int = 0, mode: ProgressReport.ConfirmationMode = .fingerprint) -> ProgressReport {
    ProgressReport(
        completedQuantity: completed,
        defectiveQuantity: defective,
        confirmation: .init(mode: mode, confirmedBy: mode == .dual ? ["Li Na", "Zhao Peng"] : ["Li Na"])
    )
}

extension StrataError {
    /// For `#expect(throws:)`: errors compare by code.
    static func code(_ code: Code) -> StrataError { StrataError(code, "") }
}
