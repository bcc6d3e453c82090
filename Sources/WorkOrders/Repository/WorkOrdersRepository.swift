public import Foundation
public import StrataCore
public import StrataPostgres

/// Where the workorders app keeps its data: PostgreSQL (``PostgresWorkOrdersRepository``) or,
/// in demo mode (`WORKORDERS_STORE=memory`), the process's memory
/// (``InMemoryWorkOrdersRepository``). Both pass one contract suite, so the service's rules
/// cannot tell them apart.
///
/// Reads stand alone; every change runs inside ``write(_:)``, whose ``WorkOrdersWriter`` sees
/// one atomic unit: what the body writes — the change, its events and its audit records —
/// is kept together or not at all.
public protocol WorkOrdersRepository: Sendable {
    /// The order with its steps and customer access, or `nil`.
    func order(_ id: UUID) async throws -> WorkOrder?
    /// Orders newest first, a page at a time (cursor of ``NewestFirst``).
    func orders(_ filter: WorkOrderFilter, limit: Int, cursor: Cursor?) async throws -> Page<WorkOrderSummary>
    /// An order's progress reports in order, after `afterID`.
    func progressLogs(of orderID: UUID, afterID: Int64, limit: Int) async throws -> [ProgressLog]
    /// An order's status changes, oldest first.
    func statusHistory(of orderID: UUID) async throws -> [StatusTransition]
    /// An order's messages in order, after `afterID`.
    func messages(of orderID: UUID, afterID: Int64, limit: Int) async throws -> [WorkOrderMessage]
    /// Per order that `reader` watches, how many messages others wrote after the reader's read
    /// marker (orders with none unread are left out).
    func unreadCounts(for reader: String) async throws -> [UUID: Int]
    /// A user's quick replies, oldest first.
    func quickReplies(of ownerID: String) async throws -> [QuickReply]
    /// The installation's licence as stored (see ``License/asOf(_:)``).
    func license() async throws -> License
    /// The activation code with this lookup part, used or not.
    func activationCode(lookup: String) async throws -> ActivationCode?
    /// The customer access with this login, with its password hash.
    func customerCredential(login: String) async throws -> CustomerCredential?
    /// The events the store recorded for an order, oldest first (PostgreSQL: its outbox rows
    /// still kept; memory: all).
    func events(of orderID: UUID) async throws -> [OutboxEvent]

    /// Runs `body` as one atomic unit of change.
    func write<T: Sendable>(_ body: @Sendable (any WorkOrdersWriter) async throws -> T) async throws -> T
}

/// The changes one unit of work may make (see ``WorkOrdersRepository/write(_:)``).
public protocol WorkOrdersWriter: Sendable {
    /// The order, held against concurrent changes until the unit ends; `nil` when absent.
    func lockOrder(_ id: UUID) async throws -> WorkOrder?
    /// A fresh order code for the day of `date`: `WO-<yymmdd>-<number>`.
    func nextOrderCode(on date: Date) async throws -> String
    /// Inserts an order and its steps (version 1, the store's time) and returns it as stored
    /// (without a customer access).
    /// - Throws: `workorders.code_taken`.
    func insertOrder(_ order: WorkOrder) async throws -> WorkOrder
    /// Writes the order's fields and the steps named by `steps` (added or changed), bumps its
    /// version and returns it as stored, with the customer access `order` carries.
    /// - Throws: `workorders.code_taken`.
    func updateOrder(_ order: WorkOrder, steps: Set<String>) async throws -> WorkOrder
    /// Deletes an order and everything on it; `false` when it was absent.
    func deleteOrder(_ id: UUID) async throws -> Bool
    /// Writes a progress report that ``WorkOrder/apply(_:toStep:)`` applied to `order`: the
    /// order's status and totals, step `code`'s quantities and status, and the report itself.
    /// Returns the order as stored (version bumped) and the report as recorded.
    func recordProgress(_ order: WorkOrder, step code: String, log: ProgressLog) async throws -> (WorkOrder, ProgressLog)
    /// Adds a message.
    func appendMessage(_ message: NewMessage) async throws -> WorkOrderMessage
    /// Moves `reader`'s read marker on an order forward to `lastReadID` (never back).
    func markRead(_ orderID: UUID, reader: String, lastReadID: Int64) async throws
    /// Gives an order a customer access, replacing the one it had.
    func putCustomerAccess(_ access: CustomerAccess, passwordHash: String) async throws -> CustomerAccess
    /// Writes an access's status and confirmation and returns it as stored.
    /// - Throws: `not_found` when the access is gone.
    func updateCustomerAccess(_ access: CustomerAccess) async throws -> CustomerAccess
    /// Adds a phrase to a user's quick replies; `nil` when they have it already.
    func addQuickReply(ownerID: String, role: String, content: String) async throws -> QuickReply?
    /// Removes a phrase; `false` when the user did not have it.
    func removeQuickReply(ownerID: String, content: String) async throws -> Bool
    /// The licence, held until the unit ends.
    func lockLicense() async throws -> License
    /// Writes the licence (bumping its version) and returns it as stored.
    func saveLicense(_ license: License) async throws -> License
    /// Stores a new activation code.
    func insertActivationCode(_ code: ActivationCode) async throws
    /// The activation code with `lookup`, held until the unit ends.
    func lockActivationCode(lookup: String) async throws -> ActivationCode?
    /// Marks a code used.
    func markActivationCodeUsed(_ id: UUID, by actor: String) async throws
    /// Records a change for `caller`: its events (PostgreSQL: the outbox, relayed to
    /// `strata:events:workorders`) and its audit entry — ``ChangeLog`` in PostgreSQL.
    func record(_ change: Change, by caller: Caller) async throws
}

/// Filters of the order list.
public struct WorkOrderFilter: Sendable, Equatable {
    public var status: WorkOrderStatus?
    public var priority: WorkOrderPriority?
    public var ownerID: String?
    /// Only these orders (a customer's scope); `nil` is no limit.
    public var ids: [UUID]?

    public init(status: WorkOrderStatus? = nil, priority: WorkOrderPriority? = nil, ownerID: String? = nil, ids: [UUID]? = nil) {
        self.status = status
        self.priority = priority
        self.ownerID = ownerID
        self.ids = ids
    }
}
