public import Foundation

/// A work order as lists show it: its fields and totals, without steps or the customer access
/// (only its status).
public struct WorkOrderSummary: Sendable, Codable, Equatable {
    public var id: UUID
    public var code: String
    public var title: String
    public var priority: WorkOrderPriority
    public var status: WorkOrderStatus
    public var ownerID: String
    public var ownerName: String
    public var watchers: [String]
    public var startAt: Date?
    public var endAt: Date?
    public var targetQuantity: Int
    public var completedQuantity: Int
    public var defectiveQuantity: Int
    public var customerAccessStatus: CustomerAccess.Status?
    public var version: Int64
    public var createdAt: Date
    public var updatedAt: Date

    public init(_ order: WorkOrder) {
        id = order.id
        code = order.code
        title = order.title
        priority = order.priority
        status = order.status
        ownerID = order.ownerID
        ownerName = order.ownerName
        watchers = order.watchers
        startAt = order.startAt
        endAt = order.endAt
        targetQuantity = order.targetQuantity
        completedQuantity = order.completedQuantity
        defectiveQuantity = order.defectiveQuantity
        customerAccessStatus = order.customerAccess?.status
        version = order.version
        createdAt = order.createdAt
        updatedAt = order.updatedAt
    }

    enum CodingKeys: String, CodingKey {
        case id, code, title, priority, status, watchers, version
        case ownerID = "owner_id"
        case ownerName = "owner_name"
        case startAt = "start_at"
        case endAt = "end_at"
        case targetQuantity = "target_quantity"
        case completedQuantity = "completed_quantity"
        case defectiveQuantity = "defective_quantity"
        case customerAccessStatus = "customer_access_status"
        case createdAt = "created_at"
        case updatedAt = "updated_at"
    }
}
