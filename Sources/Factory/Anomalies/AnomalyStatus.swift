public import StrataCore

/// Where an anomaly stands, from detection to a verified fix:
/// `open → diagnosing → solution_pending → executing → verifying → closed`, and `cancelled`
/// from any state not yet ended. A failed work order, or a completed one whose result is
/// rejected at verification, sends it back to `solution_pending` for another. Reopening a closed
/// anomaly is its own action (``AnomalyService/reopen(_:reason:by:)``), back to `diagnosing`.
public enum AnomalyStatus: String, StatusMachine, Codable {
    case open
    case diagnosing
    case solutionPending = "solution_pending"
    case executing
    case verifying
    case closed
    case cancelled

    public static let resourceName = "anomaly"

    public var allowedNext: [AnomalyStatus] {
        switch self {
        case .open: [.diagnosing, .cancelled]
        case .diagnosing: [.solutionPending, .cancelled]
        case .solutionPending: [.diagnosing, .executing, .cancelled]
        case .executing: [.verifying, .solutionPending, .cancelled]
        case .verifying: [.closed, .solutionPending, .cancelled]
        case .closed, .cancelled: []
        }
    }
}

/// How bad an anomaly is.
public enum Severity: String, Sendable, Codable, CaseIterable {
    case low, medium, high, critical
}

/// Where an execution work order stands: `pending → in_progress → completed | failed`, and
/// `cancelled` before it ends.
public enum WorkOrderStatus: String, StatusMachine, Codable {
    case pending
    case inProgress = "in_progress"
    case completed
    case failed
    case cancelled

    public static let resourceName = "work order"

    public var allowedNext: [WorkOrderStatus] {
        switch self {
        case .pending: [.inProgress, .cancelled]
        case .inProgress: [.completed, .failed, .cancelled]
        case .completed, .failed, .cancelled: []
        }
    }
}
