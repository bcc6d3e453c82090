import StrataCore
import Testing

/// The platform's state-machine abstraction: allowed next states, the guard of a transition's
/// UPDATE, and the one refusal every app answers with.
@Suite struct StatusMachineTests {
    enum Ticket: String, StatusMachine {
        case open = "OPEN"
        case solved = "SOLVED"
        case closed = "CLOSED"

        static let resourceName = "ticket"

        var allowedNext: [Ticket] {
            switch self {
            case .open: [.solved, .closed]
            case .solved: [.open, .closed]
            case .closed: []
            }
        }
    }

    @Test func transitionsFollowTheTable() throws {
        #expect(Ticket.open.allows(.solved) && !Ticket.closed.allows(.open))
        #expect(Ticket.closed.isTerminal && !Ticket.solved.isTerminal)
        #expect(Ticket.sources(of: .closed) == [.open, .solved])
        #expect(Ticket.sourceValues(of: .open) == ["SOLVED"])
        #expect(Ticket.sources(of: .open) == [.solved] && Ticket.sources(of: .solved) == [.open])
        try Ticket.open.checkTransition(to: .solved)
    }

    @Test func aRefusalIsOne409NamingTheAllowedStates() {
        let refusal = Ticket.solved.refusal(to: .solved)
        #expect(refusal.code == .transitionRefused && refusal.code.kind == .conflict)
        #expect(refusal.details == ["status": "SOLVED", "requested": "SOLVED", "allowed_next": "OPEN,CLOSED"])
        #expect(refusal.message == "A SOLVED ticket cannot become SOLVED; it may become OPEN, CLOSED next.")
        #expect(throws: StrataError(.transitionRefused, "")) {
            try Ticket.closed.checkTransition(to: .open)
        }
        let ended = Ticket.closed.refusal(to: .open)
        #expect(ended.details["allowed_next"] == "" && ended.message.hasSuffix("nothing can change its status any more."))
        let ruled = Ticket.open.refusal("Tickets close once solved.", requested: .closed, details: ["rule": "solve_first", "status": "x"])
        #expect(ruled.details == ["status": "OPEN", "requested": "CLOSED", "allowed_next": "SOLVED,CLOSED", "rule": "solve_first"])
    }
}
