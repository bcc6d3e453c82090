import Crypto
import Foundation
public import PostgresNIO
import StrataCore

/// `strata.idempotency_keys`: the first response to a request with an `Idempotency-Key`, stored
/// in the transaction of the change it answers, and replayed to retries.
public struct IdempotencyStore: Sendable {
    public let pool: PostgresPool

    public init(pool: PostgresPool) {
        self.pool = pool
    }

    /// Who, where and what: the scope of one key.
    public struct Scope: Sendable, Equatable {
        public var principal: String
        public var route: String
        public var key: String

        public init(principal: String, route: String, key: String) {
            self.principal = principal
            self.route = route
            self.key = key
        }
    }

    /// A remembered response.
    public struct StoredResponse: Sendable, Equatable {
        public var status: Int
        public var headers: [String: String]
        public var body: [UInt8]

        public init(status: Int, headers: [String: String], body: [UInt8]) {
            self.status = status
            self.headers = headers
            self.body = body
        }
    }

    /// What to do with a request carrying a key.
    public enum Outcome: Sendable, Equatable {
        /// First time (or the first attempt did not commit): run it, then
        /// ``remember(_:fingerprint:response:on:)`` in the same transaction.
        case proceed
        /// Seen and answered: send this again.
        case replay(StoredResponse)
    }

    /// The SHA-256 of what a request asks besides its route: its query string, its
    /// `Content-Type` and its body (a retry must repeat all three).
    public static func fingerprint(query: String?, contentType: String?, body: some Sequence<UInt8>) -> [UInt8] {
        var hasher = SHA256()
        hasher.update(data: Array((query ?? "").utf8) + [0] + Array((contentType ?? "").utf8) + [0])
        hasher.update(data: Array(body))
        return Array(hasher.finalize())
    }

    /// The first half of the advisory lock key of idempotency keys (`'IDMP'`), so that they
    /// never meet other advisory locks.
    static let lockClass: Int32 = 0x4944_4D50

    /// Called in the request's transaction (see ``PostgresPool/withEnclosingTransaction(_:)``):
    /// locks the key for the transaction and says whether to run the request or replay its
    /// stored response. Nothing is written: a request that does not commit leaves no trace, so
    /// a retry after a crash runs again.
    /// - Throws: `idempotency_key_reused` (422) when the key came with a different request (query, Content-Type or body);
    ///   `idempotency_in_flight` (409) while a request with the key runs.
    public func claim(_ scope: Scope, fingerprint: [UInt8], on connection: PostgresConnection) async throws -> Outcome {
        let logger = pool.statementLogger
        let lockName = "\(scope.principal)\n\(scope.route)\n\(scope.key)"
        let locked = try await connection.run(
            "SELECT pg_try_advisory_xact_lock(\(Self.lockClass), hashtext(\(lockName)))",
            logger: logger
        ).collect().first?.decode(Bool.self)
        guard locked == true else {
            throw StrataError(.idempotencyInFlight, "A request with this Idempotency-Key is still being processed; retry shortly.")
        }
        let rows = try await connection.run(
            """
            SELECT fingerprint, expires_at > now(), status, headers::text, body
            FROM strata.idempotency_keys
            WHERE principal = \(scope.principal) AND route = \(scope.route) AND key = \(scope.key)
            """,
            logger: logger
        ).collect()
        guard let row = rows.first else { return .proceed }
        let (stored, current, status, headers, body) = try row.decode((Data, Bool, Int16, String, Data).self)
        guard current else { return .proceed }  // expired: remember() replaces it
        guard Array(stored) == fingerprint else {
            throw StrataError(
                .idempotencyKeyReused,
                "This Idempotency-Key was used with a different request; use a new key for a new request."
            )
        }
        let decoded = (try? JSONDecoder.api().decode([String: String].self, from: Data(headers.utf8))) ?? [:]
        return .replay(StoredResponse(status: Int(status), headers: decoded, body: Array(body)))
    }

    /// Stores the response of a claimed key, in the request's transaction: it commits with the
    /// change it answers, or not at all.
    public func remember(_ scope: Scope, fingerprint: [UInt8], response: StoredResponse, on connection: PostgresConnection) async throws {
        let headers = String(decoding: try JSONEncoder.api().encode(response.headers), as: UTF8.self)
        try await connection.run(
            """
            INSERT INTO strata.idempotency_keys (principal, route, key, fingerprint, status, headers, body)
            VALUES (
                \(scope.principal), \(scope.route), \(scope.key), \(Data(fingerprint)),
                \(Int16(response.status)), \(headers)::jsonb, \(Data(response.body))
            )
            ON CONFLICT (principal, route, key) DO UPDATE
            SET fingerprint = EXCLUDED.fingerprint, status = EXCLUDED.status, headers = EXCLUDED.headers, body = EXCLUDED.body,
                created_at = now(), expires_at = now() + interval '24 hours'
            """,
            logger: pool.statementLogger
        )
    }

    /// Removes expired keys, at most `limit`.
    @discardableResult
    public func deleteExpired(limit: Int = 1000) async throws -> Int {
        let rows = try await pool.query(
            """
            WITH doomed AS (SELECT principal, route, key FROM strata.idempotency_keys WHERE expires_at < now() LIMIT \(limit)),
            deleted AS (
                DELETE FROM strata.idempotency_keys AS k USING doomed AS d
                WHERE k.principal = d.principal AND k.route = d.route AND k.key = d.key RETURNING 1
            )
            SELECT count(*) FROM deleted
            """
        )
        return Int(try rows.first?.decode(Int64.self) ?? 0)
    }
}
