import HummingbirdBcrypt
import NIOPosix

/// bcrypt for the secrets people type or are handed (passwords, customer accounts, activation
/// codes): one cost for the whole platform, and the work done on NIO's thread pool, never on a
/// request's task.
///
/// Checking an unknown login or code verifies against a decoy hash of the same cost, so the
/// answer's timing does not tell which ones exist — which holds only if every stored hash was
/// made by this hasher.
public struct PasswordHasher: Sendable {
    /// The platform's hasher.
    public static let standard = PasswordHasher(cost: 12)

    /// bcrypt's cost (2^cost rounds).
    public let cost: Int
    /// Verified against when there is no stored hash.
    let decoy: String

    public init(cost: Int) {
        self.cost = cost
        self.decoy = Bcrypt.hash("strata-decoy-secret", cost: UInt8(cost))
    }

    /// The bcrypt hash of `secret` (`$2b$…`).
    public func hash(_ secret: String) async throws -> String {
        let cost = UInt8(cost)
        return try await NIOThreadPool.singleton.runIfActive { Bcrypt.hash(secret, cost: cost) }
    }

    /// Whether `secret` matches `hash`; with no hash, the same work against the decoy, and `false`.
    public func verify(_ secret: String, against hash: String?) async throws -> Bool {
        let stored = hash ?? decoy
        let matches = try await NIOThreadPool.singleton.runIfActive { Bcrypt.verify(secret, hash: stored) }
        return matches && hash != nil
    }
}
