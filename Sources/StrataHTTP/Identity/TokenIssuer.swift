import Crypto
public import Foundation
public import StrataCore

/// Signs and checks the JSON Web Tokens that app users get at login: HS256 only, with the
/// principal (subject, name, permissions, scopes), the app, an id (`jti`, for revocation), and
/// issue and expiry times.
///
/// Verification accepts exactly `{"alg":"HS256"}`-signed tokens from this issuer (no `none`, no
/// algorithm switching), compares signatures in constant time and checks expiry with 30 s of
/// leeway. The key is `JWT_SECRET` (at least 32 bytes) or one generated and kept in
/// `$STRATA_HOME/jwt-secret`.
public struct TokenIssuer: Sendable {
    /// What a token says.
    public struct Claims: Codable, Sendable, Equatable {
        public var sub: String
        public var name: String
        public var app: String
        public var perms: [String]
        public var scopes: [String: [String]]
        public var iat: Int64
        public var exp: Int64
        public var jti: String
        public var iss: String

        /// The principal the token stands for.
        public var principal: Principal {
            Principal(id: sub, name: name, kind: .user, permissions: Set(perms), scopes: scopes)
        }

        public var expiresAt: Date { Date(timeIntervalSince1970: TimeInterval(exp)) }

        enum CodingKeys: String, CodingKey {
            case sub, name, app, perms, scopes, iat, exp, jti, iss
        }

        public init(
            sub: String,
            name: String,
            app: String,
            perms: [String],
            scopes: [String: [String]],
            iat: Int64,
            exp: Int64,
            jti: String,
            iss: String
        ) {
            self.sub = sub
            self.name = name
            self.app = app
            self.perms = perms
            self.scopes = scopes
            self.iat = iat
            self.exp = exp
            self.jti = jti
            self.iss = iss
        }

        public init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: CodingKeys.self)
            sub = try container.decode(String.self, forKey: .sub)
            name = try container.decode(String.self, forKey: .name)
            app = try container.decode(String.self, forKey: .app)
            perms = try container.decode([String].self, forKey: .perms)
            scopes = try container.decodeIfPresent([String: [String]].self, forKey: .scopes) ?? [:]
            iat = try container.decode(Int64.self, forKey: .iat)
            exp = try container.decode(Int64.self, forKey: .exp)
            jti = try container.decode(String.self, forKey: .jti)
            iss = try container.decode(String.self, forKey: .iss)
        }

        /// Empty scopes are left out: the token travels with every request, so it is kept short.
        public func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(sub, forKey: .sub)
            try container.encode(name, forKey: .name)
            try container.encode(app, forKey: .app)
            try container.encode(perms, forKey: .perms)
            if !scopes.isEmpty { try container.encode(scopes, forKey: .scopes) }
            try container.encode(iat, forKey: .iat)
            try container.encode(exp, forKey: .exp)
            try container.encode(jti, forKey: .jti)
            try container.encode(iss, forKey: .iss)
        }
    }

    static let issuerName = "strata"
    /// `typ` is optional (RFC 7519 §5.1) and left out: every byte travels with every request.
    static let header = Base64URL.encode(Array(#"{"alg":"HS256"}"#.utf8))
    let key: SymmetricKey
    /// How long a token is valid.
    public let lifetime: Duration
    /// Tokens already verified, so that a client's next requests skip the signature and JSON
    /// work (an entry is still checked for expiry on every use).
    let verified = ExpiringCache<String, Verified>(limit: 10_000)

    /// - Throws: `invalid_configuration` when the secret is shorter than 32 bytes.
    public init(secret: [UInt8], lifetime: Duration = .seconds(3600)) throws {
        guard secret.count >= 32 else {
            throw StrataError(.invalidConfiguration, "JWT_SECRET must be at least 32 bytes.", details: ["variable": "JWT_SECRET"])
        }
        self.key = SymmetricKey(data: secret)
        self.lifetime = lifetime
    }

    /// Issues a token for `principal` in `app`.
    public func issue(for principal: Principal, app: String, now: Date = Date()) -> (token: String, claims: Claims) {
        let issued = Int64(now.timeIntervalSince1970)
        let claims = Claims(
            sub: principal.id,
            name: principal.name,
            app: app,
            perms: principal.permissions.sorted(),
            scopes: principal.scopes,
            iat: issued,
            exp: issued + Int64(lifetime.secondsDouble),
            jti: Self.newTokenID(),
            iss: Self.issuerName
        )
        let payload = Base64URL.encode(Array((try? JSONEncoder.api().encode(claims)) ?? Data()))
        let signingInput = Self.header + "." + payload
        let signature = Base64URL.encode(Array(HMAC<SHA256>.authenticationCode(for: Array(signingInput.utf8), using: key)))
        return (signingInput + "." + signature, claims)
    }

    /// 128 random bits, base64url (22 characters).
    static func newTokenID() -> String {
        Base64URL.encode(SecureRandom.bytes(16))
    }

    /// Checks a token and returns its claims.
    /// - Throws: `unauthenticated` for anything but a valid, unexpired token of ours.
    public func verify(_ token: String, now: Date = Date()) throws -> Claims {
        try verifiedPrincipal(token, now: now).claims
    }

    /// A verified token: its claims, the principal they describe, and the key its requests'
    /// rate budget is counted under.
    public struct Verified: Sendable {
        public var claims: Claims
        public var principal: Principal
        public var budgetKey: String
    }

    /// Checks a token and returns its claims with the principal they describe (both cached
    /// per token, so a client's next requests cost a dictionary lookup).
    /// - Throws: `unauthenticated` as ``verify(_:now:)``.
    public func verifiedPrincipal(_ token: String, now: Date = Date()) throws -> Verified {
        let seconds = Int64(now.timeIntervalSince1970)
        if let entry = verified.value(for: token), entry.claims.exp + 30 > seconds, entry.claims.iat - 30 <= seconds { return entry }
        let claims = try verifyUncached(token, now: now)
        let entry = Verified(claims: claims, principal: claims.principal, budgetKey: "user:\(claims.app):\(claims.sub)")
        verified.set(entry, for: token, until: .now + .seconds(max(0, claims.exp + 30 - seconds)))
        return entry
    }

    func verifyUncached(_ token: String, now: Date) throws -> Claims {
        let refused = StrataError(.unauthenticated, "The token is not valid (malformed, wrongly signed or expired); sign in again.")
        let parts = token.split(separator: ".", omittingEmptySubsequences: false)
        guard token.utf8.count <= 8192, parts.count == 3, let header = Base64URL.decode(parts[0]),
            let signature = Base64URL.decode(parts[2]), let payload = Base64URL.decode(parts[1])
        else { throw refused }
        struct Header: Decodable { var alg: String }
        guard (try? JSONDecoder.api().decode(Header.self, from: Data(header)))?.alg == "HS256" else { throw refused }
        let signingInput = Array(parts[0].utf8) + [UInt8(ascii: ".")] + Array(parts[1].utf8)
        guard HMAC<SHA256>.isValidAuthenticationCode(signature, authenticating: signingInput, using: key) else { throw refused }
        guard let claims = try? JSONDecoder.api().decode(Claims.self, from: Data(payload)), claims.iss == Self.issuerName else { throw refused }
        let seconds = Int64(now.timeIntervalSince1970)
        guard claims.exp + 30 > seconds, claims.iat - 30 <= seconds else { throw refused }
        return claims
    }

    /// Whether a credential has the shape of a JWT (three dot-separated parts).
    static func looksLikeToken(_ text: String) -> Bool {
        var text = text
        // Counted over the contiguous bytes: every authenticated request asks this.
        return text.withUTF8 { bytes in
            bytes.count > 20 && bytes.reduce(0) { $0 + ($1 == UInt8(ascii: ".") ? 1 : 0) } == 2
        }
    }
}
