public import Foundation
import StrataCore
import StrataPostgres

/// A small, realistic set of work orders for demos and first runs (`strata seed workorders`):
/// three orders with steps, progress, messages and a customer access. Idempotent: an order
/// whose code exists is left as it is.
public enum WorkOrdersDemo {
    /// What a seeding did.
    public struct Report: Sendable {
        /// Orders created by this run (code → id).
        public var created: [(code: String, id: UUID)] = []
        /// Orders that were already there.
        public var skipped: [String] = []
        /// Customer accounts created by this run, with their one-time passwords.
        public var customers: [(orderCode: String, login: String, password: String)] = []
    }

    /// Seeds the demo orders through the service's rules (so events and audit records are written too).
    public static func seed(_ service: WorkOrdersService, now: Date = Date()) async throws -> Report {
        var report = Report()
        let caller = Caller.job("seed")
        for order in orders(now: now) {
            let created: WorkOrder
            do {
                created = try await service.create(order.draft, by: caller)
            } catch let error as StrataError where error.code == .orderCodeTaken {
                report.skipped.append(order.draft.code ?? "")
                continue
            }
            report.created.append((created.code, created.id))
            for (step, completed, defective) in order.progress {
                let progress = ProgressReport(
                    completedQuantity: completed,
                    defectiveQuantity: defective,
                    confirmation: .init(mode: defective > 0 ? .dual : .fingerprint, confirmedBy: defective > 0 ? ["Li Na", "Zhao Peng"] : ["Li Na"]),
                    reporter: "Li Na"
                )
                _ = try await service.recordProgress(created.id, step: step, progress, by: caller)
            }
            for (author, body) in order.messages {
                _ = try await service.post(.init(body: body), to: created.id, by: Caller(actor: "user:\(author)", name: author))
            }
            if let customer = order.customer {
                let issued = try await service.createCustomerAccess(customer, on: created.id, by: caller)
                report.customers.append((created.code, issued.access.login, issued.password))
            }
        }
        return report
    }

    struct DemoOrder {
        var draft: WorkOrderDraft
        var progress: [(String, Int, Int)]
        var messages: [(String, String)]
        var customer: WorkOrdersService.CustomerAccessDraft?
    }

    static func orders(now: Date) -> [DemoOrder] {
        let hour = 3600.0
        return [
            DemoOrder(
                draft: WorkOrderDraft(
                    code: "WO-DEMO-001",
                    title: "2304 electronic assembly welding",
                    description: "Batch 2304: 100 units; defective parts notify purchasing automatically.",
                    priority: .high,
                    ownerID: "manager-001",
                    ownerName: "Wang Qiang",
                    watchers: ["Li Na", "Zhao Peng"],
                    startAt: now.addingTimeInterval(-2 * hour),
                    endAt: now.addingTimeInterval(48 * hour),
                    targetQuantity: 100,
                    procurement: .init(autoNotify: true, targetFactoryID: "factory-001", targetFactoryName: "Dongguan Qiming Electronics"),
                    steps: [
                        StepDraft(
                            stepCode: "weld",
                            stepName: "Welding",
                            assigneeID: "worker-001",
                            assigneeName: "Li Na",
                            expectedQuantity: 100,
                            estimatedCompletionAt: now.addingTimeInterval(2 * hour)
                        ),
                        StepDraft(
                            stepCode: "inspect",
                            stepName: "Quality inspection",
                            assigneeID: "qa-001",
                            assigneeName: "Zhao Peng",
                            expectedQuantity: 100
                        ),
                    ]
                ),
                progress: [("weld", 40, 0), ("weld", 20, 2)],
                messages: [("Li Na", "Welding started on line 2."), ("Zhao Peng", "Two joints failed inspection; reworking.")],
                customer: .init(customerName: "Huaqiang buyer", company: "Huaqiang Electronics", contactPhone: "13800008888")
            ),
            DemoOrder(
                draft: WorkOrderDraft(
                    code: "WO-DEMO-002",
                    title: "Packing and shipment",
                    description: "Check packing materials and print the delivery note.",
                    priority: .medium,
                    ownerID: "manager-002",
                    ownerName: "Liu Chen",
                    watchers: ["Chen Si", "He Yang"],
                    startAt: now.addingTimeInterval(12 * hour),
                    endAt: now.addingTimeInterval(120 * hour),
                    targetQuantity: 200,
                    steps: [
                        StepDraft(
                            stepCode: "materials",
                            stepName: "Materials",
                            assigneeID: "worker-010",
                            assigneeName: "Chen Si",
                            expectedQuantity: 200
                        ),
                        StepDraft(stepCode: "pack", stepName: "Packing", assigneeID: "worker-011", assigneeName: "He Yang", expectedQuantity: 200),
                    ]
                ),
                progress: [],
                messages: [("Liu Chen", "Cartons arrive tomorrow morning.")],
                customer: nil
            ),
            DemoOrder(
                draft: WorkOrderDraft(
                    code: "WO-DEMO-003",
                    title: "Sample run for new enclosure",
                    priority: .low,
                    ownerID: "manager-001",
                    ownerName: "Wang Qiang",
                    targetQuantity: 10,
                    steps: [StepDraft(stepCode: "mould", stepName: "Moulding", assigneeName: "Li Na", expectedQuantity: 10)]
                ),
                progress: [("mould", 10, 1)],
                messages: [("Li Na", "All ten samples moulded.")],
                customer: nil
            ),
        ]
    }
}
