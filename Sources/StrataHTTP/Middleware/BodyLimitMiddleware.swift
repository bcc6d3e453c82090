public import Hummingbird
import StrataCore

/// A route that takes larger bodies than the server's general limit: `POST` to `path`.
public struct UploadLimit: Sendable, Equatable {
    /// The request path (`/api/simjobs/structures`); a `{name}` segment matches any one segment
    /// (`/api/workorders/orders/{id}/attachments`).
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
    /// Limits of upload routes with exact paths.
    public let uploads: [String: Int]
    /// Limits of upload routes with `{…}` segments: their segments (`nil` for any).
    let patterns: [(segments: [Substring?], limit: Int)]

    public init(limit: Int, uploads: [UploadLimit] = []) {
        self.limit = limit
        let exact = uploads.filter { !$0.path.contains("{") }
        self.uploads = Dictionary(exact.map { ($0.path, $0.limit) }, uniquingKeysWith: max)
        self.patterns = uploads.filter { $0.path.contains("{") }.map { upload in
            (upload.path.split(separator: "/").map { $0.hasPrefix("{") && $0.hasSuffix("}") ? nil : $0 }, upload.limit)
        }
    }

    /// The limit of a POST to `path`.
    func uploadLimit(_ path: String) -> Int? {
        if let exact = uploads[path] { return exact }
        guard !patterns.isEmpty else { return nil }
        let segments = path.split(separator: "/")
        return patterns.first { pattern in
            pattern.segments.count == segments.count && zip(pattern.segments, segments).allSatisfy { $0 == nil || $0 == $1 }
        }?.limit
    }

    public func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let limit = request.method == .post ? uploadLimit(request.uri.path) ?? self.limit : self.limit
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
