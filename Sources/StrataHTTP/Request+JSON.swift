public import Foundation
public import Hummingbird
import StrataCore

extension Request {
    /// Decodes a JSON body, answering the client's mistakes with problem+json:
    /// 415 `unsupported_media_type` when `Content-Type` is not JSON, 413 `payload_too_large`
    /// past the body limit, 400 `malformed_body` for invalid JSON or the wrong shape.
    public func decodeJSON<Value: Decodable>(as type: Value.Type, context: StrataRequestContext) async throws -> Value {
        let contentType = headers[.contentType]?.lowercased() ?? ""
        let mediaType = contentType.split(separator: ";").first.map { String($0).trimmingCharacters(in: .whitespaces) } ?? ""
        guard mediaType == "application/json" || (mediaType.hasPrefix("application/") && mediaType.hasSuffix("+json")) else {
            throw StrataError(
                .unsupportedMediaType,
                mediaType.isEmpty ? "Send the body as application/json." : "Send the body as application/json, not \(mediaType).",
                details: ["accepted": "application/json"]
            )
        }
        return try await decode(as: type, context: context)
    }

    /// Decodes a JSON body when one was sent, `nil` for an empty body (routes whose body is
    /// optional); otherwise the errors of ``decodeJSON(as:context:)``.
    public func decodeJSONIfPresent<Value: Decodable>(as type: Value.Type, context: StrataRequestContext) async throws -> Value? {
        var request = self
        let buffer = try await request.collectBody(upTo: context.bodyLimit)
        guard buffer.readableBytes > 0 else { return nil }
        return try await request.decodeJSON(as: type, context: context)
    }
}
