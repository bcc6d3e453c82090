public import Foundation
public import Logging
public import PostgresNIO
public import StrataCore

/// An app's status history: one row per status change of its resources, written with the change
/// that made it (``Change/transitions``) and read back in order.
///
/// The app's migration creates the table with the standard columns:
///
/// ```sql
/// CREATE TABLE workorders.status_history (
///     id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
///     resource_id text        NOT NULL,
///     from_status text,
///     to_status   text        NOT NULL,
///     reason      text,
///     actor       text,
///     request_id  text,
///     changed_at  timestamptz NOT NULL DEFAULT now()
/// );
/// CREATE INDEX status_history_resource ON workorders.status_history (resource_id, id);
/// ```
///
/// and the service adds each change's transition to the change it records:
///
/// ```swift
/// static let history = StatusHistory("workorders.status_history")
/// change.transitions = [Self.history.transition(of: order.id.uuidString, from: previous, to: order.status, reason: reason)]
/// ```
public struct StatusHistory: Sendable, Hashable {
    /// The history's table, `schema.table`.
    public let table: String

    /// A history kept in `table` (`schema.table`, lowercase identifiers: the name is written
    /// into the statements, so anything else is a programming error).
    public init(_ table: String) {
        precondition(
            table.range(of: "^[a-z_][a-z0-9_]{0,62}\\.[a-z_][a-z0-9_]{0,62}$", options: .regularExpression) != nil,
            "a status history table is named schema.table in lowercase: \(table)"
        )
        self.table = table
    }

    /// The transition of `resourceID` from `from` (`nil` for a new resource) to `to`, to record
    /// with its change.
    public func transition<Status: StatusMachine>(of resourceID: String, from: Status?, to: Status, reason: String? = nil) -> StatusTransition {
        StatusTransition(history: self, resourceID: resourceID, from: from?.rawValue, to: to.rawValue, reason: reason)
    }

    /// Appends transitions in one statement (``ChangeLog`` calls it for a change's transitions).
    func append(_ transitions: [StatusTransition], on connection: PostgresConnection, logger: Logger) async throws {
        guard !transitions.isEmpty else { return }
        var bindings = PostgresBindings(capacity: 6)
        appendBindings(of: transitions, to: &bindings)
        try await connection.run(PostgresQuery(unsafeSQL: insertStatement(parametersFrom: 1), binds: bindings), logger: logger)
    }

    /// The statement that appends transitions, its six parameters numbered from `first` (so that
    /// ``ChangeLog`` can embed it beside the change's event).
    func insertStatement(parametersFrom first: Int) -> String {
        let p = (first..<first + 6).map { "$\($0)" }
        return """
            INSERT INTO \(table) (resource_id, from_status, to_status, reason, actor, request_id)
            SELECT t.resource_id, nullif(t.from_status, ''), t.to_status, nullif(t.reason, ''), nullif(t.actor, ''),
                   nullif(t.request_id, '')
            FROM unnest(\(p[0])::text[], \(p[1])::text[], \(p[2])::text[], \(p[3])::text[], \(p[4])::text[], \(p[5])::text[]) WITH ORDINALITY
                 AS t(resource_id, from_status, to_status, reason, actor, request_id, n)
            ORDER BY t.n
            """
    }

    /// ``insertStatement(parametersFrom:)``'s bindings for `transitions`.
    func appendBindings(of transitions: [StatusTransition], to bindings: inout PostgresBindings) {
        // Arrays bind no NULL elements: an absent value travels as "" (no status or reason is empty).
        bindings.append(transitions.map(\.resourceID))
        bindings.append(transitions.map { $0.from ?? "" })
        bindings.append(transitions.map(\.to))
        bindings.append(transitions.map { $0.reason ?? "" })
        bindings.append(transitions.map { $0.actor ?? "" })
        bindings.append(transitions.map { $0.requestID ?? "" })
    }

    /// The transitions of `resourceID`, oldest first (at most `limit`).
    public func entries(of resourceID: String, limit: Int = 1000, on pool: PostgresPool) async throws -> [StatusTransition] {
        var bindings = PostgresBindings(capacity: 2)
        bindings.append(resourceID)
        bindings.append(limit)
        let rows = try await pool.query(
            PostgresQuery(
                unsafeSQL: """
                    SELECT from_status, to_status, reason, actor, request_id, changed_at FROM \(table)
                    WHERE resource_id = $1 ORDER BY id LIMIT $2
                    """,
                binds: bindings
            )
        )
        return try rows.map { row in
            let columns = row.makeRandomAccess()
            var transition = StatusTransition(
                history: self,
                resourceID: resourceID,
                from: try columns["from_status"].decode(String?.self),
                to: try columns["to_status"].decode(String.self),
                reason: try columns["reason"].decode(String?.self)
            )
            transition.actor = try columns["actor"].decode(String?.self)
            transition.requestID = try columns["request_id"].decode(String?.self)
            transition.changedAt = try columns["changed_at"].decode(Date.self)
            return transition
        }
    }
}

/// One status change of a resource, as its app's ``StatusHistory`` keeps it.
public struct StatusTransition: Sendable, Equatable, Encodable {
    /// Where it is kept.
    public let history: StatusHistory
    /// The resource whose status changed.
    public var resourceID: String
    /// The status before, `nil` for a new resource.
    public var from: String?
    /// The status after.
    public var to: String
    /// Why, when the caller said.
    public var reason: String?
    /// Who changed it (filled in from the ``Caller`` when recorded).
    public var actor: String?
    /// The request that changed it.
    public var requestID: String?
    /// When it changed; `nil` until stored (the transaction's time).
    public var changedAt: Date?

    public init(history: StatusHistory, resourceID: String, from: String?, to: String, reason: String? = nil) {
        self.history = history
        self.resourceID = resourceID
        self.from = from
        self.to = to
        self.reason = reason
    }

    enum CodingKeys: String, CodingKey {
        case from, to, reason, actor
        case requestID = "request_id"
        case changedAt = "changed_at"
    }

    /// Every member, `null` when absent.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(from, forKey: .from)
        try container.encode(to, forKey: .to)
        try container.encode(reason, forKey: .reason)
        try container.encode(actor, forKey: .actor)
        try container.encode(requestID, forKey: .requestID)
        try container.encode(changedAt, forKey: .changedAt)
    }
}
