public import Foundation
import PostgresNIO
public import StrataCore
public import StrataPostgres

extension AnomalyService {
    /// A proposed solution with its decision metrics.
    public struct SolutionDraft: Sendable, Decodable {
        public var solutionType: Solution.Kind
        public var solutionName: String
        public var description: String?
        public var estimatedDowntimeHours: Double?
        public var successRate: Double?
        public var expectedLoss: Double?
        public var roi: Double?
        public var simulationResult: JSONValue?

        enum CodingKeys: String, CodingKey {
            case description, roi
            case solutionType = "solution_type"
            case solutionName = "solution_name"
            case estimatedDowntimeHours = "estimated_downtime_hours"
            case successRate = "success_rate"
            case expectedLoss = "expected_loss"
            case simulationResult = "simulation_result"
        }

        public init(solutionType: Solution.Kind, solutionName: String, successRate: Double? = nil, expectedLoss: Double? = nil) {
            (self.solutionType, self.solutionName, self.successRate, self.expectedLoss) = (solutionType, solutionName, successRate, expectedLoss)
        }
    }

    /// A work order for the adopted solution.
    public struct WorkOrderDraft: Sendable, Decodable {
        public var orderType: WorkOrder.Kind
        public var responsibleUserID: String?
        public var instructions: String?
        public var estimatedDurationHours: Double?

        enum CodingKeys: String, CodingKey {
            case instructions
            case orderType = "order_type"
            case responsibleUserID = "responsible_user_id"
            case estimatedDurationHours = "estimated_duration_hours"
        }

        public init(orderType: WorkOrder.Kind, responsibleUserID: String? = nil, instructions: String? = nil, estimatedDurationHours: Double? = nil) {
            self.orderType = orderType
            self.responsibleUserID = responsibleUserID
            self.instructions = instructions
            self.estimatedDurationHours = estimatedDurationHours
        }
    }

    /// How a work order ended, as its responsible person reports it.
    public struct Completion: Sendable, Decodable {
        public var executionResult: WorkOrder.Result?
        public var actualLoss: Double?
        public var actualDurationHours: Double?
        public var notes: String?

        enum CodingKeys: String, CodingKey {
            case notes
            case executionResult = "execution_result"
            case actualLoss = "actual_loss"
            case actualDurationHours = "actual_duration_hours"
        }

        public init(executionResult: WorkOrder.Result? = nil, actualLoss: Double? = nil, actualDurationHours: Double? = nil, notes: String? = nil) {
            (self.executionResult, self.actualLoss, self.actualDurationHours, self.notes) = (executionResult, actualLoss, actualDurationHours, notes)
        }
    }

    /// What a work order's step changes.
    public enum WorkOrderStep: String, Sendable, CaseIterable {
        case start, complete, fail, cancel
    }

    // MARK: Solutions

    /// Proposes a solution for a `diagnosing` or `solution_pending` anomaly (a diagnosing one
    /// then waits for the decision: `solution_pending`).
    /// - Throws: `validation_failed`, `transition_refused` in another state, `not_found`.
    public func propose(_ draft: SolutionDraft, for anomalyID: UUID, by caller: Caller) async throws -> Solution {
        try Self.check(draft)
        let store = store
        return try await overviews.transaction(for: caller) { connection in
            guard let anomaly = try await store.anomaly(anomalyID, lock: true, on: connection) else { throw Self.notFound() }
            guard anomaly.status == .diagnosing || anomaly.status == .solutionPending else {
                throw anomaly.status.refusal(
                    "Solutions are proposed while an anomaly is diagnosing or waits for a solution.",
                    requested: .solutionPending
                )
            }
            let solution = try await store.insertSolution(draft, id: UUID.v7(), anomaly: anomaly, createdBy: caller.actor, on: connection)
            var change = Change(
                app: "factory",
                action: "create",
                resourceType: "solution",
                resourceID: Self.key(solution.solutionID),
                status: 201,
                events: [try Self.event(solution, "solution.proposed")]
            )
            if anomaly.status == .diagnosing {
                let moved = try await store.setStatus(anomalyID, to: .solutionPending, on: connection)
                let status = try Self.statusChange(moved, from: anomaly.status, reason: "a solution was proposed", adding: Change())
                change.events += status.events
                change.transitions = status.transitions
            }
            return (solution, change)
        }
    }

    /// Marks a solution recommended (the mark moves from any other solution of its anomaly).
    public func recommend(_ solutionID: UUID, by caller: Caller) async throws -> Solution {
        let store = store
        return try await overviews.transaction(for: caller) { connection in
            guard let current = try await store.solution(solutionID, on: connection) else { throw Self.solutionNotFound() }
            let solution = try await store.recommend(current, on: connection)
            return (solution, try Self.solutionChange(solution, "solution.recommended", action: "recommend"))
        }
    }

    /// Adopts a solution of a `solution_pending` anomaly: the one its work order will carry out.
    /// - Throws: `factory.solution_already_adopted` (409) when another is adopted,
    ///   `transition_refused` when the anomaly does not wait for a solution.
    public func adopt(_ solutionID: UUID, by caller: Caller) async throws -> Solution {
        let store = store
        return try await overviews.transaction(for: caller) { connection in
            guard let current = try await store.solution(solutionID, on: connection) else { throw Self.solutionNotFound() }
            guard let anomaly = try await store.anomaly(current.anomalyID, lock: true, on: connection) else { throw Self.notFound() }
            guard anomaly.status == .solutionPending else {
                throw anomaly.status.refusal("A solution is adopted while its anomaly waits for a solution.", requested: .executing)
            }
            if current.adopted { return (current, nil) }
            if let adopted = try await store.adoptedSolution(of: anomaly.anomalyID, on: connection) {
                throw StrataError(
                    .solutionAlreadyAdopted,
                    "Another solution of this anomaly is adopted; one anomaly adopts one solution.",
                    details: ["adopted_solution_id": Self.key(adopted.solutionID)]
                )
            }
            let solution = try await store.set(current, adopted: true, on: connection)
            return (solution, try Self.solutionChange(solution, "solution.adopted", action: "adopt"))
        }
    }

    // MARK: Work orders

    /// Opens the work order that carries out the adopted solution; the anomaly is `executing`.
    /// - Throws: `transition_refused` when the solution is not adopted or the anomaly does not
    ///   wait for a solution; `invalid_reference` for an unknown responsible user.
    public func openWorkOrder(for solutionID: UUID, _ draft: WorkOrderDraft, by caller: Caller) async throws -> WorkOrder {
        try Self.check(draft)
        let store = store
        return try await overviews.transaction(for: caller) { connection in
            guard let solution = try await store.solution(solutionID, on: connection) else { throw Self.solutionNotFound() }
            guard let anomaly = try await store.anomaly(solution.anomalyID, lock: true, on: connection) else { throw Self.notFound() }
            guard solution.adopted else {
                throw anomaly.status.refusal("A work order carries out the adopted solution; adopt this one first.", requested: .executing)
            }
            try anomaly.status.checkTransition(to: .executing)
            let order = try await store.insertWorkOrder(draft, id: UUID.v7(), solution: solution, createdBy: caller.actor, on: connection)
            let moved = try await store.setStatus(anomaly.anomalyID, to: .executing, on: connection)
            var change = try Self.statusChange(
                moved,
                from: anomaly.status,
                reason: "work order opened",
                adding: Change(events: [try Self.event(order, "work_order.created")])
            )
            change.audit = AuditRecord(
                app: "factory",
                actor: nil,
                action: "create",
                resourceType: "work_order",
                resourceID: Self.key(order.orderID),
                responseStatus: 201
            )
            return (order, change)
        }
    }

    /// Moves a work order along: `start` (in progress), `complete` (the anomaly is then
    /// `verifying`), `fail` or `cancel` (the anomaly waits for a solution again, none adopted).
    /// - Throws: `transition_refused` (409) naming the allowed next states, `not_found`,
    ///   `validation_failed` for the completion's fields.
    public func step(_ orderID: UUID, _ step: WorkOrderStep, _ completion: Completion = .init(), by caller: Caller) async throws -> WorkOrder {
        try Self.check(completion)
        let store = store
        let target: WorkOrderStatus =
            switch step {
            case .start: .inProgress
            case .complete: .completed
            case .fail: .failed
            case .cancel: .cancelled
            }
        return try await overviews.transaction(for: caller) { connection in
            guard let current = try await store.workOrder(orderID, lock: true, on: connection) else { throw Self.workOrderNotFound() }
            try current.status.checkTransition(to: target)
            if target == .completed, completion.executionResult == nil {
                throw StrataError.validation([.init(field: "execution_result", reason: "is required to complete a work order")])
            }
            let order = try await store.update(
                current,
                .init(
                    status: target,
                    executionResult: completion.executionResult ?? (target == .failed ? .failure : nil),
                    actualLoss: completion.actualLoss,
                    actualDurationHours: completion.actualDurationHours,
                    notes: completion.notes
                ),
                on: connection
            )
            var change = Change(
                app: "factory",
                action: step.rawValue,
                resourceType: "work_order",
                resourceID: Self.key(order.orderID),
                status: 200,
                events: [try Self.event(order, "work_order.\(order.status.rawValue)")]
            )
            guard let anomaly = try await store.anomaly(order.anomalyID, lock: true, on: connection) else { throw Self.notFound() }
            var next: AnomalyStatus?
            switch target {
            case .completed: next = .verifying
            case .failed, .cancelled: next = anomaly.status == .executing ? .solutionPending : nil
            case .pending, .inProgress: next = nil
            }
            if let next, anomaly.status.allows(next) {
                if next == .solutionPending { try await store.clearAdoption(of: anomaly.anomalyID, on: connection) }
                let moved = try await store.setStatus(anomaly.anomalyID, to: next, on: connection)
                let status = try Self.statusChange(moved, from: anomaly.status, reason: "work order \(order.status.rawValue)", adding: Change())
                change.events += status.events
                change.transitions = status.transitions
            }
            return (order, change)
        }
    }

    /// Records the verification of a completed work order's result. Accepted: the anomaly may
    /// close. Rejected: the anomaly waits for a solution again.
    /// - Throws: `transition_refused` when the order is not completed or its anomaly is not verifying.
    public func verify(_ orderID: UUID, accepted: Bool, notes: String?, by caller: Caller) async throws -> WorkOrder {
        try Self.check(Completion(notes: notes))
        let store = store
        return try await overviews.transaction(for: caller) { connection in
            guard let current = try await store.workOrder(orderID, lock: true, on: connection) else { throw Self.workOrderNotFound() }
            guard let anomaly = try await store.anomaly(current.anomalyID, lock: true, on: connection) else { throw Self.notFound() }
            guard current.status == .completed, anomaly.status == .verifying else {
                throw anomaly.status.refusal("A work order's result is verified once it completed and its anomaly is verifying.", requested: .closed)
            }
            var order = current
            if let notes { order = try await store.update(order, .init(status: .completed, notes: notes), on: connection) }
            var change = Change(
                app: "factory",
                action: accepted ? "verify" : "reject",
                resourceType: "work_order",
                resourceID: Self.key(order.orderID),
                status: 200
            )
            if accepted {
                order = try await store.setVerified(order, on: connection)
                change.events = [try Self.event(order, "work_order.verified")]
            } else {
                try await store.clearAdoption(of: anomaly.anomalyID, on: connection)
                let moved = try await store.setStatus(anomaly.anomalyID, to: .solutionPending, on: connection)
                let status = try Self.statusChange(moved, from: anomaly.status, reason: "work order result rejected", adding: Change())
                change.events = [try Self.event(order, "work_order.rejected")] + status.events
                change.transitions = status.transitions
            }
            return (order, change)
        }
    }

    /// Work orders in scope, newest first.
    public func workOrders(
        line: String?,
        status: WorkOrderStatus?,
        limit: Int,
        cursor: Cursor?,
        scopes: [String: [String]]
    ) async throws
        -> Page<WorkOrder>
    {
        let store = store
        return try await FactoryScope.security.read(on: pool, for: scopes, logger: logger) { connection in
            try await store.workOrders(line: line, status: status, limit: limit, cursor: cursor, on: connection)
        }
    }

    /// One work order.
    public func workOrder(_ id: UUID, scopes: [String: [String]]) async throws -> WorkOrder {
        let store = store
        let order = try await FactoryScope.security.read(on: pool, for: scopes, logger: logger) { connection in
            try await store.workOrder(id, on: connection)
        }
        guard let order else { throw Self.workOrderNotFound() }
        return order
    }

    // MARK: Cases

    /// Cases in scope holding every tag of `tags` and matching the words of `text`, newest first.
    public func cases(tags: [String], text: String?, limit: Int, cursor: Cursor?, scopes: [String: [String]]) async throws -> Page<CaseEntry> {
        let store = store
        let tags = Self.normalized(tags)
        return try await FactoryScope.security.read(on: pool, for: scopes, logger: logger) { connection in
            try await store.cases(tags: tags, text: text, limit: limit, cursor: cursor, on: connection)
        }
    }

    /// One case.
    public func caseEntry(_ id: UUID, scopes: [String: [String]]) async throws -> CaseEntry {
        let store = store
        let entry = try await FactoryScope.security.read(on: pool, for: scopes, logger: logger) { connection in
            try await store.caseEntry(id, on: connection)
        }
        guard let entry else { throw StrataError(.notFound, "No case has this id.") }
        return entry
    }

    // MARK: Checks and records

    static func check(_ draft: SolutionDraft) throws {
        var errors: [StrataError.FieldError] = []
        if !(1...200).contains(draft.solutionName.textLength) { errors.append(.init(field: "solution_name", reason: "must be 1 to 200 characters")) }
        if let text = draft.description, text.textLength > 10_000 { errors.append(.init(field: "description", reason: "at most 10000 characters")) }
        if let value = draft.estimatedDowntimeHours, !(0...99_999_999).contains(value) {
            errors.append(.init(field: "estimated_downtime_hours", reason: "must be 0 to 99999999"))
        }
        if let value = draft.successRate, !(0...100).contains(value) { errors.append(.init(field: "success_rate", reason: "must be 0 to 100")) }
        if let value = draft.expectedLoss, !(0...999_999_999_999).contains(value) {
            errors.append(.init(field: "expected_loss", reason: "must be 0 to 999999999999"))
        }
        if let value = draft.roi, !(-99_999_999...99_999_999).contains(value) {
            errors.append(.init(field: "roi", reason: "must be -99999999 to 99999999"))
        }
        if let value = draft.simulationResult, value.text.utf8.count > 1 << 20 {
            errors.append(.init(field: "simulation_result", reason: "at most 1 MiB of JSON"))
        }
        if !errors.isEmpty { throw StrataError.validation(errors) }
    }

    static func check(_ draft: WorkOrderDraft) throws {
        var errors: [StrataError.FieldError] = []
        if let user = draft.responsibleUserID, !FactoryScope.isPlantID(user) {
            errors.append(.init(field: "responsible_user_id", reason: PlantService.idRule))
        }
        if let text = draft.instructions, text.textLength > 10_000 { errors.append(.init(field: "instructions", reason: "at most 10000 characters")) }
        if let value = draft.estimatedDurationHours, !(0...99_999).contains(value) {
            errors.append(.init(field: "estimated_duration_hours", reason: "must be 0 to 99999"))
        }
        if !errors.isEmpty { throw StrataError.validation(errors) }
    }

    static func check(_ completion: Completion) throws {
        var errors: [StrataError.FieldError] = []
        if let value = completion.actualLoss, !(0...999_999_999_999).contains(value) {
            errors.append(.init(field: "actual_loss", reason: "must be 0 to 999999999999"))
        }
        if let value = completion.actualDurationHours, !(0...99_999).contains(value) {
            errors.append(.init(field: "actual_duration_hours", reason: "must be 0 to 99999"))
        }
        if let text = completion.notes, text.textLength > 10_000 { errors.append(.init(field: "notes", reason: "at most 10000 characters")) }
        if !errors.isEmpty { throw StrataError.validation(errors) }
    }

    static func solutionNotFound() -> StrataError { StrataError(.notFound, "No solution has this id.") }
    static func workOrderNotFound() -> StrataError { StrataError(.notFound, "No work order has this id.") }

    static func event(_ solution: Solution, _ kind: String) throws -> OutboxEvent {
        try OutboxEvent(app: "factory", aggregateType: "solution", aggregateID: key(solution.solutionID), kind: kind, payload: solution)
    }

    static func solutionChange(_ solution: Solution, _ kind: String, action: String) throws -> Change {
        Change(
            app: "factory",
            action: action,
            resourceType: "solution",
            resourceID: key(solution.solutionID),
            status: 200,
            events: [try event(solution, kind)]
        )
    }
}
