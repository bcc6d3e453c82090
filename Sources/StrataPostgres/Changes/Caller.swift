public import Foundation

/// Who makes a change and under what: the one value every app service takes for a write (and
/// for a scoped read), made from a request's context or for a background job.
///
/// Its facts travel into everything the change records (``ChangeLog``): the actor and the
/// request id into each outbox event, the actor and the request's facts (address, user agent,
/// request and trace id, redacted body) into the audit entry. Its scopes are the principal's:
/// which rows it may reach, per scope name (`factory_ids`, `line_ids`, `work_order_ids`); a
/// scope that is absent is not limited.
///
/// ```swift
/// // in a route (StrataHTTP makes it from the context):
/// let order = try await service.create(draft, by: context.caller(requiring: "workorders.write"))
/// // in a job handler:
/// try await service.expire(licence, by: .job("workorders.licence_expiry"))
/// ```
public struct Caller: Sendable {
    /// The recorded actor: `api_key:<name>`, `user:<name>`, `worker:<name>` or `system`.
    public var actor: String
    /// The human-readable name of the actor (a key's or user's name, a worker's name): what an
    /// app writes in its own "created by" columns.
    public var name: String
    /// The request's id, `nil` for a background job.
    public var requestID: String?
    /// The W3C trace id the request carried, if any.
    public var traceID: String?
    /// Allowed values per scope name; an absent scope is not limited.
    public var scopes: [String: [String]]
    /// The request's audit bookkeeping (its facts, and whether the change was recorded). A job
    /// has one of its own.
    public let audit: AuditTrail

    /// A caller from its parts (StrataHTTP makes a request's; ``job(_:)`` a job's).
    public init(
        actor: String,
        name: String,
        requestID: String? = nil,
        traceID: String? = nil,
        scopes: [String: [String]] = [:],
        audit: AuditTrail = AuditTrail()
    ) {
        self.actor = actor
        self.name = name
        self.requestID = requestID
        self.traceID = traceID
        self.scopes = scopes
        self.audit = audit
    }

    /// A background job or process acting on its own: actor `<kind>:<name>` (`worker:gpu-1`), or
    /// `system` when `kind` is `nil`. It reaches every row.
    public static func job(_ name: String = "system", kind: String? = nil) -> Caller {
        Caller(actor: kind.map { "\($0):\(name)" } ?? name, name: name)
    }

    /// The allowed values of a scope, `nil` when it is not limited.
    public func scope(_ name: String) -> [String]? { scopes[name] }

    /// The allowed ids of a scope of UUIDs, `nil` when it is not limited (values that are not
    /// UUIDs reach nothing).
    public func idScope(_ name: String) -> [UUID]? {
        scopes[name].map { $0.compactMap(UUID.init(uuidString:)) }
    }
}
