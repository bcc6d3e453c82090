public import Foundation
import PostgresNIO
import StrataCore
public import StrataPostgres

/// Which JWTs were revoked (signed out) before their expiry: `strata.revoked_tokens`, checked
/// once per token id every ``checkInterval`` and remembered in between, so a busy token costs
/// no query per request. A revocation made by this process applies at once; one made by another
/// server within ``checkInterval``.
public final class TokenRevocations: Sendable {
    let pool: PostgresPool
    /// How long a "not revoked" answer is trusted.
    public let checkInterval: Duration
    private let known = ExpiringCache<String, Bool>(limit: 100_000)

    public init(pool: PostgresPool, checkInterval: Duration = .seconds(10)) {
        self.pool = pool
        self.checkInterval = checkInterval
    }

    /// Whether the token id was revoked, when the answer is remembered: the request path asks
    /// this first and awaits ``isRevoked(_:)`` only when it is `nil`.
    public func knownAnswer(_ tokenID: String) -> Bool? {
        known.value(for: tokenID)
    }

    /// Whether the token id was revoked.
    public func isRevoked(_ tokenID: String) async throws -> Bool {
        if let revoked = known.value(for: tokenID) { return revoked }
        let revoked = try await pool.query("SELECT 1 FROM strata.revoked_tokens WHERE token_id = \(tokenID)").first != nil
        // A revocation is final; a "not revoked" answer is checked again after the interval.
        known.set(revoked, for: tokenID, until: .now + (revoked ? .seconds(86_400 * 365) : checkInterval))
        return revoked
    }

    /// Revokes a token until its expiry.
    public func revoke(_ tokenID: String, expiresAt: Date) async throws {
        try await pool.query(
            "INSERT INTO strata.revoked_tokens (token_id, expires_at) VALUES (\(tokenID), \(expiresAt)) ON CONFLICT DO NOTHING"
        )
        known.set(true, for: tokenID, until: .now + .seconds(86_400 * 365))
    }
}
