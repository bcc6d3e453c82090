public import StrataCore

/// A work order's status and its guarded transitions.
///
/// ```
/// PLANNED ──first progress──▶ IN_PROGRESS ──all steps done──▶ COMPLETED
///    │                            │
///    └──────────▶ CANCELLED ◀─────┘
/// ```
///
/// An order with every step done (or no quantity expected) completes from PLANNED too.
/// COMPLETED and CANCELLED are terminal. A refused change is the platform's 409
/// `transition_refused` naming the allowed next states (``StatusMachine``).
public enum WorkOrderStatus: String, StatusMachine, Codable {
    case planned = "PLANNED"
    case inProgress = "IN_PROGRESS"
    case completed = "COMPLETED"
    case cancelled = "CANCELLED"

    public static let resourceName = "work order"

    /// The states this one may move to.
    public var allowedNext: [WorkOrderStatus] {
        switch self {
        case .planned: [.inProgress, .completed, .cancelled]
        case .inProgress: [.completed, .cancelled]
        case .completed, .cancelled: []
        }
    }
}

extension StrataError.Code {
    /// The order has ended (COMPLETED or CANCELLED): it takes no more progress (409).
    public static let orderClosed = Self("workorders.order_closed", kind: .conflict)
}
