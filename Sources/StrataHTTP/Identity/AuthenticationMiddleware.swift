import Foundation
public import HTTPTypes
public import Hummingbird
import Logging
import StrataCore
import StrataPostgres
import StrataRedis

/// Authenticates `/api/` requests and spends their rate budget.
///
/// - Credentials: `Authorization: Bearer <key>` or `X-API-Key: <key>`. Valid credentials put a
///   ``Principal`` in the context (and the actor in the audit trail); invalid ones are refused
///   with 401 at once. Requests without credentials go on anonymous — routes that need a
///   principal say so with ``StrataRequestContext/requirePermission(_:)``.
/// - Rate limits: an authenticated request counts against its key's per-minute limit, an
///   anonymous one against its client IP's (``anonymousPerMinute``); over budget is 429 with
///   `Retry-After`.
public struct AuthenticationMiddleware: RouterMiddleware {
    public typealias Context = StrataRequestContext
    let keys: APIKeyAuthenticator
    let limiter: RequestLimiter
    let anonymousPerMinute: Int

    public init(keys: APIKeyAuthenticator, limiter: RequestLimiter, anonymousPerMinute: Int = 600) {
        self.keys = keys
        self.limiter = limiter
        self.anonymousPerMinute = anonymousPerMinute
    }

    public func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard request.uri.path.hasPrefix("/api/") else { return try await next(request, context) }
        var context = context
        let budgetKey: String
        let perMinute: Int
        if let credential = Self.credential(in: request.headers) {
            let (principal, limit) = try await keys.authenticate(credential)
            context.principal = principal
            context.audit.actor = principal.actor
            context.logger[metadataKey: "strata.actor"] = .string(principal.actor)
            budgetKey = "key:\(principal.id)"
            perMinute = limit
        } else {
            budgetKey = "ip:\(context.clientIP ?? "unknown")"
            perMinute = anonymousPerMinute
        }
        let decision = await limiter.check(budgetKey, perMinute: perMinute)
        guard decision.allowed else {
            let seconds = max(1, Int((decision.retryAfter.secondsDouble).rounded(.up)))
            throw StrataError(
                .rateLimited,
                "Too many requests: the limit is \(perMinute) per minute; retry in \(seconds) s.",
                details: ["retry_after_s": "\(seconds)", "limit_per_minute": "\(perMinute)"]
            )
        }
        var response = try await next(request, context)
        response.headers[.rateLimitRemaining] = "\(decision.remaining)"
        return response
    }

    /// The key in `Authorization: Bearer …` or `X-API-Key`, if any.
    static func credential(in headers: HTTPFields) -> String? {
        if let authorization = headers[.authorization] {
            let parts = authorization.split(separator: " ", maxSplits: 1)
            if parts.count == 2, parts[0].lowercased() == "bearer" { return String(parts[1]).trimmingCharacters(in: .whitespaces) }
            return authorization  // a malformed header is refused by authentication, not ignored
        }
        return headers[.xAPIKey]
    }
}

extension HTTPField.Name {
    /// `X-API-Key`.
    public static let xAPIKey = Self("X-API-Key")!
    /// `X-RateLimit-Remaining`.
    public static let rateLimitRemaining = Self("X-RateLimit-Remaining")!
}
