public import Hummingbird
import StrataCore

/// A route that takes larger bodies than the server's general limit: `POST` to `path`.
public struct UploadLimit: Sendable, Equatable {
    /// The exact request path (`/api/simjobs/structures`).
    public var path: String
    /// The largest body in bytes.
    public var limit: Int

    public init(path: String, limit: Int) {
        self.path = path
        self.limit = limit
    }
}

/// Enforces the request body limit: a `Content-Length` above it is refused with 413 before
/// any of the body is read; a body without a length (chunked) is cut off at the limit when a
/// handler reads it. Upload routes (``UploadLimit``) have limits of their own.
public struct BodyLimitMiddleware: RouterMiddleware {
    public typealias Context = StrataRequestContext
    /// The limit in bytes.
    public let limit: Int
    /// Limits of upload routes by path.
    public let uploads: [String: Int]

    public init(limit: Int, uploads: [UploadLimit] = []) {
        self.limit = limit
        self.uploads = Dictionary(uploads.map { ($0.path, $0.limit) }, uniquingKeysWith: max)
    }

    public func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let limit = request.method == .post ? uploads[request.uri.path] ?? self.limit : self.limit
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
