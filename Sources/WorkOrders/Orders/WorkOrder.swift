public import Foundation

/// A work order with its steps, as the API shows it.
///
/// `completed_quantity` and `defective_quantity` are the sums over the steps, kept in the same
/// transaction as every step change. `watchers` always holds the owner, once.
public struct WorkOrder: Sendable, Codable, Equatable {
    public var id: UUID
    /// The order's business code, unique (`WO-241123-001`).
    public var code: String
    public var title: String
    public var description: String
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
    public var procurement: Procurement
    public var steps: [WorkOrderStep]
    /// The order's customer temporary account, without its password.
    public var customerAccess: CustomerAccess?
    /// Bumped by every change; the ETag.
    public var version: Int64
    public var createdAt: Date
    public var updatedAt: Date

    public init(
        id: UUID,
        code: String,
        title: String,
        description: String = "",
        priority: WorkOrderPriority = .medium,
        status: WorkOrderStatus = .planned,
        ownerID: String,
        ownerName: String,
        watchers: [String] = [],
        startAt: Date? = nil,
        endAt: Date? = nil,
        targetQuantity: Int = 0,
        completedQuantity: Int = 0,
        defectiveQuantity: Int = 0,
        procurement: Procurement = .init(),
        steps: [WorkOrderStep] = [],
        customerAccess: CustomerAccess? = nil,
        version: Int64 = 1,
        createdAt: Date,
        updatedAt: Date
    ) {
        self.id = id
        self.code = code
        self.title = title
        self.description = description
        self.priority = priority
        self.status = status
        self.ownerID = ownerID
        self.ownerName = ownerName
        self.watchers = watchers
        self.startAt = startAt
        self.endAt = endAt
        self.targetQuantity = targetQuantity
        self.completedQuantity = completedQuantity
        self.defectiveQuantity = defectiveQuantity
        self.procurement = procurement
        self.steps = steps
        self.customerAccess = customerAccess
        self.version = version
        self.createdAt = createdAt
        self.updatedAt = updatedAt
    }

    /// Where the order's materials come from.
    public struct Procurement: Sendable, Codable, Equatable {
        /// Whether defective parts notify the supplying factory.
        public var autoNotify: Bool
        public var targetFactoryID: String?
        public var targetFactoryName: String?

        public init(autoNotify: Bool = false, targetFactoryID: String? = nil, targetFactoryName: String? = nil) {
            self.autoNotify = autoNotify
            self.targetFactoryID = targetFactoryID
            self.targetFactoryName = targetFactoryName
        }

        enum CodingKeys: String, CodingKey {
            case autoNotify = "auto_notify"
            case targetFactoryID = "target_factory_id"
            case targetFactoryName = "target_factory_name"
        }
    }

    /// The step with `code`, or `nil`.
    public func step(_ code: String) -> WorkOrderStep? { steps.first { $0.stepCode == code } }

    /// Recomputes the totals from the steps.
    mutating func recomputeTotals() {
        completedQuantity = steps.reduce(0) { $0 + $1.completedQuantity }
        defectiveQuantity = steps.reduce(0) { $0 + $1.defectiveQuantity }
    }

    /// The owner first, then the other watchers in order, trimmed, without blanks or repeats.
    static func normalizedWatchers(_ watchers: [String], owner: String) -> [String] {
        var seen = Set<String>()
        return ([owner] + watchers).map { $0.trimmingCharacters(in: .whitespacesAndNewlines) }.filter { !$0.isEmpty && seen.insert($0).inserted }
    }

    enum CodingKeys: String, CodingKey {
        case id, code, title, description, priority, status, watchers, procurement, steps, version
        case ownerID = "owner_id"
        case ownerName = "owner_name"
        case startAt = "start_at"
        case endAt = "end_at"
        case targetQuantity = "target_quantity"
        case completedQuantity = "completed_quantity"
        case defectiveQuantity = "defective_quantity"
        case customerAccess = "customer_access"
        case createdAt = "created_at"
        case updatedAt = "updated_at"
    }
}

/// One step (operation) of a work order.
public struct WorkOrderStep: Sendable, Codable, Equatable {
    /// Unique within its order; progress reports name it.
    public var stepCode: String
    public var stepName: String
    public var assigneeID: String
    public var assigneeName: String
    public var expectedQuantity: Int
    public var completedQuantity: Int
    public var defectiveQuantity: Int
    public var estimatedCompletionAt: Date?
    public var status: WorkOrderStepStatus

    public init(
        stepCode: String,
        stepName: String,
        assigneeID: String = "",
        assigneeName: String = "",
        expectedQuantity: Int,
        completedQuantity: Int = 0,
        defectiveQuantity: Int = 0,
        estimatedCompletionAt: Date? = nil,
        status: WorkOrderStepStatus = .planned
    ) {
        self.stepCode = stepCode
        self.stepName = stepName
        self.assigneeID = assigneeID
        self.assigneeName = assigneeName
        self.expectedQuantity = expectedQuantity
        self.completedQuantity = completedQuantity
        self.defectiveQuantity = defectiveQuantity
        self.estimatedCompletionAt = estimatedCompletionAt
        self.status = status
    }

    /// Whether the step counts as done for the order (completed, or nothing expected of it).
    var isDone: Bool { status == .completed || expectedQuantity == 0 }

    enum CodingKeys: String, CodingKey {
        case status
        case stepCode = "step_code"
        case stepName = "step_name"
        case assigneeID = "assignee_id"
        case assigneeName = "assignee_name"
        case expectedQuantity = "expected_quantity"
        case completedQuantity = "completed_quantity"
        case defectiveQuantity = "defective_quantity"
        case estimatedCompletionAt = "estimated_completion_at"
    }
}

/// A work order's priority.
public enum WorkOrderPriority: String, Sendable, Codable, CaseIterable {
    case low = "LOW"
    case medium = "MEDIUM"
    case high = "HIGH"
}

/// A step's status, derived from its progress.
public enum WorkOrderStepStatus: String, Sendable, Codable, CaseIterable {
    case planned = "PLANNED"
    case inProgress = "IN_PROGRESS"
    case completed = "COMPLETED"
}
