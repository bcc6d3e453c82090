public import Foundation
import PostgresNIO
import StrataCore
public import StrataPostgres
import Synchronization

/// Which JWTs were revoked (signed out) before their expiry: `strata.revoked_tokens`, checked
/// once per token id every ``checkInterval`` and remembered in between, so a busy token costs
/// no query per request. A revocation made by this process applies at once; one made by another
/// server within ``checkInterval``.
public final class TokenRevocations: Sendable {
    let pool: PostgresPool
    /// How long a "not revoked" answer is trusted.
    public let checkInterval: Duration
    private let known = Mutex<[String: (revoked: Bool, until: ContinuousClock.Instant)]>([:])

    public init(pool: PostgresPool, checkInterval: Duration = .seconds(10)) {
        self.pool = pool
        self.checkInterval = checkInterval
    }

    /// Whether the token id was revoked.
    public func isRevoked(_ tokenID: String) async throws -> Bool {
        let now = ContinuousClock.now
        if let entry = known.withLock({ $0[tokenID] }), entry.revoked || entry.until > now { return entry.revoked }
        let revoked = try await pool.query("SELECT 1 FROM strata.revoked_tokens WHERE token_id = \(tokenID)").first != nil
        known.withLock { known in
            if known.count > 100_000 { known.removeAll(keepingCapacity: true) }
            known[tokenID] = (revoked, now + checkInterval)
        }
        return revoked
    }

    /// Revokes a token until its expiry.
    public func revoke(_ tokenID: String, expiresAt: Date) async throws {
        try await pool.query(
            "INSERT INTO strata.revoked_tokens (token_id, expires_at) VALUES (\(tokenID), \(expiresAt)) ON CONFLICT DO NOTHING"
        )
        known.withLock { $0[tokenID] = (true, .now + .seconds(86_400 * 365)) }
    }
}
