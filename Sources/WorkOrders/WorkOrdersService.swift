public import Foundation
public import Logging
public import StrataCore
public import StrataObjects
public import StrataPostgres
public import StrataRedis

/// The workorders app's rules. Each public change is one unit of change of the repository
/// holding the change, its event (`strata:events:workorders`) and its audit record; after it
/// commits, the order's cached detail is replaced by a tombstone of its new version.
///
/// Callers pass the ids a principal may reach (`scope`, `nil` for all): an order outside it
/// behaves exactly as a missing one.
public struct WorkOrdersService: Sendable {
    public static let app = "workorders"
    /// Every status change of an order, with who made it and why.
    public static let statusHistory = StatusHistory("workorders.status_history")

    let repository: any WorkOrdersRepository
    let cache: HotCache<WorkOrder>
    let unread: UnreadCounters
    let logger: Logger
    /// Where attachments and OCR results go.
    let objects: any ObjectStore
    /// The time rules compare against (licence expiry).
    let now: @Sendable () -> Date

    public init(
        repository: any WorkOrdersRepository,
        redis: RedisClient?,
        objects: (any ObjectStore)? = nil,
        logger: Logger,
        now: @escaping @Sendable () -> Date = { Date() }
    ) {
        self.objects = objects ?? FileSystemObjectStore.temporary()
        self.repository = repository
        // Entries are the API's JSON, so that a hit is served as it is (``orderJSON(_:scope:)``).
        // The name says so: entries of the earlier form (Foundation's default JSON, under
        // `workorders.order`) are never read as response bodies.
        self.cache = HotCache(
            redis: redis,
            name: "workorders.order_json",
            ttl: .seconds(300),
            logger: logger
        )
        self.unread = UnreadCounters(redis: redis, repository: repository, logger: logger)
        self.logger = logger
        self.now = now
    }

    // MARK: Reads

    /// An order's status changes, oldest first (its creation is the first).
    /// - Throws: `not_found`.
    public func statusHistory(of id: UUID, scope: [UUID]? = nil) async throws -> [StatusTransition] {
        _ = try await order(id, scope: scope)
        return try await repository.statusHistory(of: id)
    }

    /// An order, from the hot layer when it is there (else the store, then cached).
    /// - Throws: `not_found`.
    public func order(_ id: UUID, scope: [UUID]? = nil) async throws -> WorkOrder {
        guard scope.map({ $0.contains(id) }) ?? true, let order = try await cache.get(id.uuidString, load: loader(of: id)) else {
            throw Self.notFound()
        }
        return order
    }

    /// An order's detail as the API's JSON with its version (for the `ETag`), from the hot layer
    /// as it is stored there when it is there (else the store, then cached).
    /// - Throws: `not_found`.
    public func orderJSON(_ id: UUID, scope: [UUID]? = nil) async throws -> (json: [UInt8], version: Int64) {
        guard scope.map({ $0.contains(id) }) ?? true, let entry = try await cache.getJSON(id.uuidString, load: loader(of: id)) else {
            throw Self.notFound()
        }
        return (entry.json, entry.version)
    }

    /// How the detail cache loads an order from the store.
    private func loader(of id: UUID) -> @Sendable () async throws -> HotCache<WorkOrder>.Versioned? {
        { [repository] in try await repository.order(id).map { .init(value: $0, version: $0.version) } }
    }

    /// Orders newest first, a page at a time.
    public func orders(_ filter: WorkOrderFilter, limit: Int, cursor: Cursor?, scope: [UUID]? = nil) async throws -> Page<WorkOrderSummary> {
        var filter = filter
        if let scope { filter.ids = scope }
        return try await repository.orders(filter, limit: limit, cursor: cursor)
    }

    /// An order's progress reports, oldest first.
    public func progressLogs(of id: UUID, afterID: Int64, limit: Int, scope: [UUID]? = nil) async throws -> [ProgressLog] {
        _ = try await order(id, scope: scope)
        return try await repository.progressLogs(of: id, afterID: afterID, limit: limit)
    }

    static func notFound() -> StrataError { StrataError(.notFound, "No work order has this id.") }

    // MARK: Orders

    /// Creates an order (PLANNED) with its steps; the code is generated when not given.
    /// - Throws: `validation_failed` naming every wrong field; `workorders.code_taken`.
    public func create(_ draft: WorkOrderDraft, by caller: Caller) async throws -> WorkOrder {
        var errors: [StrataError.FieldError] = []
        WorkOrderRules.code(draft.code, into: &errors)
        WorkOrderRules.text(draft.title, "title", 1...200, into: &errors)
        WorkOrderRules.text(draft.description, "description", 0...10_000, into: &errors)
        let priority = WorkOrderRules.priority(draft.priority, into: &errors) ?? .medium
        WorkOrderRules.text(draft.ownerID, "owner_id", 1...64, into: &errors)
        WorkOrderRules.text(draft.ownerName, "owner_name", 1...100, into: &errors)
        WorkOrderRules.watchers(draft.watchers, into: &errors)
        WorkOrderRules.dates(start: draft.startAt, end: draft.endAt, into: &errors)
        WorkOrderRules.quantity(draft.targetQuantity, "target_quantity", into: &errors)
        WorkOrderRules.procurement(draft.procurement, into: &errors)
        WorkOrderRules.steps(draft.steps, isNew: { _ in true }, into: &errors)
        guard errors.isEmpty else { throw StrataError.validation(errors) }
        let now = now()
        let created = try await repository.write { unit in
            let code: String
            if let given = draft.code { code = given } else { code = try await unit.nextOrderCode(on: now) }
            var order = WorkOrder(
                id: UUID(),
                code: code,
                title: draft.title.trimmingCharacters(in: .whitespacesAndNewlines),
                description: draft.description ?? "",
                priority: priority,
                ownerID: draft.ownerID,
                ownerName: draft.ownerName,
                watchers: WorkOrder.normalizedWatchers(draft.watchers ?? [], owner: draft.ownerName),
                startAt: draft.startAt,
                endAt: draft.endAt,
                targetQuantity: draft.targetQuantity ?? 0,
                procurement: draft.procurement ?? .init(),
                steps: (draft.steps ?? []).map(Self.newStep),
                createdAt: now,
                updatedAt: now
            )
            if !order.steps.isEmpty && order.steps.allSatisfy(\.isDone) { order.status = .completed }
            let stored = try await unit.insertOrder(order)
            var change = try orderChange(stored, "work_order.created", action: "create", status: 201)
            change.transitions = [Self.statusHistory.transition(of: stored.id.uuidString, from: nil, to: stored.status)]
            try await unit.record(change, by: caller)
            return stored
        }
        return created
    }

    static func newStep(_ draft: StepDraft) -> WorkOrderStep {
        let expected = draft.expectedQuantity ?? 0
        return WorkOrderStep(
            stepCode: draft.stepCode,
            stepName: draft.stepName ?? draft.stepCode,
            assigneeID: draft.assigneeID ?? "",
            assigneeName: draft.assigneeName ?? "",
            expectedQuantity: expected,
            estimatedCompletionAt: draft.estimatedCompletionAt,
            status: expected == 0 ? .completed : .planned
        )
    }

    /// Checks a status change's reason (at most 500 characters).
    public static func validateReason(_ reason: String?) throws {
        if let reason, reason.textLength > 500 { throw StrataError.validation([.init(field: "reason", reason: "must be at most 500 characters")]) }
    }

    /// Checks a patch's fields, every wrong one at once (the route calls it before looking at
    /// `If-Match`, so a bad body is 422 whatever the precondition).
    /// - Returns: The new priority, if the patch sets one.
    /// - Throws: `validation_failed`.
    @discardableResult
    public func validate(_ patch: WorkOrderPatch) throws -> WorkOrderPriority? {
        var errors: [StrataError.FieldError] = []
        WorkOrderRules.code(patch.code, into: &errors)
        WorkOrderRules.text(patch.title, "title", 1...200, into: &errors)
        WorkOrderRules.text(patch.description, "description", 0...10_000, into: &errors)
        let priority = WorkOrderRules.priority(patch.priority, into: &errors)
        WorkOrderRules.text(patch.ownerID, "owner_id", 1...64, into: &errors)
        WorkOrderRules.text(patch.ownerName, "owner_name", 1...100, into: &errors)
        WorkOrderRules.watchers(patch.watchers, into: &errors)
        WorkOrderRules.quantity(patch.targetQuantity, "target_quantity", into: &errors)
        WorkOrderRules.procurement(patch.procurement, into: &errors)
        // The steps' own fields; what depends on the order's steps is checked under its lock.
        WorkOrderRules.steps(patch.steps, isNew: { _ in false }, into: &errors)
        guard errors.isEmpty else { throw StrataError.validation(errors) }
        return priority
    }

    /// Changes an order's fields and steps when `ifVersion` is still its version.
    /// - Throws: `not_found`, `precondition_failed` (412), `validation_failed`,
    ///   `workorders.code_taken`, `workorders.order_closed` (an ended order keeps its fields).
    public func update(_ id: UUID, _ patch: WorkOrderPatch, ifVersion: Int64, by caller: Caller) async throws -> WorkOrder {
        let priority = try validate(patch)
        let updated = try await repository.write { unit in
            guard caller.reaches(id), var order = try await unit.lockOrder(id) else { throw Self.notFound() }
            guard order.version == ifVersion else {
                throw StrataError.staleVersion()
            }
            guard !order.status.isTerminal else {
                throw StrataError(
                    .orderClosed,
                    "The work order is \(order.status.rawValue); it can no longer be changed.",
                    details: ["status": order.status.rawValue]
                )
            }
            var stepErrors: [StrataError.FieldError] = []
            let existing = Set(order.steps.map(\.stepCode))
            WorkOrderRules.steps(patch.steps, isNew: { !existing.contains($0) }, into: &stepErrors)
            if order.steps.count + (patch.steps ?? []).filter({ !existing.contains($0.stepCode) }).count > WorkOrderRules.maxSteps {
                stepErrors.append(.init(field: "steps", reason: "an order holds at most \(WorkOrderRules.maxSteps) steps"))
            }
            let start = patch.startAt ?? order.startAt
            let end = patch.endAt ?? order.endAt
            WorkOrderRules.dates(start: start, end: end, into: &stepErrors)
            guard stepErrors.isEmpty else { throw StrataError.validation(stepErrors) }

            if let code = patch.code { order.code = code }
            if let title = patch.title { order.title = title.trimmingCharacters(in: .whitespacesAndNewlines) }
            if let description = patch.description { order.description = description }
            if let priority { order.priority = priority }
            if let ownerID = patch.ownerID { order.ownerID = ownerID }
            if let ownerName = patch.ownerName { order.ownerName = ownerName }
            order.watchers = WorkOrder.normalizedWatchers(patch.watchers ?? order.watchers, owner: order.ownerName)
            order.startAt = start
            order.endAt = end
            if let target = patch.targetQuantity { order.targetQuantity = target }
            if let procurement = patch.procurement { order.procurement = procurement }
            var changedSteps = Set<String>()
            for draft in patch.steps ?? [] {
                changedSteps.insert(draft.stepCode)
                guard let index = order.steps.firstIndex(where: { $0.stepCode == draft.stepCode }) else {
                    order.steps.append(Self.newStep(draft))
                    continue
                }
                var step = order.steps[index]
                if let name = draft.stepName { step.stepName = name }
                if let assignee = draft.assigneeID { step.assigneeID = assignee }
                if let assignee = draft.assigneeName { step.assigneeName = assignee }
                if let eta = draft.estimatedCompletionAt { step.estimatedCompletionAt = eta }
                if let expected = draft.expectedQuantity {
                    guard expected >= step.completedQuantity else {
                        throw StrataError.validation([
                            .init(
                                field: "steps[\(draft.stepCode)].expected_quantity",
                                reason: "must not be below the \(step.completedQuantity) units already completed"
                            )
                        ])
                    }
                    step.expectedQuantity = expected
                    step.status = step.completedQuantity >= expected ? .completed : (step.completedQuantity > 0 ? .inProgress : .planned)
                }
                order.steps[index] = step
            }
            order.recomputeTotals()
            let stored = try await unit.updateOrder(order, steps: changedSteps)
            try await unit.record(orderChange(stored, "work_order.updated", action: "update", status: 200), by: caller)
            return stored
        }
        await invalidate(updated)
        return updated
    }

    /// Moves an order to `status` along the state machine (``WorkOrderStatus``); COMPLETED by
    /// hand only once every step is done.
    /// - Throws: `not_found`, `precondition_failed` when `ifVersion` is given and stale,
    ///   `workorders.transition_refused` (409, with the allowed next states).
    public func changeStatus(
        _ id: UUID,
        to status: WorkOrderStatus,
        ifVersion: Int64?,
        reason: String? = nil,
        by caller: Caller
    ) async throws -> WorkOrder {
        try Self.validateReason(reason)
        let updated = try await repository.write { unit in
            guard caller.reaches(id), var order = try await unit.lockOrder(id) else { throw Self.notFound() }
            if let ifVersion, order.version != ifVersion {
                throw StrataError.staleVersion()
            }
            try order.status.checkTransition(to: status)
            if status == .completed && !order.steps.allSatisfy(\.isDone) {
                let open = order.steps.filter { !$0.isDone }.map(\.stepCode)
                throw order.status.refusal(
                    "The work order completes when every step is done; steps \(open.joined(separator: ", ")) are not.",
                    requested: .completed,
                    details: ["open_steps": open.joined(separator: ",")]
                )
            }
            let previous = order.status
            order.status = status
            let stored = try await unit.updateOrder(order, steps: [])
            var change = try orderChange(
                stored,
                "work_order.status_changed",
                action: "status.change",
                status: 200,
                details: ["from": .string(previous.rawValue), "to": .string(status.rawValue), "reason": reason.map(JSONValue.string) ?? .null]
            )
            change.transitions = [Self.statusHistory.transition(of: id.uuidString, from: previous, to: status, reason: reason)]
            try await unit.record(change, by: caller)
            _ = try await unit.appendMessage(
                NewMessage(
                    workOrderID: id,
                    kind: .system,
                    role: .system,
                    body: "Status \(previous.rawValue) → \(status.rawValue)" + (reason.map { ": \($0)" } ?? ""),
                    payload: .object(["from": .string(previous.rawValue), "to": .string(status.rawValue)]),
                    createdBy: String(caller.name.prefix(64))
                )
            )
            return stored
        }
        await invalidate(updated)
        return updated
    }

    /// Records progress on a step (see ``WorkOrder/apply(_:toStep:)`` for the clamping and the
    /// automatic status changes). Concurrent reports on one order are serialised by the order's lock.
    /// - Throws: `validation_failed`, `not_found` (order or step), `workorders.order_closed`.
    public func recordProgress(_ id: UUID, step code: String, _ report: ProgressReport, by caller: Caller) async throws -> (WorkOrder, ProgressLog) {
        let problems = report.problems()
        guard problems.isEmpty else { throw StrataError.validation(problems) }
        let (stored, log, json) = try await repository.write { unit in
            guard caller.reaches(id), var order = try await unit.lockOrder(id) else { throw Self.notFound() }
            let previous = order.status
            let applied = try order.apply(report, toStep: code)
            let (stored, log) = try await unit.recordProgress(
                order,
                step: code,
                log: ProgressLog(
                    id: 0,
                    workOrderID: id,
                    stepCode: code,
                    completedQuantity: applied,
                    defectiveQuantity: report.defectiveQuantity,
                    reportedQuantity: report.completedQuantity,
                    confirmationMode: report.confirmation.mode,
                    confirmedBy: report.confirmation.confirmedBy.map { $0.trimmingCharacters(in: .whitespaces) },
                    reporter: report.reporter,
                    note: report.note,
                    confirmedAt: Date()
                )
            )
            // The order's JSON, written once for its events and the cache.
            let json = stored.jsonBytes
            var events = [
                try event(stored, "work_order.progress_recorded", extraJSON: ["progress": Self.payload(log, extra: [:])], orderJSON: json)
            ]
            if stored.status != previous {
                events.append(
                    try event(
                        stored,
                        "work_order.status_changed",
                        extra: ["from": .string(previous.rawValue), "to": .string(stored.status.rawValue)],
                        orderJSON: json
                    )
                )
            }
            try await unit.record(
                Change(
                    app: Self.app,
                    action: "progress.record",
                    resourceType: "work_order",
                    resourceID: id.uuidString,
                    status: 200,
                    detailsJSON: #"{"step_code":\#(JSONText.quoted(code)),"applied":\#(applied)}"#,
                    events: events,
                    transitions: stored.status == previous
                        ? [] : [Self.statusHistory.transition(of: id.uuidString, from: previous, to: stored.status, reason: "progress on \(code)")]
                ),
                by: caller
            )
            return (stored, log, json)
        }
        await cacheCommitted(stored, json: json)
        return (stored, log)
    }

    /// Deletes an order with its steps, messages, progress and customer access.
    /// - Throws: `not_found`, `precondition_failed`.
    public func delete(_ id: UUID, ifVersion: Int64, by caller: Caller) async throws {
        let deleted = try await repository.write { unit in
            guard caller.reaches(id), let order = try await unit.lockOrder(id) else { throw Self.notFound() }
            guard order.version == ifVersion else {
                throw StrataError.staleVersion()
            }
            _ = try await unit.deleteOrder(id)
            // A deleted order's tombstone is one version past its last.
            try await unit.record(
                orderChange(order, "work_order.deleted", action: "delete", status: 204, cacheVersion: order.version + 1),
                by: caller
            )
            return order
        }
        var tombstone = deleted
        tombstone.version += 1
        await invalidate(tombstone)
    }

    // MARK: Recording

    func event(
        _ order: WorkOrder,
        _ kind: String,
        extra: [String: JSONValue] = [:],
        extraJSON: [String: String] = [:],
        cacheVersion: Int64? = nil,
        orderJSON: [UInt8]? = nil
    ) throws -> OutboxEvent {
        OutboxEvent(
            app: Self.app,
            aggregateType: "work_order",
            aggregateID: order.id.uuidString,
            kind: kind,
            payloadJSON: Self.payload(json: orderJSON ?? order.jsonBytes, extra: extra.mapValues(\.text).merging(extraJSON) { _, raw in raw }),
            // The relay writes the same tombstone as ``invalidate(_:)`` (in case this server
            // stops between the commit and its own invalidation).
            cacheKeys: [OutboxEvent.versionedCacheKey(cache.redisKey(order.id.uuidString), version: cacheVersion ?? order.version)]
        )
    }

    /// An event payload: `value`'s JSON object with `extra`'s members (JSON text) added, encoded
    /// once (no round trip through ``JSONValue``: events are written on every change).
    static func payload(_ value: some Encodable, extra: [String: String]) throws -> String {
        payload(json: try JSONEncoder.api().encode(value), extra: extra)
    }

    /// An event payload from a value that writes its own JSON (see the other `payload`).
    static func payload(_ value: some JSONWritable, extra: [String: String]) -> String {
        payload(json: value.jsonBytes, extra: extra)
    }

    /// An event payload from JSON already written (see the other `payload`).
    static func payload(json: some BidirectionalCollection<UInt8>, extra: [String: String]) -> String {
        guard !extra.isEmpty, json.last == UInt8(ascii: "}") else { return String(decoding: json, as: UTF8.self) }
        var text = String(decoding: json.dropLast(), as: UTF8.self)
        var isEmpty = json.count == 2  // `{}`
        for (key, member) in extra.sorted(by: { $0.key < $1.key }) {
            if !isEmpty { text += "," }
            text += JSONText.quoted(key) + ":" + member
            isEmpty = false
        }
        return text + "}"
    }

    /// The change of one order: its event (`kind`, the order's JSON with `details` added) and
    /// its audit entry (`action`, the order's code and `details`).
    /// - Parameter cacheVersion: The version of the cache tombstone the relay writes (a deleted
    ///   order's is one past its last).
    func orderChange(
        _ order: WorkOrder,
        _ kind: String,
        action: String,
        status: Int,
        details: [String: JSONValue] = [:],
        cacheVersion: Int64? = nil
    ) throws -> Change {
        Change(
            app: Self.app,
            action: action,
            resourceType: "work_order",
            resourceID: order.id.uuidString,
            status: status,
            details: details.merging(["code": .string(order.code)]) { first, _ in first },
            events: [try event(order, kind, extra: details, cacheVersion: cacheVersion)]
        )
    }

    /// Caches the committed detail of a progress report, so that the order's next read is a hit.
    /// A report changes only counts, statuses and what the database set (version, `updated_at`),
    /// so the order it returns is exactly the committed row; writes that store values of the
    /// caller's (dates, text) ``invalidate(_:)`` instead. A failure is logged: the relay's
    /// tombstone then ends the older entry.
    /// - Parameter json: The order's JSON, as the cache stores it (``WorkOrder/jsonBytes``).
    /// Inside an enclosing transaction (an idempotent request) it waits for that commit.
    func cacheCommitted(_ order: WorkOrder, json: [UInt8]) async {
        await EnclosingTransaction.afterCommit { [cache, logger] in
            do {
                try await cache.store(order.id.uuidString, HotCache<WorkOrder>.Encoded(json: json, version: order.version))
            } catch {
                logger.warning("could not cache a work order", metadata: ["strata.workorders.order": "\(order.id)", "error": "\(error)"])
            }
        }
    }

    /// Replaces the cached detail by a tombstone of the committed version. A failure is logged:
    /// the relay writes the same tombstone when it publishes the change's event.
    /// Inside an enclosing transaction (an idempotent request) it waits for that commit.
    func invalidate(_ order: WorkOrder) async {
        await EnclosingTransaction.afterCommit { [cache, logger] in
            do {
                try await cache.invalidate(order.id.uuidString, version: order.version)
            } catch {
                logger.warning("could not invalidate a cached work order", metadata: ["strata.workorders.order": "\(order.id)", "error": "\(error)"])
            }
        }
    }
}
