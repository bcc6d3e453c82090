public import Foundation
public import StrataCore
public import StrataPostgres
import Synchronization

/// The demo-mode store (`WORKORDERS_STORE=memory`): everything in the process's memory, gone
/// when it stops; no database needed.
///
/// Units of change take turns (``AsyncLock``) and work on a copy of the state that replaces it
/// only when the unit's body returns — so a failing unit leaves nothing behind, as a rolled-back
/// transaction would. Events and audit records are kept in memory too.
public final class InMemoryWorkOrdersRepository: WorkOrdersRepository {
    struct State: Sendable {
        var orders: [UUID: WorkOrder] = [:]
        /// created_at in whole microseconds, the list's sort key (as PostgreSQL compares it).
        var createdMicros: [UUID: Int64] = [:]
        var accesses: [UUID: CustomerCredential] = [:]
        var progress: [ProgressLog] = []
        var messages: [WorkOrderMessage] = []
        var quickReplies: [QuickReply] = []
        var license = License()
        var codes: [String: ActivationCode] = [:]
        var reads: [ReadKey: Int64] = [:]
        var events: [OutboxEvent] = []
        var audits: [AuditRecord] = []
        var transitions: [StatusTransition] = []
        var lastID: Int64 = 0
        var codeSequence = 0

        mutating func nextID() -> Int64 {
            lastID += 1
            return lastID
        }

        func assembled(_ id: UUID) -> WorkOrder? {
            guard var order = orders[id] else { return nil }
            order.customerAccess = accesses[id]?.access
            return order
        }
    }

    struct ReadKey: Hashable, Sendable {
        var order: UUID
        var reader: String
    }

    private let state = Mutex(State())
    private let writes = AsyncLock()

    public init() {}

    /// The audit records kept so far (what PostgreSQL would hold in `strata.audit_log`).
    public var auditRecords: [AuditRecord] { state.withLock { $0.audits } }

    public func order(_ id: UUID) async throws -> WorkOrder? {
        state.withLock { $0.assembled(id) }
    }

    public func orders(_ filter: WorkOrderFilter, limit: Int, cursor: Cursor?) async throws -> Page<WorkOrderSummary> {
        let position = try NewestFirst<UUID>(after: cursor)
        let snapshot = state.withLock { $0 }
        let allowed: Set<UUID>? = filter.ids.map { Set($0) }
        func matches(_ order: WorkOrder) -> Bool {
            if let status = filter.status, order.status != status { return false }
            if let priority = filter.priority, order.priority != priority { return false }
            if let owner = filter.ownerID, order.ownerID != owner { return false }
            if let allowed, !allowed.contains(order.id) { return false }
            return true
        }
        func isAfter(_ micros: Int64, _ id: UUID) -> Bool {
            guard let after = position.after else { return true }
            return micros < after.micros || (micros == after.micros && id.uuidString < after.id.uuidString)
        }
        var rows: [(micros: Int64, id: UUID)] = []
        for order in snapshot.orders.values where matches(order) {
            let micros = snapshot.createdMicros[order.id] ?? 0
            if isAfter(micros, order.id) { rows.append((micros, order.id)) }
        }
        let sorted = rows.sorted { $0.micros != $1.micros ? $0.micros > $1.micros : $0.id.uuidString > $1.id.uuidString }
        let page = sorted.prefix(limit)
        let items = page.compactMap { snapshot.assembled($0.id).map(WorkOrderSummary.init) }
        let next = sorted.count > limit ? page.last.map { Cursor(values: ["\($0.micros)", $0.id.uuidString]).encoded } : nil
        return Page(items: items, nextCursor: next)
    }

    public func progressLogs(of orderID: UUID, afterID: Int64, limit: Int) async throws -> [ProgressLog] {
        state.withLock { Array($0.progress.lazy.filter { $0.workOrderID == orderID && $0.id > afterID }.prefix(limit)) }
    }

    public func statusHistory(of orderID: UUID) async throws -> [StatusTransition] {
        state.withLock { state in state.transitions.filter { $0.resourceID == orderID.uuidString } }
    }

    public func messages(of orderID: UUID, afterID: Int64, limit: Int) async throws -> [WorkOrderMessage] {
        state.withLock { Array($0.messages.lazy.filter { $0.workOrderID == orderID && $0.id > afterID }.prefix(limit)) }
    }

    public func unreadCounts(for reader: String) async throws -> [UUID: Int] {
        state.withLock { state in
            var counts: [UUID: Int] = [:]
            for message in state.messages where message.createdBy != reader {
                guard let order = state.orders[message.workOrderID], order.watchers.contains(reader),
                    message.id > state.reads[ReadKey(order: order.id, reader: reader)] ?? 0
                else { continue }
                counts[order.id, default: 0] += 1
            }
            return counts
        }
    }

    public func quickReplies(of ownerID: String) async throws -> [QuickReply] {
        state.withLock { $0.quickReplies.filter { $0.ownerID == ownerID } }
    }

    public func license() async throws -> License { state.withLock { $0.license } }

    public func activationCode(lookup: String) async throws -> ActivationCode? {
        state.withLock { $0.codes[lookup] }
    }

    public func customerCredential(login: String) async throws -> CustomerCredential? {
        state.withLock { $0.accesses.values.first { $0.access.login == login } }
    }

    public func events(of orderID: UUID) async throws -> [OutboxEvent] {
        state.withLock { $0.events.filter { $0.aggregateID == orderID.uuidString } }
    }

    public func write<T: Sendable>(_ body: @Sendable (any WorkOrdersWriter) async throws -> T) async throws -> T {
        try await writes.withLock {
            let unit = Unit(state.withLock { $0 })
            let result = try await body(unit)
            let changed = unit.state.withLock { $0 }
            state.withLock { $0 = changed }
            return result
        }
    }

    /// One unit of change over a copy of the state.
    final class Unit: WorkOrdersWriter {
        let state: Mutex<State>

        init(_ state: State) { self.state = Mutex(state) }

        func lockOrder(_ id: UUID) async throws -> WorkOrder? { state.withLock { $0.assembled(id) } }

        func nextOrderCode(on date: Date) async throws -> String {
            let number = state.withLock { state -> Int in
                state.codeSequence += 1
                return state.codeSequence
            }
            return WorkOrderCode.generated(on: date, number: number)
        }

        func insertOrder(_ order: WorkOrder) async throws -> WorkOrder {
            try state.withLock { state in
                guard !state.orders.values.contains(where: { $0.code == order.code }) else { throw WorkOrderCode.taken(order.code) }
                let now = Date()
                var stored = order
                stored.version = 1
                stored.createdAt = now
                stored.updatedAt = now
                stored.customerAccess = nil
                state.orders[order.id] = stored
                state.createdMicros[order.id] = Int64((now.timeIntervalSince1970 * 1_000_000).rounded(.down))
                return state.assembled(order.id)!
            }
        }

        func updateOrder(_ order: WorkOrder, steps: Set<String>) async throws -> WorkOrder {
            try state.withLock { state in
                guard var stored = state.orders[order.id] else { throw StrataError(.notFound, "No work order has this id.") }
                if state.orders.values.contains(where: { $0.code == order.code && $0.id != order.id }) { throw WorkOrderCode.taken(order.code) }
                let keptSteps = stored.steps
                stored = order
                stored.customerAccess = nil
                stored.steps = keptSteps
                for step in order.steps where steps.contains(step.stepCode) {
                    if let index = stored.steps.firstIndex(where: { $0.stepCode == step.stepCode }) {
                        stored.steps[index] = step
                    } else {
                        stored.steps.append(step)
                    }
                }
                stored.version = (state.orders[order.id]?.version ?? 0) + 1
                stored.updatedAt = Date()
                state.orders[order.id] = stored
                stored.customerAccess = order.customerAccess
                return stored
            }
        }

        func deleteOrder(_ id: UUID) async throws -> Bool {
            state.withLock { state in
                guard state.orders.removeValue(forKey: id) != nil else { return false }
                state.createdMicros[id] = nil
                state.accesses[id] = nil
                state.progress.removeAll { $0.workOrderID == id }
                state.messages.removeAll { $0.workOrderID == id }
                state.reads = state.reads.filter { $0.key.order != id }
                return true
            }
        }

        func recordProgress(_ order: WorkOrder, step code: String, log: ProgressLog) async throws -> (WorkOrder, ProgressLog) {
            let stored = try await updateOrder(order, steps: [code])
            let recorded = state.withLock { state in
                var recorded = log
                recorded.id = state.nextID()
                recorded.confirmedAt = Date()
                state.progress.append(recorded)
                return recorded
            }
            return (stored, recorded)
        }

        func appendMessage(_ message: NewMessage) async throws -> WorkOrderMessage {
            try state.withLock { state in
                guard state.orders[message.workOrderID] != nil else {
                    throw StrataError(.invalidReference, "No work order has this id.", details: ["field": "work_order_id"])
                }
                let stored = WorkOrderMessage(
                    id: state.nextID(),
                    workOrderID: message.workOrderID,
                    kind: message.kind,
                    role: message.role,
                    body: message.body,
                    file: message.file,
                    payload: message.payload,
                    createdBy: message.createdBy,
                    createdAt: Date()
                )
                state.messages.append(stored)
                return stored
            }
        }

        func markRead(_ orderID: UUID, reader: String, lastReadID: Int64) async throws {
            state.withLock { state in
                let key = ReadKey(order: orderID, reader: reader)
                state.reads[key] = max(state.reads[key] ?? 0, lastReadID)
            }
        }

        func putCustomerAccess(_ access: CustomerAccess, passwordHash: String) async throws -> CustomerAccess {
            try state.withLock { state in
                if state.accesses.values.contains(where: { $0.access.login == access.login && $0.access.workOrderID != access.workOrderID }) {
                    throw StrataError(.conflict, "The change conflicts with existing data (customer_accesses_login_key).")
                }
                var stored = access
                stored.createdAt = Date()
                state.accesses[access.workOrderID] = CustomerCredential(access: stored, passwordHash: passwordHash)
                return stored
            }
        }

        func updateCustomerAccess(_ access: CustomerAccess) async throws -> CustomerAccess {
            try state.withLock { state in
                guard let current = state.accesses[access.workOrderID], current.access.id == access.id else {
                    throw StrataError(.notFound, "The work order has no customer access with this id.")
                }
                state.accesses[access.workOrderID] = CustomerCredential(access: access, passwordHash: current.passwordHash)
                return access
            }
        }

        func addQuickReply(ownerID: String, role: String, content: String) async throws -> QuickReply? {
            state.withLock { state in
                guard !state.quickReplies.contains(where: { $0.ownerID == ownerID && $0.content == content }) else { return nil }
                let reply = QuickReply(id: UUID(), ownerID: ownerID, role: role, content: content, createdAt: Date())
                state.quickReplies.append(reply)
                return reply
            }
        }

        func removeQuickReply(ownerID: String, content: String) async throws -> Bool {
            state.withLock { state in
                guard let index = state.quickReplies.firstIndex(where: { $0.ownerID == ownerID && $0.content == content }) else { return false }
                state.quickReplies.remove(at: index)
                return true
            }
        }

        func lockLicense() async throws -> License { state.withLock { $0.license } }

        func saveLicense(_ license: License) async throws -> License {
            state.withLock { state in
                var stored = license
                stored.version = state.license.version + 1
                state.license = stored
                return stored
            }
        }

        func insertActivationCode(_ code: ActivationCode) async throws {
            try state.withLock { state in
                guard state.codes[code.lookup] == nil else {
                    throw StrataError(.conflict, "The change conflicts with existing data (license_activation_codes_lookup_key).")
                }
                state.codes[code.lookup] = code
            }
        }

        func lockActivationCode(lookup: String) async throws -> ActivationCode? { state.withLock { $0.codes[lookup] } }

        func markActivationCodeUsed(_ id: UUID, by actor: String) async throws {
            state.withLock { state in
                guard let lookup = state.codes.values.first(where: { $0.id == id })?.lookup else { return }
                state.codes[lookup]?.usedAt = Date()
            }
        }

        func record(_ change: Change, by caller: Caller) async throws {
            let change = change.completed(by: caller)
            for event in change.events { try event.validate() }
            state.withLock { state in
                state.events += change.events
                if let record = change.audit { state.audits.append(record) }
                let now = Date()
                state.transitions += change.transitions.map { transition in
                    var stored = transition
                    stored.changedAt = now
                    return stored
                }
            }
        }
    }
}
