public import Foundation
import StrataCore
public import StrataPostgres

extension WorkOrdersService {
    /// The longest text message, in characters.
    public static let maxMessageLength = 4000

    /// A message a client posts (text; files come through ``attach(_:to:file:by:)``).
    public struct MessageDraft: Sendable, Decodable {
        public var body: String
        public var role: String?

        public init(body: String, role: WorkOrderMessage.Role? = nil) {
            self.body = body
            self.role = role?.rawValue
        }
    }

    /// An order's messages in order, after `afterID`.
    public func messages(of id: UUID, afterID: Int64, limit: Int, scope: [UUID]? = nil) async throws -> [WorkOrderMessage] {
        _ = try await order(id, scope: scope)
        return try await repository.messages(of: id, afterID: afterID, limit: limit)
    }

    /// Posts a text message; counts it as unread for the order's other watchers.
    /// - Throws: `validation_failed` (empty or longer than ``maxMessageLength``, unknown role),
    ///   `not_found`.
    public func post(
        _ draft: MessageDraft,
        to id: UUID,
        role defaultRole: WorkOrderMessage.Role = .member,
        by caller: Caller
    ) async throws -> WorkOrderMessage {
        var errors: [StrataError.FieldError] = []
        if draft.body.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty || draft.body.textLength > Self.maxMessageLength {
            errors.append(.init(field: "body", reason: "must be 1 to \(Self.maxMessageLength) characters"))
        }
        let role = draft.role.map { WorkOrderMessage.Role(rawValue: $0) } ?? defaultRole
        if role == nil || role == .system || role == .bot {
            errors.append(.init(field: "role", reason: "must be member or customer"))
        }
        guard errors.isEmpty, let role else { throw StrataError.validation(errors) }
        return try await append(
            NewMessage(workOrderID: id, kind: .text, role: role, body: draft.body, createdBy: String(caller.name.prefix(64))),
            kind: "message.created",
            by: caller
        )
    }

    /// Writes a message with its event and audit record, then counts it as unread.
    func append(_ message: NewMessage, kind: String, extra: [String: JSONValue] = [:], by caller: Caller) async throws -> WorkOrderMessage {
        let (stored, watchers) = try await repository.write { unit in
            guard caller.reaches(message.workOrderID), let order = try await unit.lockOrder(message.workOrderID) else { throw Self.notFound() }
            let stored = try await unit.appendMessage(message)
            try await unit.record(
                Change(
                    app: Self.app,
                    action: kind,
                    resourceType: "work_order",
                    resourceID: order.id.uuidString,
                    status: 201,
                    detailsJSON: #"{"message_id":\#(stored.id)}"#,
                    events: [
                        OutboxEvent(
                            app: Self.app,
                            aggregateType: "work_order",
                            aggregateID: order.id.uuidString,
                            kind: kind,
                            payloadJSON: try Self.payload(stored, extra: extra.mapValues(\.text))
                        )
                    ]
                ),
                by: caller
            )
            return (stored, order.watchers)
        }
        await unread.messagePosted(on: message.workOrderID, watchers: watchers, author: message.createdBy)
        return stored
    }

    /// Unread message counts of `reader` per order.
    public func unreadCounts(for reader: String) async throws -> [UUID: Int] {
        try await unread.counts(for: reader)
    }

    /// Marks an order's messages up to `lastReadID` read by `reader`.
    /// - Throws: `not_found`, `validation_failed`.
    public func markRead(_ id: UUID, reader: String, lastReadID: Int64, by caller: Caller) async throws {
        guard (1...100).contains(reader.textLength) else {
            throw StrataError.validation([.init(field: "reader", reason: "must be 1 to 100 characters")])
        }
        guard lastReadID >= 0 else { throw StrataError.validation([.init(field: "last_read_id", reason: "must be 0 or more")]) }
        try await repository.write { unit in
            guard caller.reaches(id), try await unit.lockOrder(id) != nil else { throw Self.notFound() }
            try await unit.markRead(id, reader: reader, lastReadID: lastReadID)
        }
        await unread.read(id, by: reader)
    }
}
