/// A resource's status and the transitions its rules allow: one abstraction for every app's
/// state machine, giving the allowed next states, the guard of a transition's `UPDATE`, and one
/// uniform refusal.
///
/// A status type lists, for each state, where it may go; everything else follows:
///
/// ```swift
/// enum TicketStatus: String, StatusMachine {
///     case open = "OPEN", solved = "SOLVED", closed = "CLOSED"
///     static let resourceName = "ticket"
///     var allowedNext: [TicketStatus] {
///         switch self {
///         case .open: [.solved, .closed]
///         case .solved: [.open, .closed]
///         case .closed: []
///         }
///     }
/// }
/// ```
///
/// A transition is guarded one of two ways, and both refuse alike:
/// - under the row's lock: read the row `FOR UPDATE`, then ``checkTransition(to:)``;
/// - as a guarded statement: `UPDATE … WHERE status = ANY(<sources(of: target)>)`, and when it
///   changes no row, read the current status and throw ``refusal(to:)``.
///
/// A refusal is 409 `transition_refused` with the details `status` (the current one),
/// `requested` and `allowed_next` (comma-separated, empty once the status is terminal).
public protocol StatusMachine: RawRepresentable<String>, CaseIterable, Hashable, Sendable {
    /// What the status belongs to, as the refusal's message names it (`task`, `work order`).
    static var resourceName: String { get }
    /// The states this one may move to; none for a terminal state.
    var allowedNext: [Self] { get }
}

extension StatusMachine {
    /// Whether nothing more can happen (no state follows this one).
    public var isTerminal: Bool { allowedNext.isEmpty }

    /// Whether `self → next` is allowed.
    public func allows(_ next: Self) -> Bool { allowedNext.contains(next) }

    /// The states from which `target` can be reached: the guard of the transition's `UPDATE`.
    public static func sources(of target: Self) -> [Self] {
        allCases.filter { $0.allows(target) }
    }

    /// The raw values of ``sources(of:)``, to bind as the guard's array.
    public static func sourceValues(of target: Self) -> [String] {
        sources(of: target).map(\.rawValue)
    }

    /// Checks `self → next`.
    /// - Throws: ``refusal(to:)`` when the machine does not allow it.
    public func checkTransition(to next: Self) throws {
        guard allows(next) else { throw refusal(to: next) }
    }

    /// The uniform refusal of `self → next`: 409 `transition_refused`, naming the allowed next
    /// states.
    public func refusal(to next: Self) -> StrataError {
        let allowed = allowedNext.map(\.rawValue)
        let message =
            "A \(rawValue) \(Self.resourceName) cannot become \(next.rawValue)"
            + (allowed.isEmpty ? "; nothing can change its status any more." : "; it may become \(allowed.joined(separator: ", ")) next.")
        return refusal(message, requested: next)
    }

    /// A refusal of `self → next` for a rule beyond the machine's (a work order completes only
    /// once its steps are done), with the same code and details and `extra` details of its own.
    public func refusal(_ message: String, requested next: Self, details extra: [String: String] = [:]) -> StrataError {
        let details = ["status": rawValue, "requested": next.rawValue, "allowed_next": allowedNext.map(\.rawValue).joined(separator: ",")]
        return StrataError(.transitionRefused, message, details: details.merging(extra) { own, _ in own })
    }
}
