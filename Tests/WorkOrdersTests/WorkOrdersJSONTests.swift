import Foundation
import StrataCore
import Testing

@testable import WorkOrders

/// The app's hand-written JSON is the JSON of its `Encodable` conformances, byte for byte.
@Suite struct WorkOrdersJSONTests {
    func order(full: Bool) -> WorkOrder {
        let at = Date(timeIntervalSince1970: 1_795_000_000.25)
        return WorkOrder(
            id: UUID(),
            code: "WO-261123-0001",
            title: full ? "Weld \"frame\" / 焊接" : "t",
            description: full ? "line\nbreak\ttab \\ done" : "",
            priority: .high,
            status: .inProgress,
            ownerID: "owner-1",
            ownerName: "Li Na",
            watchers: full ? ["Li Na", "Zhao Peng"] : [],
            startAt: full ? at : nil,
            endAt: full ? at.addingTimeInterval(86_400) : nil,
            targetQuantity: 100,
            completedQuantity: 40,
            defectiveQuantity: 2,
            procurement: .init(autoNotify: full, targetFactoryID: full ? "f-1" : nil, targetFactoryName: full ? "工厂" : nil),
            steps: [
                WorkOrderStep(
                    stepCode: "weld",
                    stepName: "Welding",
                    assigneeID: "u-1",
                    assigneeName: "Li Na",
                    expectedQuantity: 100,
                    completedQuantity: 40,
                    defectiveQuantity: 2,
                    estimatedCompletionAt: full ? at : nil,
                    status: .inProgress
                )
            ],
            customerAccess: full
                ? CustomerAccess(
                    id: UUID(),
                    workOrderID: UUID(),
                    customerName: "ACME",
                    company: nil,
                    contactPhone: "+86 10 1234",
                    login: "cust-abcdef12",
                    status: .confirmed,
                    confirmedBy: "Zhao",
                    createdAt: at,
                    confirmedAt: at
                ) : nil,
            version: 7,
            createdAt: at,
            updatedAt: at
        )
    }

    func same(_ value: some JSONWritable) throws {
        #expect(String(decoding: value.jsonBytes, as: UTF8.self) == String(decoding: try JSONEncoder.api().encode(value), as: UTF8.self))
    }

    @Test func ordersSummariesAndProgressWriteWhatTheyEncode() throws {
        for full in [true, false] {
            let order = order(full: full)
            try same(order)
            try same(WorkOrderSummary(order))
            try same(Page(items: [WorkOrderSummary(order), WorkOrderSummary(order)], nextCursor: full ? "abc" : nil))
            try same(
                ProgressLog(
                    id: 9,
                    workOrderID: order.id,
                    stepCode: "weld",
                    completedQuantity: 5,
                    defectiveQuantity: 0,
                    reportedQuantity: 7,
                    confirmationMode: .dual,
                    confirmedBy: full ? ["Li Na", "Zhao Peng"] : [],
                    reporter: full ? "Li Na" : nil,
                    note: full ? "note \"quoted\"" : nil,
                    confirmedAt: Date(timeIntervalSince1970: 1_795_000_001)
                )
            )
        }
    }
}
