public import Logging
public import PostgresNIO
import StrataCore

/// Writes ``AuditRecord``s to `strata.audit_log`, in the caller's transaction so that the
/// record exists if and only if the change does.
///
/// ```swift
/// try await pool.withTransaction { connection in
///     try await repository.update(order, on: connection)
///     try await AuditWriter().record(
///         AuditRecord(app: "workorders", actor: principal.name, action: "update",
///                     resourceType: "work_order", resourceID: "\(order.id)",
///                     request: context.auditFacts, responseStatus: 200),
///         on: connection, logger: pool.statementLogger)
/// }
/// ```
public struct AuditWriter: Sendable {
    public init() {}

    /// Records one entry.
    /// - Returns: The entry's id.
    /// - Throws: `invalid_value` for a malformed record (bad IP, status, app); database errors.
    @discardableResult
    public func record(_ record: AuditRecord, on connection: PostgresConnection, logger: Logger) async throws -> Int64 {
        try validate(record)
        if let id = try await connection.rows(InsertAuditRecord(record: record), logger: logger).first { return id }
        preconditionFailure("INSERT … RETURNING returned no row")
    }

    func validate(_ record: AuditRecord) throws {
        func fail(_ field: String, _ rule: String) -> StrataError {
            StrataError(.invalidValue, "The audit record's \(field) \(rule).", details: ["field": field])
        }
        guard OutboxEvent.isAppName(record.app) else { throw fail("app", "must be a lowercase identifier") }
        guard (1...100).contains(record.action.count) else { throw fail("action", "must be 1 to 100 characters") }
        guard (1...100).contains(record.resourceType.count) else { throw fail("resource_type", "must be 1 to 100 characters") }
        if let status = record.responseStatus, !(100...599).contains(status) { throw fail("response_status", "must be 100 to 599") }
        if let ip = record.request.ip, !Self.isIPAddress(ip) { throw fail("ip", "must be an IPv4 or IPv6 address") }
    }

    /// Whether the text is an IPv4 or IPv6 literal (what `inet` accepts from a socket address).
    static func isIPAddress(_ text: String) -> Bool {
        guard !text.isEmpty, text.count <= 45 else { return false }
        if text.contains(":") { return text.allSatisfy { $0.isHexDigit || $0 == ":" || $0 == "." } }
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        return parts.count == 4 && parts.allSatisfy { part in part.count <= 3 && UInt8(part) != nil }
    }
}

/// The audit insert, prepared once per connection (it runs with nearly every write).
struct InsertAuditRecord: EmbeddableStatement {
    static let name = "strata.InsertAuditRecord"
    static let sql = statement(parametersFrom: 1)
    static let bindingDataTypes: [PostgresDataType] = [
        .timestamptz, .text, .text, .text, .text, .text, .text, .text, .text, .text, .int2, .text, .text,
    ]
    typealias Row = Int64

    var record: AuditRecord

    static func statement(parameters p: [String]) -> String {
        """
        INSERT INTO strata.audit_log (occurred_at, app, actor, action, resource_type, resource_id, ip, user_agent,
                                      request_id, trace_id, response_status, request_body, details)
        VALUES (coalesce(\(p[0]), now()), \(p[1]), \(p[2]), \(p[3]), \(p[4]), \(p[5]), \(p[6])::inet, \(p[7]), \(p[8]), \(p[9]),
                \(p[10]), \(p[11])::jsonb, \(p[12])::jsonb)
        RETURNING id
        """
    }

    func appendBindings(to bindings: inout PostgresBindings) {
        bindings.append(record.occurredAt)
        bindings.append(record.app)
        bindings.append(record.actor)
        bindings.append(record.action)
        bindings.append(record.resourceType)
        bindings.append(record.resourceID)
        bindings.append(record.request.ip)
        bindings.append(record.request.userAgent.map { String($0.prefix(1000)) })
        bindings.append(record.request.requestID)
        bindings.append(record.request.traceID)
        bindings.append(record.responseStatus.map { Int16($0) })
        bindings.append(record.request.redactedBody)
        bindings.append(record.detailsJSON)
    }

    func decodeRow(_ row: PostgresRow) throws -> Int64 { try row.decode(Int64.self) }
}
