public import Foundation
import Logging
import PostgresNIO
import StrataCore

/// `strata.api_keys`: create (the key is returned once), list, find by prefix, revoke, and
/// record use in batches.
public struct APIKeyStore: Sendable {
    let pool: PostgresPool

    public init(pool: PostgresPool) {
        self.pool = pool
    }

    /// What a new key may do.
    public struct NewKey: Sendable {
        public var name: String
        public var permissions: [String]
        public var scopes: [String: [String]]
        public var rateLimitPerMinute: Int
        public var expiresAt: Date?

        public init(name: String, permissions: [String], scopes: [String: [String]] = [:], rateLimitPerMinute: Int = 100, expiresAt: Date? = nil) {
            self.name = name
            self.permissions = permissions
            self.scopes = scopes
            self.rateLimitPerMinute = rateLimitPerMinute
            self.expiresAt = expiresAt
        }

        func validate() throws {
            func fail(_ field: String, _ rule: String) -> StrataError {
                StrataError(.invalidValue, "The key's \(field) \(rule).", details: ["field": field])
            }
            guard (1...100).contains(name.textLength) else { throw fail("name", "must be 1 to 100 characters") }
            guard (1...1_000_000).contains(rateLimitPerMinute) else { throw fail("rate_limit", "must be 1 to 1000000 per minute") }
            guard permissions.allSatisfy(Self.isPermission) else {
                throw fail("permissions", "must be admin or name their app, such as simjobs.write, workorders.read or workorders.*")
            }
            if let expiresAt, expiresAt <= Date() { throw fail("expires_at", "must be in the future") }
        }

        /// `admin`, or `app.verb` / `app.*` (lowercase letters, digits and `_` on each side).
        static func isPermission(_ text: String) -> Bool {
            if text == "admin" { return true }
            let parts = text.split(separator: ".", omittingEmptySubsequences: false)
            guard text.utf8.count <= 100, parts.count == 2 else { return false }
            let isName = { (part: Substring) in
                !part.isEmpty && part.utf8.allSatisfy { ($0 >= 0x61 && $0 <= 0x7A) || ($0 >= 0x30 && $0 <= 0x39) || $0 == 0x5F }
            }
            return isName(parts[0]) && (parts[1] == "*" || isName(parts[1]))
        }
    }

    static let columns = """
        id, name, prefix, permissions, scopes::text, rate_limit_per_minute, active, expires_at, created_at, revoked_at, last_used_at, key_hash
        """

    /// Creates a key.
    /// - Returns: The stored key and its text — the only time the text exists outside the caller.
    /// - Throws: `invalid_value` naming the field.
    public func create(_ newKey: NewKey) async throws -> (key: APIKey, secret: String) {
        try newKey.validate()
        for _ in 0..<3 {
            let (text, prefix) = APIKey.generate()
            let scopes = String(decoding: try JSONEncoder.api().encode(newKey.scopes), as: UTF8.self)
            do {
                let rows = try await pool.query(
                    """
                    INSERT INTO strata.api_keys (name, prefix, key_hash, permissions, scopes, rate_limit_per_minute, expires_at)
                    VALUES (\(newKey.name), \(prefix), \(Data(APIKey.hash(text))), \(Array(Set(newKey.permissions)).sorted()), \(scopes)::jsonb,
                            \(newKey.rateLimitPerMinute), \(newKey.expiresAt))
                    RETURNING \(unescaped: Self.columns)
                    """
                )
                guard let row = rows.first else { break }
                return (try Self.key(row), text)
            } catch let error as StrataError where error.code == .conflict {
                continue  // a prefix collision (1 in 2^47): draw again
            }
        }
        throw StrataError(.internalError, "Could not create a key.")
    }

    /// Every key, newest first (revoked ones included).
    public func list() async throws -> [APIKey] {
        try await pool.query("SELECT \(unescaped: Self.columns) FROM strata.api_keys ORDER BY created_at DESC").map(Self.key)
    }

    /// The key with this prefix, usable or not.
    public func find(prefix: String) async throws -> APIKey? {
        try await pool.query("SELECT \(unescaped: Self.columns) FROM strata.api_keys WHERE prefix = \(prefix)").first.map(Self.key)
    }

    /// Revokes a key given by id or prefix.
    /// - Returns: The revoked key, or `nil` when none matches.
    @discardableResult
    public func revoke(_ idOrPrefix: String) async throws -> APIKey? {
        let id = UUID(uuidString: idOrPrefix)
        let rows = try await pool.query(
            """
            UPDATE strata.api_keys SET active = false, revoked_at = coalesce(revoked_at, now())
            WHERE id = \(id) OR prefix = \(idOrPrefix)
            RETURNING \(unescaped: Self.columns)
            """
        )
        return try rows.first.map(Self.key)
    }

    /// Records that keys were used (one statement for many keys).
    public func recordUse(of ids: [UUID], at time: Date = Date()) async throws {
        guard !ids.isEmpty else { return }
        try await pool.query(
            "UPDATE strata.api_keys SET last_used_at = greatest(last_used_at, \(time)) WHERE id = ANY(\(ids))"
        )
    }

    static func key(_ row: PostgresRow) throws -> APIKey {
        let (id, name, prefix, permissions, scopesText, rateLimit, active, expiresAt, createdAt, revokedAt, lastUsedAt, keyHash) = try row.decode(
            (UUID, String, String, [String], String, Int, Bool, Date?, Date, Date?, Date?, Data).self
        )
        let scopes = (try? JSONDecoder.api().decode([String: [String]].self, from: Data(scopesText.utf8))) ?? [:]
        return APIKey(
            id: id,
            name: name,
            prefix: prefix,
            permissions: permissions,
            scopes: scopes,
            rateLimitPerMinute: rateLimit,
            active: active,
            expiresAt: expiresAt,
            createdAt: createdAt,
            revokedAt: revokedAt,
            lastUsedAt: lastUsedAt,
            keyHash: Array(keyHash)
        )
    }
}
