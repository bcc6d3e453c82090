public import Hummingbird
import Logging

/// The request context of every Strata route: Hummingbird's core storage plus the request id
/// and the body limit.
public struct StrataRequestContext: RequestContext {
    public var coreContext: CoreRequestContextStorage
    /// The request id: the client's `X-Request-ID` when well-formed, else a generated one.
    public var requestID: String
    /// The largest body a handler will read, in bytes (set by ``BodyLimitMiddleware``).
    public var bodyLimit: Int

    public init(source: ApplicationRequestContextSource) {
        self.coreContext = .init(source: source)
        self.requestID = ""
        self.bodyLimit = 1 << 20
    }

    /// Hummingbird reads request bodies up to this size, then answers 413.
    public var maxUploadSize: Int { bodyLimit }
}
