import Foundation
public import Hummingbird
public import StrataCore

/// An RFC 9457 problem document, the body of every Strata error response
/// (`Content-Type: application/problem+json`).
///
/// ```json
/// {"type":"https://strata.dev/problems/conflict","title":"Conflict","status":409,
///  "detail":"The change conflicts with existing data (tickets_pkey).","code":"conflict",
///  "request_id":"4f1c…","details":{"constraint":"tickets_pkey"}}
/// ```
public struct ProblemDetails: Codable, Sendable, Equatable {
    /// A URI naming the problem type; derived from ``code``.
    public var type: String
    /// The HTTP status's reason phrase.
    public var title: String
    /// The HTTP status code.
    public var status: Int
    /// What went wrong and what to do next, safe to show.
    public var detail: String
    /// The stable machine-readable code.
    public var code: String
    /// The request id, to find the server's log lines.
    public var requestID: String?
    /// Client-safe structured details.
    public var details: [String: String]?
    /// For validation failures: every wrong field and why.
    public var errors: [StrataError.FieldError]?

    enum CodingKeys: String, CodingKey {
        case type, title, status, detail, code, details, errors
        case requestID = "request_id"
    }

    /// The base of ``type`` URIs.
    public static let typeBase = "https://strata.dev/problems/"

    /// Creates a problem.
    public init(
        status: HTTPResponse.Status,
        code: String,
        detail: String,
        requestID: String?,
        details: [String: String]? = nil,
        errors: [StrataError.FieldError]? = nil
    ) {
        self.type = Self.typeBase + code
        self.title = status.reasonPhrase
        self.status = status.code
        self.detail = detail
        self.code = code
        self.requestID = requestID
        self.details = details?.isEmpty == true ? nil : details
        self.errors = errors?.isEmpty == true ? nil : errors
    }

    /// The problem as a response, with `Retry-After` when given.
    public func response(retryAfter: Int? = nil) -> Response {
        let data = (try? JSONEncoder.api().encode(self)) ?? Data("{\"status\":\(status)}".utf8)
        var headers: HTTPFields = [.contentType: "application/problem+json"]
        if let retryAfter { headers[.retryAfter] = "\(retryAfter)" }
        return Response(
            status: HTTPResponse.Status(code: status),
            headers: headers,
            body: .init(byteBuffer: ByteBuffer(bytes: data))
        )
    }
}

extension StrataError {
    /// The HTTP status for this error's kind. Lives only here: the mapping from codes to HTTP.
    public var httpStatus: HTTPResponse.Status {
        switch code.kind {
        case .invalidInput: .unprocessableContent
        case .unreadableInput: .badRequest
        case .notFound: .notFound
        case .conflict: .conflict
        case .gone: .gone
        case .preconditionFailed: .preconditionFailed
        case .preconditionRequired: .preconditionRequired
        case .tooLarge: .contentTooLarge
        case .unsupportedMediaType: .unsupportedMediaType
        case .methodNotAllowed: .methodNotAllowed
        case .unauthenticated: .unauthorized
        case .forbidden: .forbidden
        case .rateLimited: .tooManyRequests
        case .unavailable, .transient: .serviceUnavailable
        case .timeout: .gatewayTimeout
        case .configuration, .internal: .internalServerError
        }
    }

    /// The problem document for this error. Internal errors get a generic detail: their
    /// message is for the log.
    public func problem(requestID: String?) -> ProblemDetails {
        let safe = code.kind == .internal || code.kind == .configuration
        return ProblemDetails(
            status: httpStatus,
            code: safe ? StrataError.Code.internalError.rawValue : code.rawValue,
            detail: safe ? "An unexpected error occurred; quote the request id when reporting it." : message,
            requestID: requestID,
            details: safe ? nil : details,
            errors: safe ? nil : fieldErrors
        )
    }
}
