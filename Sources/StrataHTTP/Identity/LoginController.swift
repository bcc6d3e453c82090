import Foundation
public import Hummingbird
import StrataCore
import StrataPostgres
import StrataRedis
import StrataSecurity

/// `POST /api/<app>/login {"login", "password"}` → `{"token", "token_type", "expires_at"}` and
/// `POST /api/<app>/logout` (revokes the presented token) for an app's ``UserDirectory``.
///
/// Attempts are rate-limited per account and per client IP (brute force), counted whether they
/// succeed or not. Unknown logins and wrong passwords get the same 401 after the same bcrypt
/// work (``PasswordHasher/standard``, whose cost the directory's hashes must share), so the
/// answer's timing does not tell which logins exist.
public struct LoginController: Sendable {
    public let app: String
    let directory: any UserDirectory
    let issuer: TokenIssuer
    let revocations: TokenRevocations
    let limiter: RequestLimiter
    let attemptsPerAccount: Int
    let attemptsPerIP: Int

    public init(
        app: String,
        directory: any UserDirectory,
        issuer: TokenIssuer,
        revocations: TokenRevocations,
        limiter: RequestLimiter,
        attemptsPerAccount: Int = 10,
        attemptsPerIP: Int = 30
    ) {
        self.app = app
        self.directory = directory
        self.issuer = issuer
        self.revocations = revocations
        self.limiter = limiter
        self.attemptsPerAccount = attemptsPerAccount
        self.attemptsPerIP = attemptsPerIP
    }

    struct LoginRequest: Decodable {
        var login: String
        var password: String
    }

    struct Token: ResponseEncodable {
        var token: String
        var tokenType = "Bearer"
        var expiresAt: Date

        enum CodingKeys: String, CodingKey {
            case token
            case tokenType = "token_type"
            case expiresAt = "expires_at"
        }
    }

    public func addRoutes(to router: any RouterMethods<StrataRequestContext>) {
        router.post("/api/\(app)/login") { request, context -> Token in
            try await login(request, context: context)
        }
        router.post("/api/\(app)/logout") { request, context -> HTTPResponse.Status in
            guard let credential = AuthenticationMiddleware.credential(in: request.headers), TokenIssuer.looksLikeToken(credential) else {
                throw StrataError(.unauthenticated, "Sign out needs the token to revoke in 'Authorization: Bearer …'.")
            }
            let claims = try issuer.verify(credential)
            try await revocations.revoke(claims.jti, expiresAt: claims.expiresAt)
            return .noContent
        }
    }

    func login(_ request: Request, context: StrataRequestContext) async throws -> Token {
        let body = try await request.decodeJSON(as: LoginRequest.self, context: context)
        guard (1...200).contains(body.login.count), (1...200).contains(body.password.utf8.count) else {
            throw StrataError.validation([.init(field: "login", reason: "login and password must be 1 to 200 characters")])
        }
        for (budget, perMinute) in [
            ("login:\(app):\(body.login.lowercased())", attemptsPerAccount), ("login-ip:\(context.clientIP ?? "unknown")", attemptsPerIP),
        ] {
            try await limiter.spend(budget, perMinute: perMinute, what: "sign-in attempts")
        }
        let user = try await directory.credentials(forLogin: body.login)
        let matches = try await PasswordHasher.standard.verify(body.password, against: user?.passwordHash)
        guard let user, matches, user.active else {
            throw StrataError(.unauthenticated, "The login or the password is wrong.")
        }
        let (token, claims) = issuer.issue(for: user.principal, app: app)
        try await directory.signedIn(user.principal)
        context.audit.actor = user.principal.actor
        return Token(token: token, expiresAt: claims.expiresAt)
    }
}
