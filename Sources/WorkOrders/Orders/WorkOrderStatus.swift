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
/// COMPLETED and CANCELLED are terminal. A refused change is 409
/// `workorders.transition_refused` naming the allowed next states.
public enum WorkOrderStatus: String, Sendable, Codable, CaseIterable {
    case planned = "PLANNED"
    case inProgress = "IN_PROGRESS"
    case completed = "COMPLETED"
    case cancelled = "CANCELLED"

    /// The states this one may move to.
    public var allowedNext: [WorkOrderStatus] {
        switch self {
        case .planned: [.inProgress, .completed, .cancelled]
        case .inProgress: [.completed, .cancelled]
        case .completed, .cancelled: []
        }
    }

    /// Whether nothing more can happen to the order.
    public var isTerminal: Bool { allowedNext.isEmpty }

    /// Checks a change to `next`.
    /// - Throws: `workorders.transition_refused` (409) with the allowed next states.
    func checkTransition(to next: WorkOrderStatus) throws {
        guard allowedNext.contains(next) else {
            let allowed = allowedNext.map(\.rawValue)
            throw StrataError(
                .transitionRefused,
                allowed.isEmpty
                    ? "The work order is \(rawValue); nothing can change its status any more."
                    : "A \(rawValue) work order can move to \(allowed.joined(separator: ", ")), not \(next.rawValue).",
                details: ["status": rawValue, "allowed": allowed.joined(separator: ",")]
            )
        }
    }
}

extension StrataError.Code {
    /// A status change the state machine does not allow (409).
    public static let transitionRefused = Self("workorders.transition_refused", kind: .conflict)
    /// The order has ended (COMPLETED or CANCELLED): it takes no more progress (409).
    public static let orderClosed = Self("workorders.order_closed", kind: .conflict)
}
