public import Hummingbird
import Logging
import StrataCore

/// Turns every error into an RFC 9457 `application/problem+json` response with a stable
/// `code` and the request id. Server-side failures (5xx) are logged with their full
/// description; the client sees a generic message.
public struct ProblemMiddleware: RouterMiddleware {
    public typealias Context = StrataRequestContext

    public init() {}

    public func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch {
            let strataError = StrataError.fromHTTP(error, routeMatched: context.endpointPath != nil)
            let status = strataError.httpStatus
            if status.code >= 500 {
                context.logger.error("request failed", metadata: ["strata.error": .string(String(reflecting: strataError))])
            } else {
                context.logger.debug("request rejected", metadata: ["strata.error": .string(strataError.description)])
            }
            let retryAfter = strataError.details["retry_after_s"].flatMap(Int.init) ?? (strataError.isRetryable ? 1 : nil)
            return strataError.problem(requestID: context.requestID).response(retryAfter: retryAfter)
        }
    }
}
