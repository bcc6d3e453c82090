import Foundation
public import HTTPTypes
public import Hummingbird
import Logging
import StrataCore
import StrataPostgres
import StrataRedis

/// Authenticates `/api/` requests and spends their rate budget.
///
/// - Credentials: `Authorization: Bearer <key or token>` or `X-API-Key: <key>` (and InfluxDB's
///   `Token`, basic auth and v1 `?p=`, ``credential(in:)``); a bearer value
///   shaped like a JWT is checked as an app user's token (``TokenIssuer``, not revoked), anything
///   else as an API key. Valid credentials put a
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
    let tokens: TokenIssuer?
    let revocations: TokenRevocations?
    let anonymousPerMinute: Int
    let userPerMinute: Int

    public init(
        keys: APIKeyAuthenticator,
        limiter: RequestLimiter,
        tokens: TokenIssuer? = nil,
        revocations: TokenRevocations? = nil,
        anonymousPerMinute: Int = 600,
        userPerMinute: Int = 600
    ) {
        self.keys = keys
        self.limiter = limiter
        self.tokens = tokens
        self.revocations = revocations
        self.anonymousPerMinute = anonymousPerMinute
        self.userPerMinute = userPerMinute
    }

    /// The principal and budget of a credential.
    func authenticate(_ credential: String) async throws -> (Principal, budget: String, perMinute: Int) {
        if TokenIssuer.looksLikeToken(credential) {
            guard let tokens else {
                throw StrataError(.unauthenticated, "This server does not accept tokens; use an API key.")
            }
            let verified = try tokens.verifiedPrincipal(credential)
            if let revocations {
                // The remembered answer spares an async call per request.
                let jti = verified.claims.jti
                let revoked: Bool
                if let known = revocations.knownAnswer(jti) { revoked = known } else { revoked = try await revocations.isRevoked(jti) }
                if revoked { throw StrataError(.unauthenticated, "The token was signed out; sign in again.") }
            }
            return (verified.principal, verified.budgetKey, userPerMinute)
        }
        let (principal, limit) = try await keys.authenticate(credential)
        return (principal, "key:\(principal.id)", limit)
    }

    public func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard request.uri.path.hasPrefix("/api/") || request.uri.path == Self.influxV1WritePath else { return try await next(request, context) }
        var context = context
        let budgetKey: String
        let perMinute: Int
        if let authorization = request.headers[.authorization], let key = request.headers[.xAPIKey],
            Self.credential(in: [.authorization: authorization]) != key
        {
            // Two different credentials: whichever one we picked, the other would be ignored, and a
            // bad credential must never pass because a good one came with it.
            throw StrataError(.unauthenticated, "Send one credential: 'Authorization: Bearer …' or 'X-API-Key', not two different ones.")
        }
        if let credential = Self.credential(in: request) {
            let (principal, budget, limit) = try await authenticate(credential)
            context.principal = principal
            // The actor reaches the request's log line and audit entries through the trail; setting
            // logger metadata here would copy the metadata on every authenticated request.
            context.audit.actor = principal.actor
            budgetKey = budget
            perMinute = limit
        } else {
            budgetKey = "ip:\(context.clientIP ?? "unknown")"
            perMinute = anonymousPerMinute
        }
        let decision = try await limiter.spend(budgetKey, perMinute: perMinute)
        var response = try await next(request, context)
        response.headers[.rateLimitRemaining] = "\(decision.remaining)"
        return response
    }

    /// The key in `Authorization: Bearer …` or `X-API-Key`, if any. InfluxDB's clients send
    /// `Authorization: Token …` (v2) or basic auth with the key as the password (v1): both are
    /// read the same way.
    static func credential(in headers: HTTPFields) -> String? {
        if let authorization = headers[.authorization] {
            for scheme in ["bearer ", "token "] {
                if let value = Self.value(of: authorization, scheme: scheme) { return value }
            }
            if let encoded = Self.value(of: authorization, scheme: "basic "), let decoded = Data(base64Encoded: encoded),
                let text = String(data: decoded, encoding: .utf8), let colon = text.firstIndex(of: ":")
            {
                return String(text[text.index(after: colon)...])
            }
            return authorization  // a malformed header is refused by authentication, not ignored
        }
        return headers[.xAPIKey]
    }

    /// The rest of `header` after `scheme` (lowercase, with its space, matched in any case), trimmed.
    static func value(of header: String, scheme: String) -> String? {
        let bytes = header.utf8
        guard bytes.count > scheme.utf8.count, zip(bytes, scheme.utf8).allSatisfy({ ($0 | 0x20) == $1 }) else { return nil }
        var token = Substring(header).dropFirst(scheme.count)
        while token.first == " " { token = token.dropFirst() }
        while token.last == " " { token = token.dropLast() }
        return String(token)
    }

    /// The credential of a request: its headers', or for InfluxDB v1's `/write` the `p` query
    /// parameter (`?u=…&p=<key>`).
    static func credential(in request: Request) -> String? {
        if let credential = credential(in: request.headers) { return credential }
        guard request.uri.path == influxV1WritePath else { return nil }
        return request.uri.queryParameters["p"].map(String.init)
    }

    /// InfluxDB v1's write path, authenticated like `/api/`.
    static let influxV1WritePath = "/write"
}

extension HTTPField.Name {
    /// `X-API-Key`.
    public static let xAPIKey = Self("X-API-Key")!
    /// `X-RateLimit-Remaining`.
    public static let rateLimitRemaining = Self("X-RateLimit-Remaining")!
}
