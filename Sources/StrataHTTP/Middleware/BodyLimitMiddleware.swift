public import Hummingbird
import StrataCore

/// Enforces the request body limit: a `Content-Length` above it is refused with 413 before
/// any of the body is read; a body without a length (chunked) is cut off at the limit when a
/// handler reads it.
public struct BodyLimitMiddleware: RouterMiddleware {
    public typealias Context = StrataRequestContext
    /// The limit in bytes.
    public let limit: Int

    public init(limit: Int) {
        self.limit = limit
    }

    public func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        if let length = request.headers[.contentLength].flatMap(Int.init), length > limit {
            throw StrataError(
                .payloadTooLarge,
                "The request body is \(length) bytes; the limit is \(limit).",
                details: ["limit_bytes": "\(limit)"]
            )
        }
        var context = context
        context.bodyLimit = limit
        return try await next(request, context)
    }
}
