public import Foundation
import StrataCore

/// What a client sends to create a work order.
public struct WorkOrderDraft: Sendable, Decodable {
    public var code: String?
    public var title: String
    public var description: String?
    public var priority: String?
    public var ownerID: String
    public var ownerName: String
    public var watchers: [String]?
    public var startAt: Date?
    public var endAt: Date?
    public var targetQuantity: Int?
    public var procurement: WorkOrder.Procurement?
    public var steps: [StepDraft]?

    public init(
        code: String? = nil,
        title: String,
        description: String? = nil,
        priority: WorkOrderPriority? = nil,
        ownerID: String,
        ownerName: String,
        watchers: [String]? = nil,
        startAt: Date? = nil,
        endAt: Date? = nil,
        targetQuantity: Int? = nil,
        procurement: WorkOrder.Procurement? = nil,
        steps: [StepDraft]? = nil
    ) {
        self.code = code
        self.title = title
        self.description = description
        self.priority = priority?.rawValue
        self.ownerID = ownerID
        self.ownerName = ownerName
        self.watchers = watchers
        self.startAt = startAt
        self.endAt = endAt
        self.targetQuantity = targetQuantity
        self.procurement = procurement
        self.steps = steps
    }

    enum CodingKeys: String, CodingKey {
        case code, title, description, priority, watchers, procurement, steps
        case ownerID = "owner_id"
        case ownerName = "owner_name"
        case startAt = "start_at"
        case endAt = "end_at"
        case targetQuantity = "target_quantity"
    }
}

/// A step as a client describes it (creating an order, or adding and changing steps).
public struct StepDraft: Sendable, Decodable {
    public var stepCode: String
    public var stepName: String?
    public var assigneeID: String?
    public var assigneeName: String?
    public var expectedQuantity: Int?
    public var estimatedCompletionAt: Date?

    public init(
        stepCode: String,
        stepName: String? = nil,
        assigneeID: String? = nil,
        assigneeName: String? = nil,
        expectedQuantity: Int? = nil,
        estimatedCompletionAt: Date? = nil
    ) {
        self.stepCode = stepCode
        self.stepName = stepName
        self.assigneeID = assigneeID
        self.assigneeName = assigneeName
        self.expectedQuantity = expectedQuantity
        self.estimatedCompletionAt = estimatedCompletionAt
    }

    enum CodingKeys: String, CodingKey {
        case stepCode = "step_code"
        case stepName = "step_name"
        case assigneeID = "assignee_id"
        case assigneeName = "assignee_name"
        case expectedQuantity = "expected_quantity"
        case estimatedCompletionAt = "estimated_completion_at"
    }
}

/// What a client sends to change a work order: only the fields present change. Steps are
/// merged by `step_code` (named ones change, new ones are added; none is removed).
public struct WorkOrderPatch: Sendable, Decodable {
    public var code: String?
    public var title: String?
    public var description: String?
    public var priority: String?
    public var ownerID: String?
    public var ownerName: String?
    public var watchers: [String]?
    public var startAt: Date?
    public var endAt: Date?
    public var targetQuantity: Int?
    public var procurement: WorkOrder.Procurement?
    public var steps: [StepDraft]?

    public init(
        title: String? = nil,
        description: String? = nil,
        priority: WorkOrderPriority? = nil,
        watchers: [String]? = nil,
        steps: [StepDraft]? = nil
    ) {
        self.title = title
        self.description = description
        self.priority = priority?.rawValue
        self.watchers = watchers
        self.steps = steps
    }

    typealias CodingKeys = WorkOrderDraft.CodingKeys
}

/// The field rules shared by creation and change.
enum WorkOrderRules {
    static let maxSteps = 50

    static func text(_ value: String?, _ field: String, _ range: ClosedRange<Int>, into errors: inout [StrataError.FieldError]) {
        guard let value else { return }
        if !range.contains(value.textLength) || (range.lowerBound > 0 && value.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty) {
            errors.append(
                .init(
                    field: field,
                    reason: range.lowerBound > 0
                        ? "must be \(range.lowerBound) to \(range.upperBound) characters" : "must be at most \(range.upperBound) characters"
                )
            )
        }
    }

    static func priority(_ value: String?, into errors: inout [StrataError.FieldError]) -> WorkOrderPriority? {
        guard let value else { return nil }
        guard let priority = WorkOrderPriority(rawValue: value.uppercased()) else {
            errors.append(.init(field: "priority", reason: "must be one of LOW, MEDIUM, HIGH"))
            return nil
        }
        return priority
    }

    static func quantity(_ value: Int?, _ field: String, into errors: inout [StrataError.FieldError]) {
        if let value, !(0...10_000_000).contains(value) { errors.append(.init(field: field, reason: "must be 0 to 10000000")) }
    }

    static func code(_ value: String?, into errors: inout [StrataError.FieldError]) {
        if let value, !WorkOrderCode.isValid(value) {
            errors.append(.init(field: "code", reason: "must be 1 to 64 letters, digits or _.- starting with a letter or digit"))
        }
    }

    static func watchers(_ value: [String]?, into errors: inout [StrataError.FieldError]) {
        guard let value else { return }
        if value.count > 99 { errors.append(.init(field: "watchers", reason: "must hold at most 99 names")) }
        if value.contains(where: { $0.textLength > 100 }) {
            errors.append(.init(field: "watchers", reason: "each name must be at most 100 characters"))
        }
    }

    static func procurement(_ value: WorkOrder.Procurement?, into errors: inout [StrataError.FieldError]) {
        text(value?.targetFactoryID, "procurement.target_factory_id", 0...64, into: &errors)
        text(value?.targetFactoryName, "procurement.target_factory_name", 0...200, into: &errors)
    }

    /// Checks step drafts; `isNew` tells, per code, whether the step must be complete (new).
    static func steps(_ drafts: [StepDraft]?, isNew: (String) -> Bool, into errors: inout [StrataError.FieldError]) {
        guard let drafts else { return }
        if drafts.count > maxSteps { errors.append(.init(field: "steps", reason: "must hold at most \(maxSteps) steps")) }
        var seen = Set<String>()
        for (index, step) in drafts.enumerated() {
            let prefix = "steps[\(index)]."
            if !WorkOrderCode.isValid(step.stepCode) {
                errors.append(.init(field: prefix + "step_code", reason: "must be 1 to 64 letters, digits or _.- starting with a letter or digit"))
            } else if !seen.insert(step.stepCode).inserted {
                errors.append(.init(field: prefix + "step_code", reason: "is repeated"))
            }
            if isNew(step.stepCode) {
                if step.stepName == nil { errors.append(.init(field: prefix + "step_name", reason: "is required for a new step")) }
                if step.expectedQuantity == nil { errors.append(.init(field: prefix + "expected_quantity", reason: "is required for a new step")) }
            }
            text(step.stepName, prefix + "step_name", 1...100, into: &errors)
            text(step.assigneeID, prefix + "assignee_id", 0...64, into: &errors)
            text(step.assigneeName, prefix + "assignee_name", 0...100, into: &errors)
            quantity(step.expectedQuantity, prefix + "expected_quantity", into: &errors)
        }
    }

    static func dates(start: Date?, end: Date?, into errors: inout [StrataError.FieldError]) {
        if let start, let end, end < start { errors.append(.init(field: "end_at", reason: "must not be before start_at")) }
    }
}
