public import Foundation
import StrataCore

/// A report of work done on one step, confirmed by fingerprint or by two people.
public struct ProgressReport: Sendable, Decodable, Equatable {
    /// How a report was confirmed on the shop floor.
    public enum ConfirmationMode: String, Sendable, Codable, CaseIterable {
        /// One worker's fingerprint.
        case fingerprint
        /// Two people checked it.
        case dual
    }

    public struct Confirmation: Sendable, Codable, Equatable {
        public var mode: ConfirmationMode
        /// The fingerprint's holder (fingerprint), or the two confirmers (dual).
        public var confirmedBy: [String]

        public init(mode: ConfirmationMode, confirmedBy: [String]) {
            self.mode = mode
            self.confirmedBy = confirmedBy
        }

        enum CodingKeys: String, CodingKey {
            case mode
            case confirmedBy = "confirmed_by"
        }
    }

    /// Units finished since the last report (added; the step's total stops at its expected quantity).
    public var completedQuantity: Int
    /// Defective units since the last report (added).
    public var defectiveQuantity: Int
    public var confirmation: Confirmation
    public var reporter: String?
    public var note: String?

    public init(completedQuantity: Int, defectiveQuantity: Int = 0, confirmation: Confirmation, reporter: String? = nil, note: String? = nil) {
        self.completedQuantity = completedQuantity
        self.defectiveQuantity = defectiveQuantity
        self.confirmation = confirmation
        self.reporter = reporter
        self.note = note
    }

    enum CodingKeys: String, CodingKey {
        case confirmation, reporter, note
        case completedQuantity = "completed_quantity"
        case defectiveQuantity = "defective_quantity"
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        completedQuantity = try container.decode(Int.self, forKey: .completedQuantity)
        defectiveQuantity = try container.decodeIfPresent(Int.self, forKey: .defectiveQuantity) ?? 0
        confirmation = try container.decode(Confirmation.self, forKey: .confirmation)
        reporter = try container.decodeIfPresent(String.self, forKey: .reporter)
        note = try container.decodeIfPresent(String.self, forKey: .note)
    }

    /// Every wrong field at once.
    func problems() -> [StrataError.FieldError] {
        var errors: [StrataError.FieldError] = []
        if !(0...1_000_000).contains(completedQuantity) {
            errors.append(.init(field: "completed_quantity", reason: "must be 0 to 1000000"))
        }
        if !(0...1_000_000).contains(defectiveQuantity) {
            errors.append(.init(field: "defective_quantity", reason: "must be 0 to 1000000"))
        }
        if completedQuantity == 0 && defectiveQuantity == 0 {
            errors.append(.init(field: "completed_quantity", reason: "a report must count some completed or defective units"))
        }
        let people = confirmation.confirmedBy.map { $0.trimmingCharacters(in: .whitespaces) }
        switch confirmation.mode {
        case .fingerprint where people.count != 1:
            errors.append(.init(field: "confirmation.confirmed_by", reason: "fingerprint confirmation names exactly one person"))
        case .dual where people.count != 2 || Set(people).count != 2:
            errors.append(.init(field: "confirmation.confirmed_by", reason: "dual confirmation names two different people"))
        default: break
        }
        if people.contains(where: { !(1...64).contains($0.textLength) }) {
            errors.append(.init(field: "confirmation.confirmed_by", reason: "each name must be 1 to 64 characters"))
        }
        if let reporter, !(1...64).contains(reporter.textLength) { errors.append(.init(field: "reporter", reason: "must be 1 to 64 characters")) }
        if let note, note.textLength > 200 { errors.append(.init(field: "note", reason: "must be at most 200 characters")) }
        return errors
    }
}

/// A progress report as recorded: what was applied after clamping.
public struct ProgressLog: Sendable, Codable, Equatable {
    public var id: Int64
    public var workOrderID: UUID
    public var stepCode: String
    /// Completed units applied (the report's, clamped to what the step still expected).
    public var completedQuantity: Int
    public var defectiveQuantity: Int
    /// Completed units reported.
    public var reportedQuantity: Int
    public var confirmationMode: ProgressReport.ConfirmationMode
    public var confirmedBy: [String]
    public var reporter: String?
    public var note: String?
    public var confirmedAt: Date

    public init(
        id: Int64,
        workOrderID: UUID,
        stepCode: String,
        completedQuantity: Int,
        defectiveQuantity: Int,
        reportedQuantity: Int,
        confirmationMode: ProgressReport.ConfirmationMode,
        confirmedBy: [String],
        reporter: String?,
        note: String?,
        confirmedAt: Date
    ) {
        self.id = id
        self.workOrderID = workOrderID
        self.stepCode = stepCode
        self.completedQuantity = completedQuantity
        self.defectiveQuantity = defectiveQuantity
        self.reportedQuantity = reportedQuantity
        self.confirmationMode = confirmationMode
        self.confirmedBy = confirmedBy
        self.reporter = reporter
        self.note = note
        self.confirmedAt = confirmedAt
    }

    enum CodingKeys: String, CodingKey {
        case id, reporter, note
        case workOrderID = "work_order_id"
        case stepCode = "step_code"
        case completedQuantity = "completed_quantity"
        case defectiveQuantity = "defective_quantity"
        case reportedQuantity = "reported_quantity"
        case confirmationMode = "confirmation_mode"
        case confirmedBy = "confirmed_by"
        case confirmedAt = "confirmed_at"
    }
}

extension WorkOrder {
    /// The error for a step code the order does not have.
    static func noStep(_ code: String) -> StrataError {
        StrataError(.notFound, "The work order has no step '\(code)'.", details: ["field": "step_code"])
    }

    /// Applies a report to step `code` (the rules of the shop floor): completed units are
    /// added but the step never passes its expected quantity, defective units accumulate; the
    /// step becomes IN_PROGRESS with its first unit and COMPLETED at its expected quantity; the
    /// order becomes IN_PROGRESS with its first progress and COMPLETED when every step is done.
    /// - Returns: The completed units actually applied.
    /// - Throws: `not_found` for an unknown step; `workorders.order_closed` for an ended order.
    mutating func apply(_ report: ProgressReport, toStep code: String) throws -> Int {
        guard let index = steps.firstIndex(where: { $0.stepCode == code }) else {
            throw Self.noStep(code)
        }
        guard !status.isTerminal else {
            throw StrataError(.orderClosed, "The work order is \(status.rawValue); it takes no more progress.", details: ["status": status.rawValue])
        }
        var step = steps[index]
        let applied = min(report.completedQuantity, step.expectedQuantity - step.completedQuantity)
        step.completedQuantity += applied
        step.defectiveQuantity += report.defectiveQuantity
        if step.completedQuantity >= step.expectedQuantity {
            step.status = .completed
        } else if step.completedQuantity > 0 {
            step.status = .inProgress
        }
        steps[index] = step
        recomputeTotals()
        if steps.allSatisfy(\.isDone) {
            status = .completed
        } else if status == .planned && (completedQuantity > 0 || defectiveQuantity > 0) {
            status = .inProgress
        }
        return applied
    }
}
