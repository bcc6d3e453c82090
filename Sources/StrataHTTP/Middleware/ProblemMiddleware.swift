public import Hummingbird
import Logging
import StrataCore

/// Turns every error into an RFC 9457 `application/problem+json` response with a stable
/// `code` and the request id. Server-side failures (5xx) are logged with their full
/// description, except those of an outage the dependency's client has reported once
/// (``StrataCore/ReportedOutage``); the client sees a generic message.
public struct ProblemMiddleware: RouterMiddleware {
    public typealias Context = StrataRequestContext

    let routes: RouteTable?

    /// - Parameter routes: The server's routes, to answer 405 with `Allow` rather than 404 when
    ///   only the method is wrong.
    public init(routes: RouteTable? = nil) {
        self.routes = routes
    }

    public func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch {
            var strataError = StrataError.fromHTTP(error, routeMatched: context.endpointPath != nil)
            var allow: String?
            if strataError.code == .routeNotFound, let routes, case let methods = routes.allowedMethods(for: request.uri.path), !methods.isEmpty {
                allow = methods.joined(separator: ", ")
                strataError = StrataError(
                    .methodNotAllowed,
                    "This path does not answer \(request.method.rawValue); it answers \(allow!).",
                    details: ["allow": allow!]
                )
            }
            let status = strataError.httpStatus
            if status.code >= 500 && !strataError.isReportedOutage {
                context.logger.error("request failed", metadata: ["strata.error": .string(String(reflecting: strataError))])
            } else {
                context.logger.debug("request rejected", metadata: ["strata.error": .string(strataError.description)])
            }
            let retryAfter = strataError.details["retry_after_s"].flatMap(Int.init) ?? (strataError.isRetryable ? 1 : nil)
            var response = strataError.problem(requestID: context.requestID).response(retryAfter: retryAfter)
            if let allow { response.headers[.allow] = allow }
            return response
        }
    }
}
