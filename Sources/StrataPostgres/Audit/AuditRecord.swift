public import Foundation

/// One audit entry: who did what to which resource, from where, under which request, and how
/// the request ended.
///
/// Services build it from the request's ``AuditRecord/RequestFacts`` (filled by the HTTP audit
/// middleware) and record it in the change's transaction with ``AuditWriter``.
public struct AuditRecord: Sendable, Equatable {
    /// Facts about the request that made the change.
    public struct RequestFacts: Sendable, Equatable {
        /// The client's address (an IPv4 or IPv6 literal).
        public var ip: String?
        public var userAgent: String?
        public var requestID: String?
        /// The W3C trace id, when the request carried `traceparent`.
        public var traceID: String?
        /// The request body as JSON with secrets redacted (``SecretRedaction``).
        public var redactedBody: String?

        public init(ip: String? = nil, userAgent: String? = nil, requestID: String? = nil, traceID: String? = nil, redactedBody: String? = nil) {
            self.ip = ip
            self.userAgent = userAgent
            self.requestID = requestID
            self.traceID = traceID
            self.redactedBody = redactedBody
        }
    }

    /// The app the resource belongs to (`strata` for the platform).
    public var app: String
    /// Who acted; `nil` for anonymous requests.
    public var actor: String?
    /// What was done, e.g. `create`, `update`, `status.change`.
    public var action: String
    public var resourceType: String
    public var resourceID: String?
    public var request: RequestFacts
    /// The HTTP status the request answered (or will answer) with.
    public var responseStatus: Int?
    /// Anything else worth keeping, as a JSON object.
    public var detailsJSON: String
    /// When it happened; `nil` means the transaction's time.
    public var occurredAt: Date?

    public init(
        app: String,
        actor: String?,
        action: String,
        resourceType: String,
        resourceID: String? = nil,
        request: RequestFacts = .init(),
        responseStatus: Int? = nil,
        detailsJSON: String = "{}",
        occurredAt: Date? = nil
    ) {
        self.app = app
        self.actor = actor
        self.action = action
        self.resourceType = resourceType
        self.resourceID = resourceID
        self.request = request
        self.responseStatus = responseStatus
        self.detailsJSON = detailsJSON
        self.occurredAt = occurredAt
    }
}
