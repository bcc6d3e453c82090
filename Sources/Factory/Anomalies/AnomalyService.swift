public import Foundation
public import Logging
import PostgresNIO
public import StrataCore
public import StrataPostgres

/// The anomaly lifecycle: detection, diagnosis, solutions with their decision metrics, the
/// adopted one carried out by an execution work order, verification, closing (with a case for
/// the library) and reopening. Each write is one scoped transaction (``FactoryScope``) holding
/// the change, its outbox event, its audit entry and its status history; an illegal transition
/// is 409 `transition_refused` naming the allowed next states.
public struct AnomalyService: Sendable {
    let pool: PostgresPool
    let store: AnomalyStore
    let overviews: OverviewCache
    let logger: Logger

    static let history = StatusHistory("factory.anomaly_status_history")

    /// - Parameter overviews: The line overviews its writes make stale (by default uncached).
    public init(pool: PostgresPool, overviews: OverviewCache? = nil, logger: Logger = Logger(label: "strata.factory")) {
        self.pool = pool
        self.store = AnomalyStore(logger: logger)
        self.overviews = overviews ?? OverviewCache(pool: pool, redis: nil, logger: logger)
        self.logger = logger
    }

    /// An anomaly with its solutions and work orders.
    public struct Detail: Sendable, Codable {
        public var anomaly: Anomaly
        public var solutions: [Solution]
        public var workOrders: [WorkOrder]

        enum CodingKeys: String, CodingKey {
            case anomaly, solutions
            case workOrders = "work_orders"
        }
    }

    // MARK: Reads

    /// One anomaly with its solutions and work orders.
    /// - Throws: `not_found` when there is none in scope.
    public func detail(_ id: UUID, scopes: [String: [String]]) async throws -> Detail {
        let store = store
        return try await FactoryScope.security.read(on: pool, for: scopes, logger: logger) { connection in
            guard let (anomaly, hasSolutions, hasWorkOrders) = try await store.anomalyWithChildren(id, on: connection) else { throw Self.notFound() }
            return Detail(
                anomaly: anomaly,
                solutions: hasSolutions ? try await store.solutions(of: id, on: connection) : [],
                workOrders: hasWorkOrders ? try await store.workOrders(of: id, on: connection) : []
            )
        }
    }

    /// Which anomalies a list shows.
    public struct Filter: Sendable {
        public var lineID: String?
        public var stationID: String?
        public var status: AnomalyStatus?
        public var severity: Severity?

        public init(lineID: String? = nil, stationID: String? = nil, status: AnomalyStatus? = nil, severity: Severity? = nil) {
            (self.lineID, self.stationID, self.status, self.severity) = (lineID, stationID, status, severity)
        }
    }

    /// Anomalies in scope, newest first.
    public func list(_ filter: Filter, limit: Int, cursor: Cursor?, scopes: [String: [String]]) async throws -> Page<Anomaly> {
        let store = store
        let storeFilter = AnomalyStore.Filter(lineID: filter.lineID, stationID: filter.stationID, status: filter.status, severity: filter.severity)
        return try await FactoryScope.security.read(on: pool, for: scopes, logger: logger) { connection in
            try await store.anomalies(storeFilter, limit: limit, cursor: cursor, on: connection)
        }
    }

    /// An anomaly's status changes, oldest first.
    public func history(of id: UUID, scopes: [String: [String]]) async throws -> [StatusTransition] {
        let store = store
        let visible = try await FactoryScope.security.read(on: pool, for: scopes, logger: logger) { connection in
            try await store.anomaly(id, on: connection) != nil
        }
        guard visible else { throw Self.notFound() }
        return try await Self.history.entries(of: Self.key(id), on: pool)
    }

    // MARK: Anomalies

    /// A detected anomaly as a client reports it.
    public struct Report: Sendable, Decodable {
        public var lineID: String
        public var stationID: String?
        public var defectType: String
        public var severity: Severity
        public var description: String?
        public var detectedAt: Date?
        public var assignedTo: String?

        enum CodingKeys: String, CodingKey {
            case severity, description
            case lineID = "line_id"
            case stationID = "station_id"
            case defectType = "defect_type"
            case detectedAt = "detected_at"
            case assignedTo = "assigned_to"
        }

        public init(
            lineID: String,
            stationID: String? = nil,
            defectType: String,
            severity: Severity,
            description: String? = nil,
            detectedAt: Date? = nil
        ) {
            self.lineID = lineID
            self.stationID = stationID
            self.defectType = defectType
            self.severity = severity
            self.description = description
            self.detectedAt = detectedAt
        }
    }

    /// Records a detected anomaly (`open`).
    /// - Throws: `validation_failed`; `forbidden` for a line outside the caller's scope;
    ///   `invalid_reference` for a station that is not on the line or an unknown user.
    public func report(_ report: Report, by caller: Caller) async throws -> Anomaly {
        var errors: [StrataError.FieldError] = []
        if !(1...100).contains(report.defectType.textLength) { errors.append(.init(field: "defect_type", reason: "must be 1 to 100 characters")) }
        if let text = report.description, text.textLength > 10_000 { errors.append(.init(field: "description", reason: "at most 10000 characters")) }
        if let detected = report.detectedAt, detected > Date().addingTimeInterval(300) {
            errors.append(.init(field: "detected_at", reason: "cannot be in the future"))
        }
        if !FactoryScope.isPlantID(report.lineID) { errors.append(.init(field: "line_id", reason: PlantService.idRule)) }
        if let station = report.stationID, !FactoryScope.isPlantID(station) { errors.append(.init(field: "station_id", reason: PlantService.idRule)) }
        if !errors.isEmpty { throw StrataError.validation(errors) }
        let new = AnomalyStore.NewAnomaly(
            id: UUID.v7(),
            lineID: report.lineID,
            stationID: report.stationID,
            defectType: report.defectType,
            severity: report.severity,
            description: report.description,
            detectedAt: report.detectedAt ?? Date(),
            assignedTo: report.assignedTo,
            createdBy: caller.actor
        )
        let store = store
        return try await overviews.transaction(for: caller) { connection in
            guard let anomaly = try await store.insert(new, on: connection) else { throw FactoryScope.lineRefused(caller) }
            var change = try Self.change(anomaly, "anomaly.reported", action: "create", status: 201)
            change.transitions = [Self.history.transition(of: Self.key(anomaly), from: nil, to: anomaly.status)]
            return (anomaly, change)
        }
    }

    /// An edit of an anomaly: only the fields given change.
    public struct Patch: Sendable, Decodable {
        public var defectType: String?
        public var severity: Severity?
        public var description: String?
        public var assignedTo: String?
        public var rootCause: String?

        enum CodingKeys: String, CodingKey {
            case severity, description
            case defectType = "defect_type"
            case assignedTo = "assigned_to"
            case rootCause = "root_cause"
        }

        public init(severity: Severity? = nil, assignedTo: String? = nil, rootCause: String? = nil) {
            (self.severity, self.assignedTo, self.rootCause) = (severity, assignedTo, rootCause)
        }
    }

    /// Checks an edit's fields (before its `If-Match`).
    public func precheck(_ patch: Patch) throws {
        var errors: [StrataError.FieldError] = []
        if let text = patch.defectType, !(1...100).contains(text.textLength) {
            errors.append(.init(field: "defect_type", reason: "must be 1 to 100 characters"))
        }
        for (field, text) in [("description", patch.description), ("root_cause", patch.rootCause)] {
            if let text, text.textLength > 10_000 { errors.append(.init(field: field, reason: "at most 10000 characters")) }
        }
        if let user = patch.assignedTo, !FactoryScope.isPlantID(user) { errors.append(.init(field: "assigned_to", reason: PlantService.idRule)) }
        if !errors.isEmpty { throw StrataError.validation(errors) }
    }

    /// Edits an anomaly still at `expectedVersion` (not once it is closed or cancelled).
    /// - Throws: `not_found`, `precondition_failed` (412), `factory.anomaly_ended` (409).
    public func update(_ id: UUID, _ patch: Patch, expectedVersion: Int64, by caller: Caller) async throws -> Anomaly {
        try precheck(patch)
        let store = store
        let edit = AnomalyStore.Edit(
            defectType: patch.defectType,
            severity: patch.severity,
            description: patch.description,
            assignedTo: patch.assignedTo,
            rootCause: patch.rootCause
        )
        return try await overviews.transaction(for: caller) { connection in
            guard let current = try await store.anomaly(id, lock: true, on: connection) else { throw Self.notFound() }
            guard current.version == expectedVersion else { throw StrataError.staleVersion() }
            guard !current.status.isTerminal else {
                throw StrataError(.anomalyEnded, "A \(current.status.rawValue) anomaly cannot be edited; reopen it first.")
            }
            guard let anomaly = try await store.update(id, edit, expectedVersion: expectedVersion, on: connection) else {
                throw StrataError.staleVersion()
            }
            return (anomaly, try Self.change(anomaly, "anomaly.updated", action: "update", status: 200))
        }
    }

    /// Moves an anomaly along its machine: to `diagnosing`, `solution_pending` or `cancelled`
    /// (the other states follow from its solutions and work orders, and closing has its own
    /// rules: ``close(_:_:by:)``). Cancelling also cancels its open work order.
    /// - Throws: `transition_refused` (409) naming the allowed next states, `not_found`.
    public func transition(_ id: UUID, to target: AnomalyStatus, reason: String?, by caller: Caller) async throws -> Anomaly {
        guard [.diagnosing, .solutionPending, .cancelled].contains(target) else {
            throw StrataError.validation([
                .init(field: "status", reason: "must be diagnosing, solution_pending or cancelled (closing and execution have their own actions)")
            ])
        }
        try Self.check(reason: reason)
        let store = store
        return try await overviews.transaction(for: caller) { connection in
            guard let current = try await store.anomaly(id, lock: true, on: connection) else { throw Self.notFound() }
            try current.status.checkTransition(to: target)
            if target == .solutionPending, try await store.solutions(of: id, on: connection).isEmpty {
                throw current.status.refusal("An anomaly waits for a solution decision only once it has a solution; propose one.", requested: target)
            }
            var change = Change()
            if target == .cancelled {
                for order in try await store.workOrders(of: id, on: connection) where !order.status.isTerminal {
                    let cancelled = try await store.update(order, .init(status: .cancelled), on: connection)
                    change.events.append(try Self.event(cancelled, "work_order.cancelled"))
                }
            }
            let anomaly = try await store.setStatus(id, to: target, on: connection)
            change = try Self.statusChange(anomaly, from: current.status, reason: reason, adding: change)
            return (anomaly, change)
        }
    }

    /// What closing an anomaly may file in the case library.
    public struct Closing: Sendable, Decodable {
        public var rootCause: String?
        public var fileCase: CaseDraft?

        enum CodingKeys: String, CodingKey {
            case rootCause = "root_cause"
            case fileCase = "case"
        }

        public init(rootCause: String? = nil, fileCase: CaseDraft? = nil) {
            (self.rootCause, self.fileCase) = (rootCause, fileCase)
        }
    }

    /// The case to file when an anomaly closes; the problem defaults to the anomaly's
    /// description, the expected effect to the adopted solution's metrics and the actual effect
    /// to its work order's result.
    public struct CaseDraft: Sendable, Decodable {
        public var problemDescription: String?
        public var diagnosisResult: JSONValue?
        public var lessonsLearned: String?
        public var tags: [String]?

        enum CodingKeys: String, CodingKey {
            case tags
            case problemDescription = "problem_description"
            case diagnosisResult = "diagnosis_result"
            case lessonsLearned = "lessons_learned"
        }

        public init(problemDescription: String? = nil, lessonsLearned: String? = nil, tags: [String]? = nil) {
            (self.problemDescription, self.lessonsLearned, self.tags) = (problemDescription, lessonsLearned, tags)
        }
    }

    /// The closed anomaly and the case filed, if one was asked for.
    public struct Closed: Sendable, Codable {
        public var anomaly: Anomaly
        public var fileCase: CaseEntry?

        enum CodingKeys: String, CodingKey {
            case anomaly
            case fileCase = "case"
        }
    }

    /// Closes a `verifying` anomaly: it needs a root cause (given here or before) and a
    /// completed work order whose result was verified. Files a case when asked.
    /// - Throws: `transition_refused` (409) when it is not verifying, has no root cause or no
    ///   verified work order; `validation_failed` for the case's fields.
    public func close(_ id: UUID, _ closing: Closing, by caller: Caller) async throws -> Closed {
        if let cause = closing.rootCause, !(1...10_000).contains(cause.textLength) {
            throw StrataError.validation([.init(field: "root_cause", reason: "must be 1 to 10000 characters")])
        }
        if let draft = closing.fileCase { try Self.check(draft) }
        let store = store
        return try await overviews.transaction(for: caller) { connection in
            guard let current = try await store.anomaly(id, lock: true, on: connection) else { throw Self.notFound() }
            try current.status.checkTransition(to: .closed)
            guard closing.rootCause ?? current.rootCause != nil else {
                throw current.status.refusal("An anomaly closes only with a root cause; give root_cause.", requested: .closed)
            }
            guard try await store.hasVerifiedWorkOrder(id, on: connection) else {
                throw current.status.refusal("An anomaly closes only once a completed work order's result was verified.", requested: .closed)
            }
            if let cause = closing.rootCause {
                _ = try await store.update(id, .init(rootCause: cause), expectedVersion: current.version, on: connection)
            }
            let anomaly = try await store.setStatus(id, to: .closed, on: connection)
            var change = try Self.statusChange(anomaly, from: current.status, reason: nil, adding: Change())
            var filed: CaseEntry?
            if let draft = closing.fileCase {
                let solution = try await store.adoptedSolution(of: id, on: connection)
                let order = try await store.workOrders(of: id, on: connection).last { $0.status == .completed && $0.resultVerified }
                let entry = try await store.insertCase(
                    .init(
                        id: UUID.v7(),
                        anomaly: anomaly,
                        problemDescription: draft.problemDescription ?? anomaly.description ?? "\(anomaly.defectType) (\(anomaly.severity.rawValue))",
                        diagnosis: draft.diagnosisResult ?? anomaly.rootCause.map { .object(["root_cause": .string($0)]) },
                        solution: solution,
                        expectedEffect: solution.map(Self.expectedEffect),
                        actualEffect: order.map(Self.actualEffect),
                        lessonsLearned: draft.lessonsLearned,
                        tags: Self.normalized(draft.tags ?? []),
                        createdBy: caller.actor
                    ),
                    on: connection
                )
                change.events.append(
                    try OutboxEvent(app: "factory", aggregateType: "case", aggregateID: Self.key(entry.caseID), kind: "case.filed", payload: entry)
                )
                filed = entry
            }
            return (Closed(anomaly: anomaly, fileCase: filed), change)
        }
    }

    /// Reopens a closed anomaly (back to `diagnosing`), with the reason kept in its history; its
    /// solution is no longer adopted, so another can be.
    /// - Throws: `transition_refused` (409) when it is not closed; `validation_failed` without a reason.
    public func reopen(_ id: UUID, reason: String, by caller: Caller) async throws -> Anomaly {
        guard (1...1000).contains(reason.textLength) else {
            throw StrataError.validation([.init(field: "reason", reason: "must be 1 to 1000 characters")])
        }
        let store = store
        return try await overviews.transaction(for: caller) { connection in
            guard let current = try await store.anomaly(id, lock: true, on: connection) else { throw Self.notFound() }
            guard current.status == .closed else {
                throw current.status.refusal("Only a closed anomaly can be reopened.", requested: .diagnosing)
            }
            try await store.clearAdoption(of: id, on: connection)
            let anomaly = try await store.setStatus(id, to: .diagnosing, on: connection)
            var change = try Self.statusChange(anomaly, from: current.status, reason: reason, adding: Change(), kind: "anomaly.reopened")
            change.audit?.action = "reopen"
            return (anomaly, change)
        }
    }

    // MARK: Helpers

    static func key(_ id: UUID) -> String { id.uuidString.lowercased() }
    static func key(_ anomaly: Anomaly) -> String { key(anomaly.anomalyID) }

    static func notFound() -> StrataError { StrataError(.notFound, "No anomaly has this id.") }

    static func check(reason: String?) throws {
        if let reason, !(1...1000).contains(reason.textLength) {
            throw StrataError.validation([.init(field: "reason", reason: "must be 1 to 1000 characters")])
        }
    }

    static func check(_ draft: CaseDraft) throws {
        var errors: [StrataError.FieldError] = []
        if let text = draft.problemDescription, !(1...10_000).contains(text.textLength) {
            errors.append(.init(field: "case.problem_description", reason: "must be 1 to 10000 characters"))
        }
        if let text = draft.lessonsLearned, text.textLength > 10_000 {
            errors.append(.init(field: "case.lessons_learned", reason: "at most 10000 characters"))
        }
        if let tags = draft.tags, tags.count > 32 || tags.contains(where: { !(1...50).contains($0.textLength) }) {
            errors.append(.init(field: "case.tags", reason: "at most 32 tags of 1 to 50 characters"))
        }
        if !errors.isEmpty { throw StrataError.validation(errors) }
    }

    /// Tags in lower case, each once, in order.
    static func normalized(_ tags: [String]) -> [String] {
        var seen = Set<String>()
        return tags.map { $0.lowercased() }.filter { seen.insert($0).inserted }
    }

    static func expectedEffect(_ solution: Solution) -> JSONValue {
        var effect: [String: JSONValue] = ["solution_name": .string(solution.solutionName), "solution_type": .string(solution.solutionType.rawValue)]
        if let value = solution.estimatedDowntimeHours { effect["estimated_downtime_hours"] = .number(value) }
        if let value = solution.successRate { effect["success_rate"] = .number(value) }
        if let value = solution.expectedLoss { effect["expected_loss"] = .number(value) }
        if let value = solution.roi { effect["roi"] = .number(value) }
        return .object(effect)
    }

    static func actualEffect(_ order: WorkOrder) -> JSONValue {
        var effect: [String: JSONValue] = ["order_id": .string(key(order.orderID))]
        if let value = order.executionResult { effect["execution_result"] = .string(value.rawValue) }
        if let value = order.actualDurationHours { effect["actual_duration_hours"] = .number(value) }
        if let value = order.actualLoss { effect["actual_loss"] = .number(value) }
        return .object(effect)
    }

    /// The Redis key of a line's cached overview: every change on the line makes it stale.
    static func overviewKey(_ line: String) -> String { OverviewCache.keyPrefix + line }

    static func change(_ anomaly: Anomaly, _ kind: String, action: String, status: Int) throws -> Change {
        Change(
            app: "factory",
            action: action,
            resourceType: "anomaly",
            resourceID: key(anomaly),
            status: status,
            events: [
                try OutboxEvent(
                    app: "factory",
                    aggregateType: "anomaly",
                    aggregateID: key(anomaly),
                    kind: kind,
                    payload: anomaly,
                    cacheKeys: [overviewKey(anomaly.lineID)]
                )
            ]
        )
    }

    /// A status change's record: its event, audit entry and history row, after what `change`
    /// already holds.
    static func statusChange(
        _ anomaly: Anomaly,
        from previous: AnomalyStatus,
        reason: String?,
        adding change: Change,
        kind: String? = nil
    ) throws
        -> Change
    {
        var record = try Self.change(anomaly, kind ?? "anomaly.\(anomaly.status.rawValue)", action: "transition", status: 200)
        record.events = change.events + record.events
        record.audit?.detailsJSON = JSONValue.object(["from": .string(previous.rawValue), "to": .string(anomaly.status.rawValue)]).text
        record.transitions = [history.transition(of: key(anomaly), from: previous, to: anomaly.status, reason: reason)]
        return record
    }

    static func event(_ order: WorkOrder, _ kind: String) throws -> OutboxEvent {
        try OutboxEvent(
            app: "factory",
            aggregateType: "work_order",
            aggregateID: key(order.orderID),
            kind: kind,
            payload: order,
            cacheKeys: [overviewKey(order.lineID)]
        )
    }
}

extension StrataError.Code {
    /// 409: a closed or cancelled anomaly cannot be edited.
    static let anomalyEnded = StrataError.Code("factory.anomaly_ended", kind: .conflict)
    /// 409: another solution of the anomaly is already adopted.
    static let solutionAlreadyAdopted = StrataError.Code("factory.solution_already_adopted", kind: .conflict)
}
