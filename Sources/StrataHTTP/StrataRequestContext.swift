public import Foundation
public import Hummingbird
import Logging
public import StrataCore
public import StrataPostgres

/// The request context of every Strata route: Hummingbird's core storage plus the request id
/// and the body limit.
public struct StrataRequestContext: RequestContext {
    public var coreContext: CoreRequestContextStorage
    /// The request id: the client's `X-Request-ID` when well-formed, else a generated one.
    public var requestID: String
    /// The largest body a handler will read, in bytes (set by ``BodyLimitMiddleware``).
    public var bodyLimit: Int
    /// The client's IP address, from the connection.
    public var clientIP: String?
    /// The W3C trace id of the request's `traceparent`, when it sent a well-formed one.
    public var traceID: String?
    /// The request's audit trail: the actor once authenticated; the facts, filled by ``AuditMiddleware`` on mutating API requests.
    public var audit: AuditTrail
    /// Who is asking, when the request carried valid credentials (``AuthenticationMiddleware``).
    public var principal: Principal?

    /// Request bodies are read with strict RFC 3339 dates (``JSONDecoder/api()``).
    public var requestDecoder: JSONDecoder { .api() }

    public init(source: ApplicationRequestContextSource) {
        self.coreContext = .init(source: source)
        self.requestID = ""
        self.bodyLimit = 1 << 20
        self.clientIP = source.channel.remoteAddress?.ipAddress
        self.traceID = nil
        self.audit = AuditTrail()
        self.principal = nil
    }

    /// The authenticated principal, checked for `permission`.
    /// - Throws: `unauthenticated` without credentials; `forbidden` without the permission.
    @discardableResult
    public func requirePermission(_ permission: String) throws -> Principal {
        guard let principal else {
            throw StrataError(.unauthenticated, "This needs credentials: an API key in 'Authorization: Bearer …' or 'X-API-Key'.")
        }
        try principal.require(permission)
        return principal
    }

    /// The caller a service records this request's changes for (``Caller``), after checking
    /// `permission`: the principal's actor, name and scopes (none for `admin`), the request and
    /// trace ids, and the request's audit trail.
    /// - Throws: `unauthenticated` without credentials; `forbidden` without the permission.
    public func caller(requiring permission: String) throws -> Caller {
        let principal = try requirePermission(permission)
        return Caller(
            actor: principal.actor,
            name: principal.name,
            requestID: requestID,
            traceID: traceID,
            scopes: principal.rowScopes,
            audit: audit
        )
    }

    /// Hummingbird reads request bodies up to this size, then answers 413.
    public var maxUploadSize: Int { bodyLimit }
}
